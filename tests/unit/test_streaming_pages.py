"""What a viewer's browser gets for each join decision, and the pages' wording."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import ilmo_streaming
from ilmo_event_contracts import Language, LocalizedText
from ilmo_shared.i18n import untranslated
from ilmo_streaming import pages
from ilmo_streaming.api import join_response
from ilmo_streaming.domain import (
    Cancelled,
    Ended,
    EventStream,
    Gone,
    NotOpenYet,
    Redirect,
    Unknown,
)

STARTS = datetime(2026, 9, 18, 6, 0, tzinfo=UTC)  # Friday 9.00 in Helsinki (UTC+3)
STREAM = EventStream(
    event_id="ministry-seminar",
    revision=1,
    stream_url="https://stream.example.fi/seminar",
    starts_at=STARTS,
    ends_at=STARTS + timedelta(hours=3),
    timezone="Europe/Helsinki",
    title=LocalizedText(fi="Tekoäly hallinnossa", sv="AI i förvaltningen", en="AI in government"),
)


def test_times_are_written_in_the_events_time_zone_in_each_language() -> None:
    opens = STREAM.opens_at  # 5.30 UTC
    assert pages.local_time(opens, "Europe/Helsinki", Language.FI) == (
        "perjantaina 18.9.2026 klo 08.30 (Suomen aikaa)"
    )
    assert pages.local_time(opens, "Europe/Helsinki", Language.SV) == (
        "fredag 18.9.2026 kl. 08.30 (finsk tid)"
    )
    assert pages.local_time(opens, "Europe/Helsinki", Language.EN) == (
        "on Friday 18 September 2026 at 08:30 (Finnish time)"
    )
    # Winter time, another zone, and a zone nobody knows (shown in UTC).
    winter = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    assert "klo 09.00 (Suomen aikaa)" in pages.local_time(winter, "Europe/Helsinki", Language.FI)
    assert "at 08:00 (Sweden Time)" in pages.local_time(winter, "Europe/Stockholm", Language.EN)
    assert pages.local_time(winter, "Mars/Olympus", Language.EN).endswith("at 07:00 (UTC)")


def test_the_page_before_opening_says_when_in_three_languages() -> None:
    html = pages.render(pages.not_open_yet(STREAM))
    assert "Lähetys avautuu perjantaina 18.9.2026 klo 08.30 (Suomen aikaa)" in html
    assert "Sändningen öppnas fredag 18.9.2026 kl. 08.30" in html
    assert "The stream opens on Friday 18 September 2026 at 08:30" in html
    assert '<p lang="sv">' in html
    assert '<p lang="en">' in html
    assert "<h1>Tekoäly hallinnossa</h1>" in html


def test_everything_inserted_is_escaped() -> None:
    hostile = replace(
        STREAM, title=LocalizedText(fi="<script>alert('x')</script> & co"), timezone="<b>"
    )
    html = pages.render(pages.not_open_yet(hostile))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    assert "<b>" not in html


@pytest.mark.parametrize(
    "page",
    [
        pages.not_open_yet(STREAM),
        pages.ended(STREAM),
        pages.cancelled(STREAM),
        pages.revoked(),
        pages.not_found(),
        pages.unavailable(),
        pages.failed(),
    ],
)
def test_every_page_has_every_language(page: pages.Page) -> None:
    assert set(page.paragraphs) == {Language.FI, Language.SV, Language.EN}
    assert all(text.strip() for text in page.paragraphs.values())
    html = pages.render(page)
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta name="robots" content="noindex">' in html


def _common_headers(headers: dict[str, str]) -> None:
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-robots-tag"] == "noindex"


def test_an_open_link_redirects_to_the_stream_and_is_never_cached() -> None:
    response = join_response(Redirect(STREAM))
    assert response.status_code == 302
    assert response.headers["location"] == STREAM.stream_url
    _common_headers(dict(response.headers))


def test_before_opening_403_with_retry_after() -> None:
    response = join_response(NotOpenYet(STREAM, timedelta(minutes=10, seconds=1)))
    assert response.status_code == 403
    assert response.headers["retry-after"] == "601"
    assert response.headers["content-type"].startswith("text/html")
    assert "klo 08.30" in bytes(response.body).decode()
    _common_headers(dict(response.headers))


def test_after_the_end_403_without_retry_after() -> None:
    response = join_response(Ended(STREAM))
    assert response.status_code == 403
    assert "retry-after" not in response.headers
    assert "The stream has ended" in bytes(response.body).decode()
    _common_headers(dict(response.headers))


def test_revoked_410_and_unknown_404() -> None:
    gone = join_response(Gone("ministry-seminar"))
    assert gone.status_code == 410
    assert "revoked" in bytes(gone.body).decode()
    _common_headers(dict(gone.headers))
    missing = join_response(Unknown())
    assert missing.status_code == 404
    assert "not found" in bytes(missing.body).decode()
    _common_headers(dict(missing.headers))


def test_every_text_of_the_pages_has_a_finnish_and_a_swedish_translation() -> None:
    package = Path(ilmo_streaming.__file__).parent
    assert untranslated("ilmo_streaming", package) == {}


def test_each_paragraph_is_in_its_own_language_from_the_catalogues() -> None:
    html = pages.render(pages.revoked())
    assert "<title>Linkki on peruttu · Länken har återkallats · Link revoked</title>" in html
    assert '<p lang="fi">Tämä katselulinkki on peruttu' in html
    assert '<p lang="sv">Den här tittarlänken har återkallats' in html
    assert '<p lang="en">This viewing link was revoked' in html


def test_a_link_of_a_cancelled_event_is_410_with_a_page_that_says_so_in_three_languages() -> None:
    response = join_response(Cancelled(replace(STREAM, cancelled=True)))
    assert response.status_code == 410
    assert "retry-after" not in response.headers
    _common_headers(dict(response.headers))
    html = bytes(response.body).decode()
    assert "<h1>Tekoäly hallinnossa</h1>" in html
    assert (
        "<title>Tilaisuus on peruttu · Evenemanget har ställts in · Event cancelled</title>" in html
    )
    assert '<p lang="fi">Tämä tilaisuus on peruttu' in html
    assert '<p lang="sv">Det här evenemanget har ställts in' in html
    assert '<p lang="en">This event has been cancelled' in html

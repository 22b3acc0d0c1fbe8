"""The manage page and its error pages, rendered without I/O; link tokens."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from pydantic import SecretStr

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import Cancellation, Status
from ilmo_registration.pages import (
    ManagePage,
    back_to_page,
    cancel_step_page,
    error_page,
    event_started_page,
    manage_page,
    when,
)
from ilmo_registration.rendering import PAGE_HEADERS
from ilmo_registration.security import ManageLinks
from ilmo_shared.manage_links import manage_link_token

SECRET = "unit-test-manage-link-secret-7d3f91c2ab"
REGISTRATION_ID = "5f0c7a3e-9a43-4f7e-8a8e-2b1f3c4d5e6f"
HELSINKI_SUMMER = timezone(timedelta(hours=3))
START = datetime(2026, 9, 11, 6, 0, tzinfo=UTC)  # 9.00 in Helsinki
HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>&amp;'


def page(**changes: object) -> ManagePage:
    base = ManagePage(
        registration_id=REGISTRATION_ID,
        token=manage_link_token(SECRET, REGISTRATION_ID),
        language=Language.FI,
        first_name="Åsa",
        last_name="Öhman",
        event_title="Tekoäly hallinnossa",
        starts_at=START,
        ends_at=START + timedelta(hours=3),
        timezone="Europe/Helsinki",
        attendance=Attendance.IN_PERSON,
        venue_name="Ministeriön juhlasali",
        venue_address="Snellmaninkatu 1, Helsinki",
        status=Status.SEAT_RESERVED,
        waitlist_position=None,
        stream_link_url=None,
        cancellation=Cancellation.CANCEL,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Elements(HTMLParser):
    """The start tags of a page, with their attributes, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attributes for name, attributes in self.tags if name == tag]

    def links(self) -> list[str | None]:
        """The hrefs of the page's own content: not the skip link, the site's name or the
        calendar file (``calendar_links``)."""
        return [
            a["href"]
            for a in self.named("a")
            if a.get("href") not in ("#main", "/")
            and not str(a.get("href")).startswith("?")
            and "/calendar.ics?" not in str(a.get("href"))
        ]

    def calendar_links(self) -> list[str | None]:
        return [a["href"] for a in self.named("a") if "/calendar.ics?" in str(a.get("href"))]


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_hostile_titles_names_and_places_are_shown_as_text() -> None:
    html = manage_page(
        page(
            event_title=HOSTILE,
            first_name=HOSTILE,
            last_name="</dd><form action=https://evil.example>",
            venue_name=HOSTILE,
            venue_address="'; --",
            stream_link_url='https://stream.example.fi/watch/a"onmouseover="alert(1)',
        )
    )
    elements = Elements(html)
    assert elements.named("script") == []
    assert elements.named("img") == []
    assert [f["action"] for f in elements.named("form")] == [f"{REGISTRATION_ID}/cancel"]
    assert all("onmouseover" not in attributes for _, attributes in elements.tags)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&amp;amp;" in html  # an entity in the input is shown, not decoded
    assert "&lt;/dd&gt;&lt;form action=https://evil.example&gt;" in html
    assert "&#39;; --" in html
    assert elements.links() == ['https://stream.example.fi/watch/a"onmouseover="alert(1)']


def test_the_calendar_file_is_offered_until_the_registration_is_cancelled() -> None:
    active = Elements(manage_page(page()))
    [link] = active.calendar_links()
    assert link is not None
    assert link.startswith(f"{REGISTRATION_ID}/calendar.ics?token=")
    cancelled = Elements(manage_page(page(status=Status.CANCELLED)))
    assert cancelled.calendar_links() == []


def test_only_web_addresses_become_links() -> None:
    for url in ("javascript:alert(1)", "data:text/html,hi", "//evil.example/x", "stream"):
        html = manage_page(page(stream_link_url=url, attendance=Attendance.REMOTE))
        assert Elements(html).links() == [], url
        assert url not in html
    html = manage_page(page(stream_link_url="https://stream.example.fi/watch/abc"))
    assert Elements(html).links() == ["https://stream.example.fi/watch/abc"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.FI, "perjantai 11.9.2026 klo 9.00\u201312.00 (Suomen aikaa)"),
        (Language.SV, "fredag 11.9.2026 kl. 9.00\u201312.00 (finsk tid)"),
        (Language.EN, "Friday 11 September 2026, 9:00\u201312:00 (Finnish time)"),
    ],
)
def test_date_and_time_are_in_the_events_zone_and_the_registrants_language(
    language: Language, expected: str
) -> None:
    assert when(START, START + timedelta(hours=3), "Europe/Helsinki", language) == expected
    # The same instants given with another offset read the same.
    shifted = START.astimezone(timezone(timedelta(hours=-5)))
    assert when(shifted, shifted + timedelta(hours=3), "Europe/Helsinki", language) == expected
    assert expected in manage_page(page(language=language))


def test_an_event_over_several_days_shows_both_dates() -> None:
    text = when(START, START + timedelta(days=1), "Europe/Helsinki", Language.FI)
    assert text == "perjantai 11.9.2026 klo 9.00 \u2013 lauantai 12.9.2026 klo 9.00 (Suomen aikaa)"
    winter = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    assert when(winter, winter + timedelta(hours=1), "Europe/Helsinki", Language.EN) == (
        "Friday 4 December 2026, 9:00\u201310:00 (Finnish time)"
    )


CANCEL_BUTTONS = {
    Language.FI: "Peru ilmoittautuminen",
    Language.SV: "Annullera anmälan",
    Language.EN: "Cancel my registration",
}


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (Language.FI, ("Ilmoittautumisesi", "Paikan päällä", "Peru ilmoittautuminen")),
        (Language.SV, ("Din anmälan", "På plats", "Annullera anmälan")),
        (Language.EN, ("Your registration", "On site", "Cancel my registration")),
    ],
)
def test_the_page_speaks_the_registrants_language(
    language: Language, words: tuple[str, ...]
) -> None:
    html = manage_page(page(language=language))
    assert f'<html lang="{language.value}">' in html
    text = visible_text(html)
    for word in words:
        assert word in text
    for other, button in CANCEL_BUTTONS.items():
        if other is not language:
            assert button not in text


STATUSES = {
    Language.FI: {
        Status.ACCEPTED: "Ilmoittautumisesi on vastaanotettu, ja sitä käsitellään.",
        Status.SEAT_RESERVED: "Sinulle on varattu paikka.",
        Status.REMOTE: "Osallistut etänä; henkilökohtainen katselulinkkisi on valmis.",
        Status.CANCELLED: "Ilmoittautumisesi on peruttu.",
        Status.WAITLISTED: "Olet varasijalla, jonossa sijalla 3.",
    },
    Language.SV: {
        Status.ACCEPTED: "Din anmälan har tagits emot och behandlas.",
        Status.SEAT_RESERVED: "En plats är reserverad för dig.",
        Status.REMOTE: "Du deltar på distans; din personliga länk till sändningen är klar.",
        Status.CANCELLED: "Din anmälan har annullerats.",
        Status.WAITLISTED: "Du står på reservlistan, som nummer 3 i kön.",
    },
    Language.EN: {
        Status.ACCEPTED: "Your registration has been received and is being processed.",
        Status.SEAT_RESERVED: "A seat is reserved for you.",
        Status.REMOTE: "You are attending remotely; your personal stream link is ready.",
        Status.CANCELLED: "Your registration has been cancelled.",
        Status.WAITLISTED: "You are on the waiting list, number 3 in line.",
    },
}
STREAM_LINK = {
    Language.FI: "Henkilökohtainen katselulinkkisi",
    Language.SV: "Din personliga länk till sändningen",
    Language.EN: "Your personal stream link",
}


@pytest.mark.parametrize("language", list(Language))
def test_each_status_is_shown_as_the_api_reports_it(language: Language) -> None:
    for status, words in STATUSES[language].items():
        html = manage_page(page(language=language, status=status, waitlist_position=3))
        assert words in visible_text(html), status
    remote = manage_page(
        page(
            language=language,
            status=Status.REMOTE,
            attendance=Attendance.REMOTE,
            venue_name=None,
            venue_address=None,
            stream_link_url="https://stream.example.fi/watch/abc",
        )
    )
    assert STREAM_LINK[language] in remote
    assert "Ministeriön juhlasali" not in visible_text(remote)


def test_the_page_shows_everything_held_about_the_registrant() -> None:
    given = START - timedelta(days=20)
    html = manage_page(
        page(
            language=Language.EN,
            email="asa.ohman@example.fi",
            organisation="Esimerkkikunta",
            registrant_language=Language.SV,
            needs="Hörslinga",
            registered_at=given,
            consent_given_at=given,
            notice_version="0123456789abcdef",
            notice_shown_at=given,
        )
    )
    text = visible_text(html)
    for shown in (
        "Åsa Öhman",
        "asa.ohman@example.fi",
        "Esimerkkikunta",
        "Swedish",
        "Hörslinga",
        "Given Sat 22 August 2026, 9:00 (Finnish time)",
        "Version 0123456789abcdef",
        "Registered",
    ):
        assert shown in text, shown
    assert "<dl" in html


def test_the_cancel_button_is_there_only_while_cancelling_is_possible() -> None:
    token = manage_link_token(SECRET, REGISTRATION_ID)
    open_form = Elements(manage_page(page()))
    [form] = open_form.named("form")
    # A step that asks to be sure comes first: the button opens it (GET), changing nothing.
    assert form == {"method": "get", "action": f"{REGISTRATION_ID}/cancel"}
    assert {"type": "hidden", "name": "token", "value": token} in open_form.named("input")
    assert [b.get("type") for b in open_form.named("button")] == ["submit"]

    cancelled = manage_page(
        page(status=Status.CANCELLED, cancellation=Cancellation.ALREADY_CANCELLED)
    )
    assert "<form" not in cancelled
    started = manage_page(page(cancellation=Cancellation.EVENT_STARTED))
    assert "<form" not in started
    assert "Tilaisuus on jo alkanut" in started


def test_the_cancel_step_says_what_cancelling_means_and_posts_the_token() -> None:
    token = manage_link_token(SECRET, REGISTRATION_ID)
    html = cancel_step_page(page(language=Language.EN, status=Status.WAITLISTED))
    text = visible_text(html)
    assert "Do you want to cancel your registration?" in text
    assert "you lose your place on the waiting list" in text
    elements = Elements(html)
    [form] = elements.named("form")
    assert form == {"method": "post", "action": "cancel"}
    assert {"type": "hidden", "name": "token", "value": token} in elements.named("input")
    assert f"../{REGISTRATION_ID}?token={token}" in elements.links()
    seat = visible_text(cancel_step_page(page(language=Language.FI)))
    assert "paikkasi annetaan seuraavalle varasijalla olevalle" in seat


def test_the_event_started_page_leads_back_to_the_manage_page() -> None:
    html = event_started_page(Language.SV, REGISTRATION_ID, "tok-en_1")
    assert "Evenemanget har redan börjat" in html
    assert Elements(html).links() == [f"../{REGISTRATION_ID}?token=tok-en_1"]
    assert back_to_page(REGISTRATION_ID, "a&b") == f"../{REGISTRATION_ID}?token=a%26b"
    assert (
        back_to_page(REGISTRATION_ID, "ab", Language.SV) == f"../{REGISTRATION_ID}?token=ab&lang=sv"
    )


def test_the_not_found_page_is_one_page_in_three_languages() -> None:
    html = error_page(404)
    assert html == error_page(404)
    assert REGISTRATION_ID not in html
    for words in ("Sivua ei löytynyt", "Sidan hittades inte", "Page not found"):
        assert words in html
    assert {attributes["lang"] for attributes in Elements(html).named("section")} == {
        "fi",
        "sv",
        "en",
    }
    assert "Traceback" not in error_page(500)
    assert "Page not found" not in error_page(500)


def test_pages_are_not_cached_indexed_or_leaked_and_run_no_script() -> None:
    assert PAGE_HEADERS["Cache-Control"] == "no-store"
    assert PAGE_HEADERS["Referrer-Policy"] == "no-referrer"
    assert PAGE_HEADERS["X-Robots-Tag"].startswith("noindex")
    policy = PAGE_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "style-src 'self';" in policy  # the one stylesheet, no inline style
    assert "form-action 'self'" in policy
    for html in (manage_page(page()), error_page(404)):
        assert "<script" not in html
        assert "<style" not in html
        assert "style=" not in html


def test_link_tokens_are_checked_for_their_registration_only() -> None:
    links = ManageLinks(SecretStr(SECRET))
    token = manage_link_token(SECRET, REGISTRATION_ID)
    assert links.matches(REGISTRATION_ID, token)
    other_id = "00000000-0000-4000-8000-000000000000"
    assert not links.matches(other_id, token)
    assert not links.matches(
        REGISTRATION_ID, manage_link_token("another-secret" * 3, REGISTRATION_ID)
    )
    for wrong in (None, "", token[:-1], token + "A", "é" * 43, "x" * 10_000, token.upper()):
        assert not links.matches(REGISTRATION_ID, wrong), wrong


def test_the_confirmation_page_is_a_button_in_the_visitors_language() -> None:
    from ilmo_registration.pages import (
        confirm_page,
        confirmation_closed_page,
        confirmation_expired_page,
    )

    html = confirm_page("5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60", 'tok"<en>', Language.SV)
    # The markup that tests.support.confirmation (and the chaos run) follows.
    assert '<form method="post" action="5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60">' in html
    assert '<input type="hidden" name="token" value="tok&#34;&lt;en&gt;">' in html
    assert "<script" not in html
    assert '<html lang="sv">' in html
    assert "Bekräfta anmälan" in html
    assert "Confirm my registration" not in html
    assert "Vahvista ilmoittautuminen" in confirm_page("x", "t", Language.FI)
    assert "The link has expired" in confirmation_expired_page()
    assert "Ilmoittautuminen on päättynyt" in confirmation_closed_page()

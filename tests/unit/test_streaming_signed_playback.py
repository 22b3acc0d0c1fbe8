"""Closed streams: which links get signed playback, what the URL is bound to, and for how long.

That nginx accepts the URLs and refuses tampered, expired and foreign ones
is proved against a real origin in tests/integration/test_hls_origin.py; the
whole way from an emailed link to the video and its revocation in
tests/e2e/test_signed_playback.py.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from ilmo_event_contracts import LocalizedText, StreamPlayback
from ilmo_streaming.api import join_response, renewal_response
from ilmo_streaming.domain import (
    EventStream,
    Gone,
    JoinOutcome,
    LinkState,
    NotOpenYet,
    Play,
    Redirect,
    StreamLink,
    decide_join,
)
from ilmo_streaming.playback import SecureLinkSigner, path_at_origin, signed_until
from ilmo_streaming.tokens import LinkTokens
from ilmo_streaming.usecases import LinkQueries, PlaybackUnavailableError, SignedPlayback

ORIGIN = "https://stream.example.fi/hls"
SECRET = "s" * 40
STARTS = datetime(2026, 9, 18, 6, 0, tzinfo=UTC)
RID = uuid.UUID("0e3a3c55-91a4-4f0c-8f0e-4cf1d9b1e6a2")
CLOSED = EventStream(
    event_id="closed-briefing",
    revision=1,
    stream_url=f"{ORIGIN}/briefing/index.m3u8",
    starts_at=STARTS,
    ends_at=STARTS + timedelta(hours=2),
    timezone="Europe/Helsinki",
    title=LocalizedText(fi="Suljettu tiedotustilaisuus"),
    playback=StreamPlayback.SIGNED_HLS,
)
LINK = StreamLink(
    registration_id=RID,
    event_id=CLOSED.event_id,
    state=LinkState.PROVISIONED,
    changed_at=STARTS - timedelta(days=1),
    provisioned_at=STARTS - timedelta(days=1),
)


def queries(
    now: datetime, *, signer: SecureLinkSigner | None = None, lifetime: timedelta | None = None
) -> LinkQueries:
    # ``sign`` reads no store: the stores are never touched here.
    return LinkQueries(
        tokens=LinkTokens("t" * 40),
        links=cast(Any, None),
        streams=cast(Any, None),
        clock=lambda: now,
        signer=signer if signer is not None else SecureLinkSigner(ORIGIN, SECRET, "k1"),
        playback_lifetime=lifetime or timedelta(minutes=15),
    )


def test_an_open_link_of_a_closed_stream_plays_signed_and_a_public_one_redirects() -> None:
    assert decide_join(LINK, CLOSED, STARTS) == Play(CLOSED, RID)
    public = replace(CLOSED, playback=StreamPlayback.REDIRECT)
    assert decide_join(LINK, public, STARTS) == Redirect(public)


def test_a_revoked_or_early_link_of_a_closed_stream_gets_no_playback() -> None:
    revoked = replace(LINK, state=LinkState.REVOKED, revoked_at=STARTS)
    assert decide_join(revoked, CLOSED, STARTS) == Gone(CLOSED.event_id)
    early = decide_join(LINK, CLOSED, CLOSED.opens_at - timedelta(seconds=1))
    assert isinstance(early, NotOpenYet)


def test_the_signed_url_is_bound_to_the_link_and_lives_the_configured_time() -> None:
    now = STARTS
    signed = queries(now).sign(Play(CLOSED, RID))
    parts = urlsplit(signed.playlist_url).path.split("/")
    # /hls/<key id>/<md5>/<expires>/<holder>/<stream>/<file>
    assert parts[2] == "k1"
    assert int(parts[4]) == int((now + timedelta(minutes=15)).timestamp())
    assert parts[5] == LinkTokens("t" * 40).holder_of(RID)
    assert parts[6:] == ["briefing", "index.m3u8"]
    assert signed.expires_at == now + timedelta(minutes=15)
    assert signed.renew_after_seconds == 450
    other = queries(now).sign(Play(CLOSED, uuid.uuid4()))
    assert urlsplit(other.playlist_url).path.split("/")[5] != parts[5]


def test_a_signed_url_never_outlives_the_links_window() -> None:
    near_close = CLOSED.closes_at - timedelta(minutes=4)
    signed = queries(near_close).sign(Play(CLOSED, RID))
    assert signed.expires_at == CLOSED.closes_at
    assert signed.renew_after_seconds == 120
    assert signed_until(STARTS, STARTS + timedelta(hours=1), timedelta(hours=2)) == (
        STARTS + timedelta(hours=1)
    )


def test_the_holder_says_nothing_of_the_token_or_the_registration() -> None:
    tokens = LinkTokens("t" * 40)
    holder = tokens.holder_of(RID)
    assert len(holder) == 16
    assert holder == tokens.holder_of(RID)
    assert holder not in tokens.token_for(RID)
    assert holder not in RID.hex
    assert LinkTokens("u" * 40).holder_of(RID) != holder


@pytest.mark.parametrize(
    ("stream_url", "path"),
    [
        (f"{ORIGIN}/briefing/index.m3u8", "briefing/index.m3u8"),
        (f"{ORIGIN}/briefing/720p/index.m3u8", "briefing/720p/index.m3u8"),
        ("https://elsewhere.example.fi/hls/briefing/index.m3u8", None),
        (f"{ORIGIN}-other/briefing/index.m3u8", None),
        (f"{ORIGIN}/briefing", None),
        (f"{ORIGIN}/../briefing/index.m3u8", None),
        (f"{ORIGIN}/briefing/index.m3u8?x=1", None),
    ],
)
def test_only_a_stream_at_the_origin_is_signed(stream_url: str, path: str | None) -> None:
    assert path_at_origin(stream_url, ORIGIN) == path
    assert path_at_origin(stream_url, f"{ORIGIN}/") == path


def test_without_a_key_or_with_a_stream_elsewhere_playback_is_unavailable() -> None:
    unsigned = LinkQueries(
        tokens=LinkTokens("t" * 40),
        links=cast(Any, None),
        streams=cast(Any, None),
        clock=lambda: STARTS,
    )
    with pytest.raises(PlaybackUnavailableError, match="key"):
        unsigned.sign(Play(CLOSED, RID))
    elsewhere = replace(CLOSED, stream_url="https://cdn.example.com/briefing/index.m3u8")
    with pytest.raises(PlaybackUnavailableError, match="origin"):
        queries(STARTS).sign(Play(elsewhere, RID))
    # A viewer then gets the service's "try again" page, never the unsigned stream.
    assert join_response(Play(CLOSED, RID), None).status_code == 503


def test_the_link_redirects_to_the_signed_url_and_the_renewal_answers_a_new_one() -> None:
    signed = SignedPlayback("https://stream.example.fi/hls/k1/x/1/h/b/index.m3u8", STARTS, 30)
    redirect = join_response(Play(CLOSED, RID), signed)
    assert redirect.status_code == 302
    assert redirect.headers["location"] == signed.playlist_url
    assert redirect.headers["cache-control"] == "no-store"
    renewal = renewal_response(Play(CLOSED, RID), signed)
    assert renewal.status_code == 200
    assert renewal.headers["cache-control"] == "no-store"
    assert json.loads(bytes(renewal.body)) == {
        "playlist_url": signed.playlist_url,
        "expires_at": STARTS.isoformat(),
        "renew_after_seconds": 30,
    }


@pytest.mark.parametrize(
    ("decision", "status", "outcome"),
    [
        (Gone("closed-briefing"), 410, JoinOutcome.REVOKED),
        (NotOpenYet(CLOSED, timedelta(seconds=90)), 403, JoinOutcome.NOT_OPEN_YET),
        (Redirect(replace(CLOSED, playback=StreamPlayback.REDIRECT)), 404, JoinOutcome.REDIRECTED),
    ],
)
def test_a_renewal_that_gets_no_url_says_why_in_the_links_own_status(
    decision: Gone | NotOpenYet | Redirect, status: int, outcome: JoinOutcome
) -> None:
    response = renewal_response(decision, None)
    assert response.status_code == status
    assert json.loads(bytes(response.body)) == {"outcome": outcome.value}
    if isinstance(decision, NotOpenYet):
        assert response.headers["retry-after"] == "90"


def test_the_emailed_link_of_a_closed_stream_opens_the_player_page_under_its_own_policy() -> None:
    signed = SignedPlayback("https://stream.example.fi/hls/k1/x/1/h/b/index.m3u8", STARTS, 30)
    page = join_response(Play(CLOSED, RID), signed, "t0ken/playback")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "https://stream.example.fi" in policy
    body = bytes(page.body).decode()
    assert 'data-renewal-url="t0ken/playback"' in body
    assert "Suljettu tiedotustilaisuus" in body

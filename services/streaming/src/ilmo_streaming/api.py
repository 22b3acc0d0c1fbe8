"""The streaming service's HTTP side: personal links, and link counts for operators.

``GET /watch/{token}`` answers a viewer's browser:

- 302 to the event's stream while the link's window is open; for a closed
  stream (``stream_playback: signed_hls``), 200 with the player page
  (``player``), which plays a playlist URL signed for this link that
  expires after ``ILMO_PLAYBACK_URL_SECONDS`` (never after the window) and
  renews it, or 503 if this service cannot sign it;
- 403 with a short page saying when it opens (and ``Retry-After``), or that
  it has ended;
- 410 for a link of a cancelled event (a page saying the event was
  cancelled) and for a revoked link, 404 for anything else (unknown,
  tampered, never provisioned);
- 503 with ``Retry-After`` while the database does not answer.

A redirect is a join: the link's first and last join are recorded, the
first announced as ``stream.joined`` (``LinkQueries.join``).

A closed stream's player keeps its signed URL fresh (docs/security.md,
"Revocation reaches the video"): ``GET /watch/{token}/playback`` answers JSON,
a new signed URL while the link works (200), and the same statuses as the
link otherwise. A cancelled registrant's renewal gets 410, so their player
stops when the URL it holds expires. ``GET /watch/{token}/playlist.m3u8``
redirects to a fresh signed playlist, for players of one's own (they do not
renew: they are sent back to the link when the URL expires).

Every answer is ``Cache-Control: no-store`` (a cached redirect would outlive
a revocation) and ``Referrer-Policy: no-referrer``, and every attempt is
counted by outcome and event. Nothing from the request, the token least of
all, is logged, counted or echoed back. Requests under ``/watch/`` that fail
before the route answers (another method, a longer path) get the same kind
of page (``WATCH_PAGES``), not problem details: a person reads them.

The operators' JSON API (``operator_router``) is served on the operations
listener only and answers errors as problem details.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError

from ilmo_shared.http.problems import PageErrors, Problem, ProblemRoute, problem_responses
from ilmo_shared.i18n import _
from ilmo_streaming import CATALOGUE, pages
from ilmo_streaming.domain import (
    Cancelled,
    Ended,
    Gone,
    JoinDecision,
    JoinOutcome,
    NotOpenYet,
    Play,
    Redirect,
    Unknown,
)
from ilmo_streaming.metrics import JOINS, joins_of
from ilmo_streaming.player import PlayerView, content_security_policy
from ilmo_streaming.player import render as render_player
from ilmo_streaming.usecases import LinkQueries, PlaybackUnavailableError, SignedPlayback

UNAVAILABLE_RETRY_SECONDS = 5
# For the metric's event label when the link tells no event.
NO_EVENT = "unknown"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}

log = structlog.get_logger(__name__)


def _page(page: pages.Page, status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(
        pages.render(page), status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )


def error_page(status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page for a request under ``/watch/`` that failed; it tells nothing but the status."""
    page = {404: pages.not_found, 503: pages.unavailable}.get(status, pages.failed)()
    return _page(page, status, headers)


WATCH_PAGES = PageErrors(("/watch/",), render=error_page)


def join_response(
    decision: JoinDecision, playback: SignedPlayback | None = None, renewal_url: str | None = None
) -> Response:
    """The HTTP answer to a join decision.

    For a ``Play``: ``playback`` is the URL signed for it; with
    ``renewal_url`` the answer is the player page that renews it there,
    without, a redirect to it (a player of one's own).
    """
    match decision:
        case Redirect():
            return RedirectResponse(decision.url, status_code=302, headers=SECURITY_HEADERS)
        case Play():
            if playback is None:
                return _unavailable()
            if renewal_url is None:
                return RedirectResponse(
                    playback.playlist_url, status_code=302, headers=SECURITY_HEADERS
                )
            return _player_page(decision, playback, renewal_url)
        case NotOpenYet():
            return _page(
                pages.not_open_yet(decision.stream),
                403,
                {"Retry-After": str(decision.retry_after_seconds)},
            )
        case Ended():
            return _page(pages.ended(decision.stream), 403)
        case Cancelled():
            return _page(pages.cancelled(decision.stream), 410)
        case Gone():
            return _page(pages.revoked(), 410)
        case Unknown():
            return _page(pages.not_found(), 404)


def _player_page(play: Play, playback: SignedPlayback, renewal_url: str) -> HTMLResponse:
    view = PlayerView(
        title=play.stream.title,
        playlist_url=playback.playlist_url,
        renewal_url=renewal_url,
        renew_after_seconds=playback.renew_after_seconds,
    )
    # The player's own policy: its scripts, its stylesheet's hash, the origin's video.
    policy = content_security_policy(playback.playlist_url)
    return HTMLResponse(
        render_player(view), headers={**SECURITY_HEADERS, "Content-Security-Policy": policy}
    )


def _unavailable() -> HTMLResponse:
    return _page(pages.unavailable(), 503, {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})


# The JSON answers of a renewal that gets no URL: the link's own status, and a word for the player.
_RENEWAL_REFUSED: Mapping[JoinOutcome, int] = {
    JoinOutcome.NOT_OPEN_YET: 403,
    JoinOutcome.ENDED: 403,
    JoinOutcome.CANCELLED: 410,
    JoinOutcome.REVOKED: 410,
    JoinOutcome.UNKNOWN: 404,
    # An open link of a public stream has no signed URL to renew.
    JoinOutcome.REDIRECTED: 404,
}


def renewal_response(decision: JoinDecision, playback: SignedPlayback | None) -> JSONResponse:
    """The JSON answer to a player renewing its signed URL."""
    if isinstance(decision, Play) and playback is not None:
        return JSONResponse(
            {
                "playlist_url": playback.playlist_url,
                "expires_at": playback.expires_at.isoformat(),
                "renew_after_seconds": playback.renew_after_seconds,
            },
            headers=SECURITY_HEADERS,
        )
    if isinstance(decision, Play):
        return _renewal_refused("unavailable", 503, UNAVAILABLE_RETRY_SECONDS)
    retry = decision.retry_after_seconds if isinstance(decision, NotOpenYet) else None
    return _renewal_refused(decision.outcome.value, _RENEWAL_REFUSED[decision.outcome], retry)


def _renewal_refused(outcome: str, status: int, retry_after: int | None = None) -> JSONResponse:
    headers = {**SECURITY_HEADERS, **({"Retry-After": str(retry_after)} if retry_after else {})}
    return JSONResponse({"outcome": outcome}, status_code=status, headers=headers)


def _event_label(decision: JoinDecision) -> str:
    match decision:
        case Redirect() | Play() | NotOpenYet() | Ended() | Cancelled():
            return decision.stream.event_id
        case Gone():
            return decision.event_id
        case Unknown():
            return decision.event_id or NO_EVENT


# What opening a link answers when it does not lead to the stream (documented per route).
LINK_REFUSALS: dict[int | str, dict[str, str]] = {
    403: {"description": "Not open yet (with Retry-After) or already ended."},
    404: {"description": "No such link."},
    410: {"description": "The event was cancelled, or the link was revoked."},
    503: {"description": "Temporarily unavailable; try again after Retry-After."},
}


def watch_router(queries: LinkQueries) -> APIRouter:
    router = APIRouter(tags=["viewers"], route_class=ProblemRoute)

    @router.get(
        "/watch/{token}",
        response_class=HTMLResponse,
        status_code=302,
        summary="Open a personal stream link",
        responses={
            200: {"description": "A closed stream's player page (signed HLS playback)."},
            302: {"description": "The link is valid and open: to the event's public stream."},
            **LINK_REFUSALS,
        },
    )
    async def watch(token: str) -> Response:
        # Relative to /watch/{token}: the page works behind any prefix.
        return await _open(queries, token, renewal_url=f"{quote(token, safe='')}/playback")

    @router.get(
        "/watch/{token}/playlist.m3u8",
        response_class=HTMLResponse,
        status_code=302,
        summary="Open a personal stream link in a player of one's own",
        responses={
            302: {"description": "To the stream: a signed playlist URL for a closed stream."},
            **LINK_REFUSALS,
        },
    )
    async def playlist(token: str) -> Response:
        return await _open(queries, token)

    @router.get(
        "/watch/{token}/playback",
        summary="Renew a closed stream's signed playback URL (the player page asks)",
        responses={
            200: {"description": "A new signed playlist URL, its expiry, when to renew."},
            **LINK_REFUSALS,
            404: {"description": "No such link, or the stream is not a closed one."},
        },
    )
    async def renew(token: str) -> JSONResponse:
        decision = await _decide(queries, token)
        if decision is None:
            return _renewal_refused("unavailable", 503, UNAVAILABLE_RETRY_SECONDS)
        outcome = JoinOutcome.RENEWED if isinstance(decision, Play) else decision.outcome
        JOINS.labels(outcome.value, _event_label(decision)).inc()
        return renewal_response(decision, _signed(queries, decision))

    return router


async def _open(queries: LinkQueries, token: str, renewal_url: str | None = None) -> Response:
    """A viewer opens the link: counted by outcome, answered as ``join_response`` says."""
    decision = await _decide(queries, token)
    if decision is None:
        return _unavailable()
    JOINS.labels(decision.outcome.value, _event_label(decision)).inc()
    return join_response(decision, _signed(queries, decision), renewal_url)


async def _decide(queries: LinkQueries, token: str) -> JoinDecision | None:
    """What the link gets now; None while the database does not answer."""
    try:
        return await queries.join(token)
    except PyMongoError as error:
        log.warning("stream_link_lookup_failed", error=type(error).__name__)
        JOINS.labels("unavailable", NO_EVENT).inc()
        return None


def _signed(queries: LinkQueries, decision: JoinDecision) -> SignedPlayback | None:
    """The signed URL a ``Play`` leads to; None (logged as an error) if it cannot be signed."""
    if not isinstance(decision, Play):
        return None
    try:
        return queries.sign(decision)
    except PlaybackUnavailableError as error:
        # The operators' or the organiser's to fix: every viewer of the event gets 503.
        log.error(
            "signed_playback_unavailable", event_id=decision.stream.event_id, reason=str(error)
        )
        return None


class LinkCounts(BaseModel):
    """How many personal links an event has, by state. No one's identity."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    provisioned: int = Field(ge=0, description="Links issued and working (in their window).")
    revoked: int = Field(ge=0, description="Links issued, then revoked by a cancellation.")
    pending: int = Field(ge=0, description="Entitled registrants waiting for the event's details.")
    watched: int = Field(
        default=0,
        ge=0,
        description="Links that led to the stream at least once (first join recorded), "
        "whatever their state now.",
    )
    opens_at: datetime | None = Field(description="When links open; null if the event is unknown.")
    closes_at: datetime | None = Field(description="When links close; null if unknown.")
    joins: int = Field(
        default=0,
        ge=0,
        description="Attempts to open a link of the event that got the stream, counted by this "
        "process since it started (ilmo_streaming_joins_total, outcomes redirected and signed).",
    )


def operator_router(queries: LinkQueries) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=ProblemRoute)

    @router.get(
        "/events/{event_id}/stream-links",
        response_model=LinkCounts,
        responses=problem_responses(_404="Streaming knows neither the event nor any link for it."),
        summary="Personal stream links of an event, counted by state",
    )
    async def stream_links(event_id: str) -> LinkCounts:
        overview = await queries.overview(event_id) if 0 < len(event_id) <= 100 else None
        if overview is None:
            raise Problem(
                404,
                "event-not-found",
                _("Event not found"),
                _("The streaming service knows no event with this id."),
                catalogue=CATALOGUE,
            )
        counts, stream = overview.counts, overview.stream
        return LinkCounts(
            event_id=event_id,
            provisioned=counts.provisioned,
            revoked=counts.revoked,
            pending=counts.pending,
            watched=counts.watched,
            opens_at=stream.opens_at if stream else None,
            closes_at=stream.closes_at if stream else None,
            joins=joins_of(event_id),
        )

    return router

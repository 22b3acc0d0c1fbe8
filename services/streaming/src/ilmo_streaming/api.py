"""The streaming service's HTTP side: personal links, and link counts for operators.

``GET /watch/{token}`` answers a viewer's browser:

- 302 to the event's stream while the link's window is open;
- 403 with a short page saying when it opens (and ``Retry-After``), or that
  it has ended;
- 410 for a link of a cancelled event (a page saying the event was
  cancelled) and for a revoked link, 404 for anything else (unknown,
  tampered, never provisioned);
- 503 with ``Retry-After`` while the database does not answer.

A redirect is a join: the link's first and last join are recorded, the
first announced as ``stream.joined`` (``LinkQueries.join``).

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

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, RedirectResponse
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
    NotOpenYet,
    Redirect,
    Unknown,
)
from ilmo_streaming.metrics import JOINS, joins_of
from ilmo_streaming.usecases import LinkQueries

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


def join_response(decision: JoinDecision) -> Response:
    """The HTTP answer to a join decision."""
    match decision:
        case Redirect():
            return RedirectResponse(decision.url, status_code=302, headers=SECURITY_HEADERS)
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


def _event_label(decision: JoinDecision) -> str:
    match decision:
        case Redirect() | NotOpenYet() | Ended() | Cancelled():
            return decision.stream.event_id
        case Gone():
            return decision.event_id
        case Unknown():
            return decision.event_id or NO_EVENT


def watch_router(queries: LinkQueries) -> APIRouter:
    router = APIRouter(tags=["viewers"], route_class=ProblemRoute)

    @router.get(
        "/watch/{token}",
        response_class=HTMLResponse,
        status_code=302,
        summary="Open a personal stream link",
        responses={
            302: {"description": "The link is valid and open: to the event's stream."},
            403: {"description": "Not open yet (with Retry-After) or already ended."},
            404: {"description": "No such link."},
            410: {"description": "The event was cancelled, or the link was revoked."},
            503: {"description": "Temporarily unavailable; try again after Retry-After."},
        },
    )
    async def watch(token: str) -> Response:
        try:
            decision = await queries.join(token)
        except PyMongoError as error:
            log.warning("stream_link_lookup_failed", error=type(error).__name__)
            JOINS.labels("unavailable", NO_EVENT).inc()
            return _page(pages.unavailable(), 503, {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})
        JOINS.labels(decision.outcome.value, _event_label(decision)).inc()
        return join_response(decision)

    return router


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
        "process since it started (the metric ilmo_streaming_joins_total{outcome=redirected}).",
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

"""The console's events screens: every event with its state, and the event form.

Thin adapters: each route reads the request, calls a use case
(``usecases.UseCases``: the same ones the JSON API calls) and renders a
template under ``templates/console/``. Reading needs ``READ_EVENTS``;
creating, changing, publishing and duplicating need ``CHANGE_EVENTS``.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Language
from ilmo_registration.console.pages import console_page, text
from ilmo_registration.console.session import ConsoleSessions
from ilmo_registration.event_views import summary
from ilmo_registration.page_language import of_request
from ilmo_registration.storage import StoredEvent
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


@dataclass(frozen=True)
class EventRow:
    """One line of the console's list of events."""

    id: str
    title: str
    when: str
    published: bool
    window: str


def event_row(stored: StoredEvent, now: datetime, language: Language) -> EventRow:
    shown = summary(stored, now, language)
    return EventRow(
        id=stored.id,
        title=shown.title,
        when=shown.when,
        published=stored.spec.published,
        window=shown.window.value,
    )


def events_router(usecases: UseCases, sessions: ConsoleSessions) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    reader = sessions.requires(Permission.READ_EVENTS)

    @router.get(
        "",
        response_class=HTMLResponse,
        summary="The console: every event, drafts too (HTML)",
        responses={200: HTML, 303: {"description": "Not signed in: to the sign-in."}},
    )
    async def list_events(request: Request, principal: Annotated[Principal, reader]) -> Response:
        language = of_request(request).language
        now = usecases.now()
        rows = [
            event_row(stored, now, language) for stored in await usecases.list_events(admin=True)
        ]
        return console_page(
            request,
            "console/events.html",
            title=text(request, _("Events")),
            section="events",
            events=rows,
            may_change=principal.may(Permission.CHANGE_EVENTS),
        )

    return router

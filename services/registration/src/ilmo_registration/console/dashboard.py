"""The console's dashboard of an event: registrations over time, and where everyone stands.

Counts only, no one's name: ``READ_COUNTS`` (organisers, viewers and
operators have it). Registrations come from this service's listing read
model; seats, mails and stream links from the other services' operations
listeners (``other_services``). A service that does not answer leaves its
figures out, and the page says which.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from collections import Counter
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_registration.attendance import attendance_figures
from ilmo_registration.catalogue import zone
from ilmo_registration.console.chart import chart, cumulative_by_day
from ilmo_registration.console.other_services import OtherServices
from ilmo_registration.console.pages import console_page, text
from ilmo_registration.console.registration_views import SERVICE_NAMES, figure_list
from ilmo_registration.console.registrations import MAIL_STATES, not_found_page
from ilmo_registration.console.session import ConsoleSessions
from ilmo_registration.domain import Refused
from ilmo_registration.page_language import of_request
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _
from ilmo_shared.localized_time import format_date

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def dashboard_router(
    usecases: UseCases, sessions: ConsoleSessions, services: OtherServices
) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    counter = sessions.requires(Permission.READ_COUNTS)

    @router.get(
        "/events/{event_id}/dashboard",
        response_class=HTMLResponse,
        summary="The console: an event's dashboard (HTML)",
        responses={200: HTML},
    )
    async def dashboard(
        request: Request, event_id: str, principal: Annotated[Principal, counter]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
            rows = await usecases.registration_rows(event_id)
        except Refused:
            return not_found_page(request)
        language = of_request(request).language
        where = zone(stored.spec.timezone)
        assert where is not None  # checked when the event was stored
        days = cumulative_by_day(rows, where)
        statuses = Counter(row.status for row in rows if not row.expired)
        figures = await services.figures(event_id)
        mail_states = (
            {state: figures.mails.state(state) for state in MAIL_STATES} if figures.mails else {}
        )
        return console_page(
            request,
            "console/dashboard.html",
            title=text(request, _("Dashboard")),
            section="events",
            event=stored,
            event_title=stored.spec.title.in_language(language),
            figures=figure_list(statuses, figures),
            missing=[text(request, SERVICE_NAMES[name]) for name in figures.missing],
            stream=figures.stream,
            mail_states=mail_states,
            mail_state_names=MAIL_STATES,
            days=days,
            chart=chart(days) if days else None,
            day_name=lambda day: format_date(datetime.combine(day, time()), language),
            may_list=principal.may(Permission.LIST_REGISTRATIONS),
            attendance=attendance_figures(rows),
        )

    return router

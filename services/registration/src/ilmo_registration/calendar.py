"""The registrant's calendar file, linked from the manage page.

``GET /manage/{id}/calendar.ics?token=…`` answers the registrant's entry for
the event (``ilmo_shared.calendar``), in their language: the venue in
person, the word that the stream link comes by mail (or the link, once it
has) remotely. It has the UID of the entries the mails attach, so opening
it updates the registrant's calendar rather than adding a second entry; a
cancelled registration's entry says CANCELLED, which removes it there.

The token is the manage link's, checked as the manage page checks it: a
wrong token and an unknown id get the same 404 page, an erased registration
410. The file is personal, so it is never stored by a cache.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from fastapi import APIRouter, Request, Response

from ilmo_event_contracts import Attendance
from ilmo_registration.manage import HTML, TOKEN_PARAMETER, follow
from ilmo_registration.rendering import PAGE_HEADERS
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.usecases import LinkedRegistration, UseCases
from ilmo_shared.calendar import (
    MEDIA_TYPE,
    calendar_domain,
    calendar_file,
    entry_uid,
    file_name,
    registrant_entry,
)
from ilmo_shared.http.problems import ProblemRoute

_CALENDAR = {"content": {"text/calendar": {"schema": {"type": "string"}}}}


def calendar_router(usecases: UseCases, settings: RegistrationSettings) -> APIRouter:
    router = APIRouter(prefix="/manage", tags=["manage pages"], route_class=ProblemRoute)
    domain = calendar_domain(str(settings.public_base_url))

    @router.get(
        "/{registration_id}/calendar.ics",
        summary="The registrant's calendar entry for the event (iCalendar)",
        description="The same entry (the same UID) as the mails attach, in the registrant's "
        "language. A wrong token and an unknown id get the same 404 page.",
        responses={
            200: {"description": "The calendar file.", **_CALENDAR},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"parameters": [TOKEN_PARAMETER]},
    )
    async def download_calendar(registration_id: str, request: Request) -> Response:
        linked = await follow(usecases, registration_id, request.query_params.get("token"))
        if isinstance(linked, Response):
            return linked
        return Response(
            _calendar_of(linked, domain, usecases),
            media_type=MEDIA_TYPE,
            headers={
                **PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="{file_name(linked.event.id)}"',
            },
        )

    return router


def _calendar_of(linked: LinkedRegistration, domain: str, usecases: UseCases) -> str:
    registration, event = linked.registration, linked.event
    registrant = registration.registrant
    state = registration.state
    remote = registrant.attendance is Attendance.REMOTE
    entry = registrant_entry(
        event.spec,
        uid=entry_uid(event.id, registration.id, domain),
        revision=event.revision,
        attendance=registrant.attendance,
        language=registrant.language,
        now=usecases.now(),
        stream_link=state.link.url if remote and state.stream_link_provisioned else None,
    )
    # The registration's cancellation or the event's: the entry (its SEQUENCE the
    # event's revision, which cancelling raised) replaces the earlier one as cancelled.
    if state.cancelled or event.spec.cancelled_at is not None:
        entry.add("status", "CANCELLED")
    return calendar_file(entry)

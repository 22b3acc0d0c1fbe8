"""Switching attendance from the manage page: ``POST /manage/{id}/attendance``.

The form (``templates/manage/attendance.html``) posts the link token and the
attendance wanted; the route calls the same use case as
``PUT /api/v1/registrations/{id}/attendance`` and leads back (303) to the
manage page, which shows the new state. A switch that is no longer possible
(registration closed, the event started, the registration cancelled) also
leads back: the page itself says why, so no separate error page is needed.
Like the manage page's other forms, this one needs no CSRF token of its own:
it posts the secret link token, which another site does not know.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance
from ilmo_registration.domain import (
    Erased,
    EventStarted,
    NotFound,
    NotSwitchable,
    RegistrationClosed,
)
from ilmo_registration.forms import FORM, form_fields
from ilmo_registration.manage import (
    HTML,
    MAX_FORM_BYTES,
    back_to_manage_page,
    chosen_language,
    gone_or_wrong,
)
from ilmo_registration.pages import error_page_response
from ilmo_registration.usecases import UseCases
from ilmo_shared.http.problems import ProblemRoute

SWITCH_FORM = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {
                    "token": {"type": "string"},
                    "attendance": {"type": "string", "enum": [a.value for a in Attendance]},
                },
                "required": ["token", "attendance"],
            }
        }
    },
}


def attendance_router(usecases: UseCases) -> APIRouter:
    router = APIRouter(prefix="/manage", tags=["manage pages"], route_class=ProblemRoute)

    @router.post(
        "/{registration_id}/attendance",
        response_class=HTMLResponse,
        status_code=303,
        summary="Switch attendance from the manage page (HTML form)",
        description="Switches as `PUT /api/v1/registrations/{id}/attendance` does, then "
        "redirects to the manage page, which shows the result or why a switch is no longer "
        "possible. Repeating it is harmless.",
        responses={
            303: {"description": "Back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"requestBody": SWITCH_FORM},
    )
    async def switch_from_page(registration_id: str, request: Request) -> Response:
        fields = await form_fields(request, MAX_FORM_BYTES) or {}
        token, wanted = fields.get("token"), fields.get("attendance", "")
        if token is None or wanted not in Attendance._value2member_map_:
            return error_page_response(404)
        try:
            await usecases.switch_attendance(registration_id, token, Attendance(wanted))
        except (NotFound, Erased) as refused:
            return gone_or_wrong(refused)
        except (NotSwitchable, RegistrationClosed, EventStarted):
            pass  # the manage page says why
        return back_to_manage_page(registration_id, token, chosen_language(fields))

    return router

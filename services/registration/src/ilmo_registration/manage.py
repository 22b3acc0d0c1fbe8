"""The manage page: where the link in a registrant's email leads.

``GET /manage/{id}?token=…`` shows the registration and its state in the
registrant's language, with a cancel form while cancelling is possible;
``POST /manage/{id}/cancel`` (form field ``token``) cancels exactly as
``DELETE /api/v1/registrations/{id}`` does and redirects (303) back to the
page; ``POST /manage/{id}/needs`` likewise withdraws the consent to process
the registrant's needs, which erases them. The token is the link token
(``ilmo_shared.manage_links``): it is checked before anything is read, so a
wrong token and an unknown id get the same 404 page in the same time. These
are HTML pages for people, not part of the JSON API's problem-details
contract: the routes call the same use cases as the API (``usecases``) and
answer what they refuse with a page.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance
from ilmo_registration.catalogue import shown_in_zone
from ilmo_registration.domain import Erased, EventStarted, NotFound
from ilmo_registration.pages import (
    PAGE_HEADERS,
    ManagePage,
    back_to_page,
    error_page_response,
    event_started_page,
    manage_page,
    page_response,
)
from ilmo_registration.usecases import LinkedRegistration, UseCases
from ilmo_shared.http.problems import ProblemRoute

FORM = "application/x-www-form-urlencoded"
# The form has one field of 43 characters; anything bigger is not this form.
MAX_FORM_BYTES = 4096

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_TOKEN_PARAMETER = {
    "name": "token",
    "in": "query",
    "required": True,
    "description": "The link token from the email (ilmo_shared.manage_links).",
    "schema": {"type": "string"},
}

# The body of the page's forms: the link token, nothing else.
TOKEN_FORM = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {"token": {"type": "string"}},
                "required": ["token"],
            }
        }
    },
}


def manage_router(usecases: UseCases) -> APIRouter:
    router = APIRouter(prefix="/manage", tags=["manage pages"], route_class=ProblemRoute)

    @router.get(
        "/{registration_id}",
        response_class=HTMLResponse,
        summary="The manage page behind the link in the registrant's emails (HTML)",
        description="The registration, its state and, until the event starts, a form that "
        "cancels it. A wrong token and an unknown id get the same 404 page.",
        responses={
            200: HTML,
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"parameters": [_TOKEN_PARAMETER]},
    )
    async def show_page(registration_id: str, request: Request) -> Response:
        token = request.query_params.get("token")
        if token is None:
            return error_page_response(404)
        try:
            linked = await usecases.follow_link(registration_id, token)
        except (NotFound, Erased) as refused:
            return _gone_or_wrong(refused)
        return page_response(200, manage_page(_page(linked, token)))

    @router.post(
        "/{registration_id}/cancel",
        response_class=HTMLResponse,
        status_code=303,
        summary="Cancel from the manage page (HTML form)",
        description="Cancels as `DELETE /api/v1/registrations/{id}` does, then redirects to the "
        "manage page. Repeating it is harmless.",
        responses={
            303: {"description": "Cancelled (or already cancelled); back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            409: {"description": "The event has started.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"requestBody": TOKEN_FORM},
    )
    async def cancel_from_page(registration_id: str, request: Request) -> Response:
        token = await form_token(request)
        if token is None:
            return error_page_response(404)
        try:
            registration = await usecases.linked(registration_id, token)
            await usecases.cancel(registration)
        except (NotFound, Erased) as refused:
            return _gone_or_wrong(refused)
        except EventStarted:
            language = registration.registrant.language
            return page_response(409, event_started_page(language, registration.id, token))
        return _back_to_page(registration.id, token)

    @router.post(
        "/{registration_id}/needs",
        response_class=HTMLResponse,
        status_code=303,
        summary="Withdraw the consent to process needs from the manage page (HTML form)",
        description="Erases the needs as `DELETE /api/v1/registrations/{id}/needs` does, then "
        "redirects to the manage page. Repeating it is harmless.",
        responses={
            303: {"description": "Withdrawn (or nothing to withdraw); back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"requestBody": TOKEN_FORM},
    )
    async def withdraw_from_page(registration_id: str, request: Request) -> Response:
        token = await form_token(request)
        if token is None:
            return error_page_response(404)
        try:
            registration = await usecases.linked(registration_id, token)
        except (NotFound, Erased) as refused:
            return _gone_or_wrong(refused)
        await usecases.withdraw_needs_consent(registration)
        return _back_to_page(registration.id, token)

    return router


def _gone_or_wrong(refused: NotFound | Erased) -> Response:
    """The page for a link to an erased registration (410), or a wrong link (404)."""
    return error_page_response(410 if isinstance(refused, Erased) else 404)


def _back_to_page(registration_id: str, token: str) -> Response:
    """After a form: back to the manage page (303), which shows what changed."""
    return Response(
        status_code=303,
        headers={"Location": back_to_page(registration_id, token), **PAGE_HEADERS},
    )


async def form_token(request: Request) -> str | None:
    """The ``token`` field of a small URL-encoded form, or None."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    except ValueError:
        return None
    values = fields.get("token")
    return values[0] if values else None


def _page(linked: LinkedRegistration, token: str) -> ManagePage:
    spec = shown_in_zone(linked.event.spec)
    registration = linked.registration
    state = registration.state
    registrant = registration.registrant
    in_person = registrant.attendance is Attendance.IN_PERSON
    return ManagePage(
        registration_id=registration.id,
        token=token,
        language=registrant.language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        event_title=spec.title.in_language(registrant.language),
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        timezone=spec.timezone,
        attendance=registrant.attendance,
        venue_name=spec.venue.name.in_language(registrant.language) if in_person else None,
        venue_address=spec.venue.address if in_person else None,
        status=state.status,
        waitlist_position=state.waitlist_position,
        stream_link_url=state.link.url if state.stream_link_provisioned else None,
        cancellation=linked.cancellation,
        needs=registrant.needs,
        needs_consent_withdrawn=(
            registration.needs_consent is not None
            and registration.needs_consent.withdrawn_at is not None
        ),
    )

"""The manage page: where the link in a registrant's email leads.

``GET /manage/{id}?token=…`` shows the registration, its state and
everything held about the registrant (GDPR Art. 15) in the registrant's
language, with a cancel button while cancelling is possible. The button
leads to ``GET /manage/{id}/cancel?token=…``, which says what cancelling
means and asks to be sure; its form posts ``POST /manage/{id}/cancel``
(form field ``token``), which cancels exactly as
``DELETE /api/v1/registrations/{id}`` does and redirects (303) back to the
page; ``POST /manage/{id}/needs`` likewise withdraws the consent to process
the registrant's needs, which erases them. The token is the link token
(``ilmo_shared.manage_links``): it is checked before anything is read, so a
wrong token and an unknown id get the same 404 page in the same time. The
token is also why these forms need no CSRF token of their own: every form
posts it, and another site does not know it. These are HTML pages for
people, not part of the JSON API's problem-details contract: the routes
call the same use cases as the API (``usecases``) and answer what they
refuse with a page.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.catalogue import shown_in_zone
from ilmo_registration.domain import Cancellation, Erased, EventStarted, NotFound
from ilmo_registration.event_views import paragraphs
from ilmo_registration.forms import FORM, form_fields
from ilmo_registration.page_language import PARAMETER, of_request, switcher
from ilmo_registration.pages import (
    Chrome,
    ManagePage,
    back_to_page,
    cancel_step_page,
    error_page_response,
    event_started_page,
    manage_page,
)
from ilmo_registration.rendering import page_response, redirect
from ilmo_registration.usecases import LinkedRegistration, UseCases
from ilmo_shared.http.problems import ProblemRoute

# The forms have a field of 43 characters and perhaps a language; anything
# bigger is not one of them.
MAX_FORM_BYTES = 4096

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
TOKEN_PARAMETER = {
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
        openapi_extra={"parameters": [TOKEN_PARAMETER]},
    )
    async def show_page(registration_id: str, request: Request) -> Response:
        token = request.query_params.get("token", "")
        linked = await follow(usecases, registration_id, request.query_params.get("token"))
        if isinstance(linked, Response):
            return linked
        page = manage_page_model(linked, token, request)
        return page_response(200, manage_page(page, manage_chrome(request, page.language)))

    @router.get(
        "/{registration_id}/cancel",
        response_class=HTMLResponse,
        summary="Asks to be sure before cancelling (HTML)",
        description="What cancelling means for this registration, and a button that posts the "
        "cancellation. Changes nothing. Once cancelling is no longer possible, back to the "
        "manage page.",
        responses={
            200: HTML,
            303: {"description": "Nothing to cancel any more; back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"parameters": [TOKEN_PARAMETER]},
    )
    async def ask_to_cancel(registration_id: str, request: Request) -> Response:
        token = request.query_params.get("token", "")
        linked = await follow(usecases, registration_id, request.query_params.get("token"))
        if isinstance(linked, Response):
            return linked
        page = manage_page_model(linked, token, request)
        if linked.cancellation is not Cancellation.CANCEL:
            return back_to_manage_page(
                registration_id, token, page.language if page.language_chosen else None
            )
        return page_response(200, cancel_step_page(page, manage_chrome(request, page.language)))

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
        fields = await form_fields(request, MAX_FORM_BYTES) or {}
        token, chosen = fields.get("token"), chosen_language(fields)
        if token is None:
            return error_page_response(404)
        try:
            registration = await usecases.linked(registration_id, token)
            await usecases.cancel(registration)
        except (NotFound, Erased) as refused:
            return gone_or_wrong(refused)
        except EventStarted:
            language = chosen or registration.registrant.language
            chrome = Chrome(root="../../", switcher=[])
            html = event_started_page(language, registration.id, token, chrome)
            return page_response(409, html)
        return back_to_manage_page(registration.id, token, chosen)

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
        fields = await form_fields(request, MAX_FORM_BYTES) or {}
        token = fields.get("token")
        if token is None:
            return error_page_response(404)
        try:
            registration = await usecases.linked(registration_id, token)
        except (NotFound, Erased) as refused:
            return gone_or_wrong(refused)
        await usecases.withdraw_needs_consent(registration)
        return back_to_manage_page(registration.id, token, chosen_language(fields))

    return router


async def follow(
    usecases: UseCases, registration_id: str, token: str | None
) -> LinkedRegistration | Response:
    """What a manage link leads to, or the page for a wrong (404) or erased (410) link.

    Every page and file under ``/manage/{id}`` starts here, so each answers a
    wrong link the same way.
    """
    if token is None:
        return error_page_response(404)
    try:
        return await usecases.follow_link(registration_id, token)
    except (NotFound, Erased) as refused:
        return gone_or_wrong(refused)


def gone_or_wrong(refused: NotFound | Erased) -> Response:
    """The page for a link to an erased registration (410), or a wrong link (404)."""
    return error_page_response(410 if isinstance(refused, Erased) else 404)


def back_to_manage_page(
    registration_id: str, token: str, language: Language | None = None
) -> Response:
    """After a form: back to the manage page (303), which shows what changed."""
    return redirect(back_to_page(registration_id, token, language))


def chosen_language(fields: Mapping[str, str]) -> Language | None:
    """The language a form's page was switched to, which the page it leads to keeps."""
    value = fields.get(PARAMETER, "")
    return Language(value) if value in Language._value2member_map_ else None


def manage_chrome(request: Request, language: Language) -> Chrome:
    """The frame of a page under ``/manage/{id}`` (one or two levels deep)."""
    depth = request.url.path.count("/") - 1
    return Chrome(root="../" * depth, switcher=switcher(request, language))


async def form_token(request: Request) -> str | None:
    """The ``token`` field of a small URL-encoded form, or None."""
    fields = await form_fields(request, MAX_FORM_BYTES)
    return fields.get("token") if fields is not None else None


def manage_page_model(linked: LinkedRegistration, token: str, request: Request) -> ManagePage:
    spec = shown_in_zone(linked.event.spec)
    registration = linked.registration
    state = registration.state
    registrant = registration.registrant
    shown = of_request(request, default=registrant.language)
    language = shown.language
    in_person = registrant.attendance is Attendance.IN_PERSON
    consent = registration.needs_consent
    notice = registration.notice_shown
    return ManagePage(
        registration_id=registration.id,
        token=token,
        language=language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        event_title=spec.title.in_language(language),
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        timezone=spec.timezone,
        attendance=registrant.attendance,
        venue_name=spec.venue.name.in_language(language) if in_person else None,
        venue_address=spec.venue.address if in_person else None,
        status=state.status,
        waitlist_position=state.waitlist_position,
        stream_link_url=state.link.url if state.stream_link_provisioned else None,
        cancellation=linked.cancellation,
        needs=registrant.needs,
        needs_consent_withdrawn=consent is not None and consent.withdrawn_at is not None,
        email=registrant.email,
        organisation=registrant.organisation,
        registrant_language=registrant.language,
        registered_at=registration.registered_at,
        cancelled_at=registration.cancelled_at,
        consent_given_at=consent.given_at if consent is not None else None,
        consent_withdrawn_at=consent.withdrawn_at if consent is not None else None,
        notice_version=notice.version if notice is not None else None,
        notice_shown_at=notice.shown_at if notice is not None else None,
        language_chosen=shown.chosen,
        switch=linked.switch,
        correctable=linked.correctable,
        event_cancelled=spec.cancelled_at is not None,
        event_cancellation_note=tuple(
            paragraphs(
                spec.cancellation_note.in_language(language) if spec.cancellation_note else None
            )
        ),
    )

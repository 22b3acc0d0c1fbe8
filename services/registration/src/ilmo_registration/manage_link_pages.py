"""The public page where a registrant who lost their link asks for it again.

``GET /events/{id}/manage-link`` is a form with one field, the email
address; it posts to the same address, which counts the request
(``RateLimits.check_manage_link_request``, as the JSON API does), asks the
use case to mail the link (``UseCases.request_manage_link``, in the page's
language) and redirects (303) to ``GET /events/{id}/manage-link/sent``. That
page says the same to everyone: if the address is registered, the link went
there. Like the registration form, the form carries a CSRF token bound to
the visitor's cookie (``csrf``), comes back with its errors beside the field
and in a summary, and is a personal page (never cached). The event's page
and its registration form link here ("Lost the link to your registration?").
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from ilmo_registration import CATALOGUE, csrf
from ilmo_registration.csrf import FormTokens
from ilmo_registration.domain import NotFound
from ilmo_registration.event_views import EventPage, event_page
from ilmo_registration.forms import FORM, form_fields
from ilmo_registration.manage_link_api import ManageLinkRequest
from ilmo_registration.page_language import PageLanguage, of_request
from ilmo_registration.public_page import event_not_found, form_expired, render_page, secure
from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.registration_form import FieldError
from ilmo_registration.rendering import page_response, redirect
from ilmo_registration.usecases import UseCases
from ilmo_shared.http.problems import Problem, ProblemRoute
from ilmo_shared.i18n import _, translate

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
EMAIL = "email"
FORM_BODY = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {name: {"type": "string"} for name in (csrf.FIELD, EMAIL)},
            }
        }
    },
}

MISSING = _("Enter your email address.")
INVALID = _("Enter the email address in the form name@example.fi.")
TOO_MANY = _(
    "The link has been asked for too often for this address or from your network just now. "
    "Nothing was sent: wait a while and try again."
)


@dataclass(frozen=True)
class LinkForm:
    """What the form shows besides the event: the address typed, what is wrong, a refusal."""

    email: str = ""
    error: FieldError | None = None
    refusal: str | None = None


def read_address(value: str) -> str | FieldError:
    """The address typed as the API's own model reads it (so as registering stored it),
    or what is wrong with it."""
    if not value.strip():
        return FieldError(EMAIL, MISSING)
    try:
        return str(ManageLinkRequest.model_validate({EMAIL: value}).email)
    except ValidationError:
        return FieldError(EMAIL, INVALID)


def manage_link_pages_router(
    usecases: UseCases, rate_limits: RateLimits, tokens: FormTokens
) -> APIRouter:
    router = APIRouter(tags=["public pages"], route_class=ProblemRoute)

    @router.get(
        "/events/{event_id}/manage-link",
        response_class=HTMLResponse,
        summary="Ask for the link to one's registration again (HTML form)",
        description="One field, the email address registered with; also after registration "
        "has closed.",
        responses={200: HTML, 404: {"description": "No such published event.", **HTML}},
    )
    async def show_form(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
        except NotFound:
            return event_not_found(request, shown)
        return _form_page(request, shown, tokens, event, LinkForm(), 200)

    @router.post(
        "/events/{event_id}/manage-link",
        response_class=HTMLResponse,
        status_code=303,
        summary="Send the link to one's registration again (HTML form)",
        description="As `POST /api/v1/events/{id}/manage-link-requests` (the same rate "
        "limits, the same answer whether or not the address is registered), with the page's "
        "language as the mail's; then redirects to the page that says the link was sent if "
        "the address is registered.",
        responses={
            303: {"description": "Asked; to the 'if you are registered, we sent it' page."},
            403: {"description": "The form's CSRF token did not match its cookie.", **HTML},
            404: {"description": "No such published event.", **HTML},
            422: {"description": "The address is missing or malformed; shown by it.", **HTML},
            429: {"description": "Asked too often; `Retry-After` says how long.", **HTML},
        },
        openapi_extra={"requestBody": FORM_BODY},
    )
    async def request_from_form(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        fields = await form_fields(request)
        if fields is None or not tokens.accepts(request, fields.get(csrf.FIELD)):
            return form_expired(request, shown, "manage-link")
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
        except NotFound:
            return event_not_found(request, shown)
        typed = fields.get(EMAIL, "")
        email = read_address(typed)
        if isinstance(email, FieldError):
            return _form_page(request, shown, tokens, event, LinkForm(typed, email), 422)
        try:
            await rate_limits.check_manage_link_request(request, email)
        except Problem as refused:
            state = LinkForm(typed, refusal=TOO_MANY)
            return _form_page(request, shown, tokens, event, state, refused.status, refused.headers)
        await usecases.request_manage_link(event_id, email, shown.language)
        return redirect(f"manage-link/sent{shown.query()}")

    @router.get(
        "/events/{event_id}/manage-link/sent",
        response_class=HTMLResponse,
        summary="After asking for the link: if you are registered, it was sent (HTML)",
        description="The same page whether or not the address is registered.",
        responses={200: HTML, 404: {"description": "No such published event.", **HTML}},
    )
    async def link_sent(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
        except NotFound:
            return event_not_found(request, shown)
        organiser = event.organiser
        html = render_page(
            request,
            shown,
            "manage_link_sent.html",
            title=translate(CATALOGUE, shown.language, _("Check your email")),
            personal=True,
            event=event,
            organiser_email=organiser.email if organiser is not None else None,
        )
        return shown.remember(page_response(200, html), secure=secure(request))

    return router


def _form_page(
    request: Request,
    shown: PageLanguage,
    tokens: FormTokens,
    event: EventPage,
    state: LinkForm,
    status: int,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The form with what was typed and what is wrong with it, or why nothing was sent."""
    token, new_cookie = tokens.issue(request)
    language = shown.language
    html = render_page(
        request,
        shown,
        "manage_link.html",
        title=translate(CATALOGUE, language, _("Get the link to your registration")),
        personal=True,
        errors=[state.error] if state.error is not None else [],
        event=event,
        email=state.email,
        error=state.error,
        refusal=translate(CATALOGUE, language, state.refusal) if state.refusal else None,
        form_token=token,
    )
    response = page_response(status, html, headers)
    csrf.set_cookie(response, new_cookie, secure=secure(request))
    return shown.remember(response, secure=secure(request))

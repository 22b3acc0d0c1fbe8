"""The public pages: the list of events, an event, its registration form.

``GET /`` lists the upcoming published events; ``GET /events/{id}`` shows
one; ``GET /events/{id}/registration`` is its registration form, on a page
of its own rather than on the event's page: the event's page is the same for
everyone and may be cached, while the form carries a CSRF token bound to the
visitor's cookie and comes back with what the person typed, which must never
be cached. The form posts to the same address (``POST``), which takes the
registration through the very use case, rules, rate limits and email
confirmation of ``POST /api/v1/events/{id}/registrations`` and redirects
(303) to ``GET /events/{id}/registration/sent``, the "check your email"
page. That page is the same for a new address and one already registered:
nothing tells who registered.

Each page speaks the visitor's language (``page_language``), with a switcher
that needs no script.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_registration import CATALOGUE, csrf
from ilmo_registration.csrf import FormTokens
from ilmo_registration.domain import EventIsCancelled, NotFound, RegistrationClosed
from ilmo_registration.event_views import EventPage, event_page, paragraphs, summary
from ilmo_registration.forms import FORM, form_fields
from ilmo_registration.idempotency import IdempotencyKeyReused, RequestInProgress
from ilmo_registration.keyed_registration import KeyedRegistration
from ilmo_registration.page_language import PageLanguage, of_request
from ilmo_registration.pages import LANGUAGE_CHOICES
from ilmo_registration.privacy import PrivacyNotice, PrivacyNoticeChanged
from ilmo_registration.public_page import event_not_found, form_expired, render_page, secure
from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.registration_form import FIELDS, NOTICE, FieldError, FormInput, read
from ilmo_registration.rendering import (
    STYLESHEET,
    page_response,
    public_response,
    redirect,
    stylesheet,
)
from ilmo_registration.schemas import RegistrationRequest
from ilmo_registration.usecases import UseCases
from ilmo_shared.http.problems import Problem, ProblemRoute
from ilmo_shared.i18n import _, translate

# The hidden field that makes one rendered form one registration (``_register_once``).
SUBMISSION = "submission"
SUBMISSION_BYTES = 24
SUBMISSION_KEY = re.compile(r"[A-Za-z0-9_-]{32}")
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
FORM_BODY = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "properties": {
                    name: {"type": "string"} for name in (csrf.FIELD, SUBMISSION, NOTICE, *FIELDS)
                },
            }
        }
    },
}

CLOSED = _("Registration for this event has closed, so the form was not sent.")
NOT_YET_OPEN = _("Registration for this event has not opened yet, so the form was not sent.")
NOTICE_CHANGED = _(
    "The privacy notice changed while you were filling in the form. Read the new notice "
    "below and send the form again."
)
TOO_MANY = _(
    "Too many registrations have been sent from your network just now. Nothing was sent: "
    "wait a minute and send the form again."
)
# The stylesheet's address names its digest (rendering.stylesheet_version): cache it for good.
STYLESHEET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class FormState:
    """What the registration form shows besides the event: input, errors, a refusal."""

    form: FormInput
    errors: list[FieldError]
    refusal: str | None = None


def public_router(
    usecases: UseCases,
    rate_limits: RateLimits,
    tokens: FormTokens,
    keyed: KeyedRegistration,
    *,
    expiry_hours: int,
) -> APIRouter:
    router = APIRouter(tags=["public pages"], route_class=ProblemRoute)

    @router.get(
        "/",
        response_class=HTMLResponse,
        summary="The upcoming events (HTML)",
        responses={200: HTML},
    )
    async def list_page(request: Request) -> Response:
        shown = of_request(request)
        now = usecases.now()
        events = [
            summary(stored, now, shown.language) for stored in await usecases.upcoming_events()
        ]
        html = render_page(
            request,
            shown,
            "event_list.html",
            title=translate(CATALOGUE, shown.language, _("Upcoming events")),
            events=events,
        )
        return _public(request, shown, html)

    @router.get(
        "/events/{event_id}",
        response_class=HTMLResponse,
        summary="An event's page (HTML)",
        responses={200: HTML, 404: {"description": "No such published event.", **HTML}},
    )
    async def show_event_page(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
        except NotFound:
            return event_not_found(request, shown)
        html = render_page(request, shown, "event.html", title=event.title, event=event)
        return _public(request, shown, html)

    @router.get(
        "/events/{event_id}/registration",
        response_class=HTMLResponse,
        summary="The registration form of an event (HTML)",
        description="Without a form once registration has closed.",
        responses={200: HTML, 404: {"description": "No such published event.", **HTML}},
    )
    async def show_form(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
            notice = await usecases.privacy_notice(event_id, admin=False)
        except NotFound:
            return event_not_found(request, shown)
        refusal = None if event.open else _closed_message(event)
        state = FormState(FormInput({"language": shown.language.value}), [], refusal)
        return _form_page(request, shown, tokens, event, notice, state, 200)

    @router.post(
        "/events/{event_id}/registration",
        response_class=HTMLResponse,
        status_code=303,
        summary="Register from the form (HTML form)",
        description="Registers as `POST /api/v1/events/{id}/registrations` does (the same rules, "
        "rate limits and email confirmation), then redirects to the 'check your email' page. "
        "What is wrong comes back as the form with the errors and what was typed.",
        responses={
            303: {"description": "Taken; to the 'check your email' page."},
            403: {"description": "The form's CSRF token did not match its cookie.", **HTML},
            404: {"description": "No such published event.", **HTML},
            409: {"description": "Registration is closed, or the privacy notice changed.", **HTML},
            422: {"description": "The form has errors; shown next to each field.", **HTML},
            429: {"description": "Too many registrations; `Retry-After` says how long.", **HTML},
        },
        openapi_extra={"requestBody": FORM_BODY},
    )
    async def register_from_form(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        fields = await form_fields(request)
        if fields is None or not tokens.accepts(request, fields.get(csrf.FIELD)):
            return form_expired(request, shown, "registration")
        try:
            event = event_page(await usecases.event_outlook(event_id), shown.language)
            notice = await usecases.privacy_notice(event_id, admin=False)
        except NotFound:
            return event_not_found(request, shown)
        submission = read(fields)

        def again(
            status: int,
            errors: list[FieldError],
            refusal: str | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> Response:
            state = FormState(submission.input, errors, refusal)
            return _form_page(request, shown, tokens, event, notice, state, status, headers)

        if not event.open:
            return again(409, [], _closed_message(event))
        if submission.request is None:
            return again(422, submission.errors)
        try:
            await rate_limits.check_registration(request, event_id)
        except Problem as refused:
            return again(refused.status, [], TOO_MANY, refused.headers)
        body = submission.request
        try:
            await _register_once(keyed, usecases, event_id, body, fields.get(SUBMISSION))
        except RequestInProgress:
            # The same form sent twice (a double click): the first is being taken.
            return redirect(f"registration/sent{shown.query()}")
        except RegistrationClosed:
            return again(409, [], CLOSED)
        except EventIsCancelled:
            return again(409, [], _("This event is cancelled."))
        except PrivacyNoticeChanged as changed:
            notice = changed.current
            return again(409, [], NOTICE_CHANGED)
        return redirect(f"registration/sent{shown.query()}")

    @router.get(
        "/events/{event_id}/registration/sent",
        response_class=HTMLResponse,
        summary="After registering: check your email (HTML)",
        description="The same page whether the address was new or already registered.",
        responses={200: HTML, 404: {"description": "No such published event.", **HTML}},
    )
    async def registration_sent(event_id: str, request: Request) -> Response:
        shown = of_request(request)
        try:
            outlook = await usecases.event_outlook(event_id)
        except NotFound:
            return event_not_found(request, shown)
        event = event_page(outlook, shown.language)
        organiser = event.organiser
        html = render_page(
            request,
            shown,
            "registration_sent.html",
            personal=True,
            title=translate(
                CATALOGUE,
                shown.language,
                _("Check your email")
                if outlook.event.spec.email_confirmation
                else _("Registration sent"),
            ),
            event=event,
            confirming=outlook.event.spec.email_confirmation,
            expiry_hours=expiry_hours,
            organiser_email=organiser.email if organiser is not None else None,
        )
        return shown.remember(page_response(200, html), secure=secure(request))

    @router.get(
        f"/static/{STYLESHEET}",
        summary="The pages' stylesheet",
        response_class=Response,
        responses={200: {"content": {"text/css": {"schema": {"type": "string"}}}}},
    )
    async def style() -> Response:
        return Response(stylesheet(), media_type="text/css", headers=STYLESHEET_HEADERS)

    return router


# ---------------------------------------------------------------------- helpers


def _public(request: Request, shown: PageLanguage, html: str) -> Response:
    return shown.remember(public_response(html), secure=secure(request))


def _form_page(
    request: Request,
    shown: PageLanguage,
    tokens: FormTokens,
    event: EventPage,
    notice: PrivacyNotice,
    state: FormState,
    status: int,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The form with what was typed and what is wrong; no form once registration is closed."""
    token, new_cookie = tokens.issue(request)
    language = shown.language
    html = render_page(
        request,
        shown,
        "registration.html",
        personal=True,
        title=translate(CATALOGUE, language, _("Register for the event")),
        errors=state.errors,
        event=event,
        form=state.form,
        errors_by_field={error.field: error for error in state.errors},
        refusal=translate(CATALOGUE, language, state.refusal) if state.refusal else None,
        form_token=token,
        submission=secrets.token_urlsafe(SUBMISSION_BYTES),
        notice_version=notice.version,
        notice=paragraphs(notice.in_language(language)),
        languages=[(code.value, name) for code, name in LANGUAGE_CHOICES.items()],
    )
    response = page_response(status, html, headers)
    csrf.set_cookie(response, new_cookie, secure=secure(request))
    return shown.remember(response, secure=secure(request))


async def _register_once(
    keyed: KeyedRegistration,
    usecases: UseCases,
    event_id: str,
    body: RegistrationRequest,
    submission: str | None,
) -> None:
    """Register the form's person, once per rendered form.

    Every rendering of the form carries its own random ``submission`` key,
    used as an Idempotency-Key: the same form sent again (a double click, a
    reload of the answer) is answered as the first was, without a second
    "already registered" mail. A form sent back changed under the same key
    (the browser's back button) is a new registration attempt, as one
    without a key is.
    """
    registrant, version = body.registrant(), body.privacy_notice_version
    if submission is not None and SUBMISSION_KEY.fullmatch(submission):
        try:
            await keyed.register(
                event_id, registrant, version, submission, body.model_dump(mode="json")
            )
        except IdempotencyKeyReused:
            pass
        else:
            return
    await usecases.register(event_id, registrant, version)


def _closed_message(event: EventPage) -> str:
    if event.cancelled:
        return _("This event is cancelled.")
    if event.over:
        return _("This event is over.")
    return NOT_YET_OPEN if event.window.value == "not_yet_open" else CLOSED

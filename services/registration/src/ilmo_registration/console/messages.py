"""The console's messages to an event's registrants: list, write, preview, send, follow.

Write → preview → send. The form (title and body in fi/sv/en, and the
audience) posts to the preview, which shows each language as it will be
read, says which languages fall back to Finnish, and how many people the
message would reach now (notification's ``/api/v1/events/{id}/audience``;
if notification does not answer, the page says so and sending is still
possible). The preview carries a ``message_id`` chosen when it was made:
Send stores the message under that id (``UseCases.send_message``), with
``message.requested`` in the same insert, so sending twice or reloading
stores and sends one message. The message's page shows notification's
progress (``/api/v1/messages/{id}``); a reload refreshes it.

Writing and sending need ``CHANGE_EVENTS``: a message speaks for the event,
like its change notices, and changes no one's registration. Reading the
list and a message's progress needs ``READ_EVENTS`` (texts and counts, no
registrant's data). Each message sent is recorded in the audit trail with
its id and audience; its text stays with the message, found by that id.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from ilmo_event_contracts import Audience, Language, LocalizedText
from ilmo_registration import CATALOGUE
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import message_sent
from ilmo_registration.console.event_form import LANGUAGES, FormError, Texts, form_errors
from ilmo_registration.console.events import CHANGE, HTML, ErrorView, not_found
from ilmo_registration.console.other_services import (
    MessageProgress,
    OtherServices,
    Unavailable,
)
from ilmo_registration.console.pages import console_page, language_of, text
from ilmo_registration.console.registration_views import AUDIENCE_NAMES
from ilmo_registration.console.session import ConsoleSessions, submitted_form
from ilmo_registration.domain import NotFound, falls_back_to_finnish
from ilmo_registration.rendering import redirect
from ilmo_registration.schemas import MESSAGE_AUDIENCES, MessageIn
from ilmo_registration.storage import StoredEvent, StoredMessage
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _, translate
from ilmo_shared.localized_time import format_datetime
from ilmo_shared.plain_text import paragraphs

LANGUAGE_NAMES: Mapping[Language, str] = {
    Language.FI: _("Finnish"),
    Language.SV: _("Swedish"),
    Language.EN: _("English"),
}
STATE_NAMES: Mapping[str, str] = {
    "waiting": _("Waiting to be sent"),
    "sending": _("Being sent"),
    "done": _("Sent"),
}
FIELD_LABELS: Mapping[str, str] = {
    "audience": _("To whom"),
    "title": _("Title"),
    "body": _("Message"),
}
MESSAGE_NOT_FOUND = _("Message not found")


@dataclass(frozen=True)
class Reading:
    """The message in one language, as its readers will read it."""

    language: str
    name: str
    title: str
    # Paragraphs of lines, as the mail shows them.
    paragraphs: list[list[str]]
    falls_back: bool
    # The language each part is actually read in (Finnish where it falls back).
    title_language: str
    body_language: str


@dataclass(frozen=True)
class MessageRow:
    """A message in the event's list, with how far notification has got."""

    id: str
    title: str
    audience: str
    requested_at: str
    progress: MessageProgress | None
    unavailable: bool


def messages_router(
    usecases: UseCases,
    sessions: ConsoleSessions,
    audit: AuditTrail,
    services: OtherServices,
) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    reader = sessions.requires(Permission.READ_EVENTS)
    writer = sessions.requires(Permission.CHANGE_EVENTS)

    @router.get(
        "/events/{event_id}/messages",
        response_class=HTMLResponse,
        summary="The event's messages to registrants, with their progress (HTML)",
    )
    async def list_messages(
        event_id: str, request: Request, principal: Annotated[Principal, reader]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
            sent = await usecases.event_messages(event_id)
        except NotFound:
            return not_found(request)
        language = language_of(request)
        progress = await asyncio.gather(*(_progress(services, m.id) for m in sent))
        rows = [
            _row(message, stored, language, found, unavailable)
            for message, (found, unavailable) in zip(sent, progress, strict=True)
        ]
        return console_page(
            request,
            "console/messages.html",
            title=text(request, _("Messages to registrants")),
            section="events",
            stored=stored,
            event_title=stored.spec.title.in_language(language),
            rows=rows,
            may_write=principal.may(Permission.CHANGE_EVENTS),
        )

    @router.get(
        "/events/{event_id}/messages/new",
        response_class=HTMLResponse,
        summary="A new message's form (HTML)",
    )
    async def new_message(
        event_id: str, request: Request, principal: Annotated[Principal, writer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return not_found(request)
        return _form(request, stored, {"audience": Audience.ALL.value}, [])

    @router.post(
        "/events/{event_id}/messages/new",
        response_class=HTMLResponse,
        summary="The message's form again, as typed (from the preview's Change button)",
    )
    async def change_message(
        event_id: str, request: Request, principal: Annotated[Principal, writer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return not_found(request)
        return _form(request, stored, _typed(submitted_form(request)), [])

    @router.post(
        "/events/{event_id}/messages/preview",
        response_class=HTMLResponse,
        summary="Preview a message: each language as read, and how many it reaches",
        responses={422: {"description": "The message has errors.", **HTML}},
    )
    async def preview_message(
        event_id: str, request: Request, principal: Annotated[Principal, writer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return not_found(request)
        typed = _typed(submitted_form(request))
        checked = _checked(typed)
        if isinstance(checked, list):
            return _form(request, stored, typed, checked, status=422)
        title, body = checked.localized()
        try:
            recipients: int | None = await services.audience_size(event_id, checked.audience)
        except Unavailable:
            recipients = None
        return console_page(
            request,
            "console/message_preview.html",
            title=text(request, _("Check the message before sending")),
            section="events",
            stored=stored,
            event_title=stored.spec.title.in_language(language_of(request)),
            readings=_readings(request, title, body),
            audience=text(request, AUDIENCE_NAMES[checked.audience]),
            recipients=recipients,
            message_id=str(uuid.uuid4()),
            hidden=typed,
        )

    @router.post(
        "/events/{event_id}/messages/send",
        response_class=HTMLResponse,
        summary="Send the previewed message (once per message id)",
        responses={**CHANGE, 422: {"description": "The message has errors.", **HTML}},
    )
    async def send_message(
        event_id: str, request: Request, principal: Annotated[Principal, writer]
    ) -> Response:
        fields = submitted_form(request)
        typed = _typed(fields)
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return not_found(request)
        checked = _checked(typed)
        message_id = _uuid(fields.get("message_id", ""))
        if isinstance(checked, list) or message_id is None:
            errors = checked if isinstance(checked, list) else []
            if message_id is None:
                errors.append(FormError("title.fi", _("preview the message again, then send it")))
            return _form(request, stored, typed, errors, status=422)
        title, body = checked.localized()
        try:
            sent, new = await usecases.send_message(
                event_id, message_id, checked.audience, title, body
            )
        except NotFound:
            return not_found(request)
        if new:
            await audit.record(
                principal,
                Action.MESSAGE_SENT,
                event_id=event_id,
                detail=message_sent(sent.id, sent.audience.value),
            )
        return redirect(f"/console/events/{event_id}/messages/{sent.id}")

    @router.get(
        # A UUID in the address, so that ``messages/new``, ``preview`` and ``send`` are
        # not taken for ids: a 405 there names the methods that address really has.
        "/events/{event_id}/messages/{message_id:uuid}",
        response_class=HTMLResponse,
        summary="A message and its delivery so far (HTML)",
        responses={404: {"description": "No such event, or no such message of it.", **HTML}},
    )
    async def show_message(
        event_id: str,
        message_id: uuid.UUID,
        request: Request,
        principal: Annotated[Principal, reader],
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
            sent = await usecases.message(event_id, str(message_id))
        except NotFound:
            return not_found(request)
        language = language_of(request)
        progress, unavailable = await _progress(services, sent.id)
        return console_page(
            request,
            "console/message_sent.html",
            title=text(request, _("Message to registrants")),
            section="events",
            stored=stored,
            event_title=stored.spec.title.in_language(language),
            row=_row(sent, stored, language, progress, unavailable),
            readings=_readings(request, sent.title, sent.body),
        )

    return router


# ------------------------------------------------------------------- helpers


def _typed(fields: Mapping[str, str]) -> dict[str, str]:
    """The message's inputs as sent (and nothing else of the form)."""
    names = ["audience"] + [f"{part}.{code}" for part in ("title", "body") for code in LANGUAGES]
    return {name: fields.get(name, "") for name in names}


def _checked(typed: Mapping[str, str]) -> MessageIn | list[FormError]:
    """The message validated as the API would, or its errors (named by input)."""
    title = Texts(*(typed.get(f"title.{code}", "") for code in LANGUAGES))
    body = Texts(*(typed.get(f"body.{code}", "") for code in LANGUAGES))
    audience = typed.get("audience", "")
    errors: list[FormError] = []
    if audience not in {choice.value for choice in MESSAGE_AUDIENCES}:
        errors.append(FormError("audience", _("choose to whom the message goes")))
    try:
        checked = MessageIn.model_validate(
            {
                "audience": audience or Audience.ALL.value,
                "title": title.value(),
                "body": body.value(),
            }
        )
    except ValidationError as invalid:
        return errors + [error for error in form_errors(invalid) if error.field != "audience"]
    return errors or checked


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _form(
    request: Request,
    stored: StoredEvent,
    typed: Mapping[str, str],
    errors: list[FormError],
    status: int = 200,
) -> Response:
    language = language_of(request)
    shown = [_error_view(error, language) for error in errors]
    return console_page(
        request,
        "console/message_form.html",
        title=text(request, _("New message to registrants")),
        status=status,
        section="events",
        stored=stored,
        event_title=stored.spec.title.in_language(language),
        inputs=dict(typed),
        audiences=[(a.value, text(request, AUDIENCE_NAMES[a])) for a in MESSAGE_AUDIENCES],
        errors=shown,
        error_for={error.field: error.message for error in shown},
        focus=None,
    )


def _error_view(error: FormError, language: Language) -> ErrorView:
    field = error.field
    if field in ("title", "body"):
        field = f"{field}.fi"
    head, _dot, code = field.partition(".")
    label = translate(CATALOGUE, language, FIELD_LABELS.get(head, head))
    if code in LANGUAGES:
        label += ", " + translate(CATALOGUE, language, LANGUAGE_NAMES[Language(code)])
    message = translate(CATALOGUE, language, error.message)
    if error.values:
        message = message % dict(error.values)
    return ErrorView(
        target="f-" + field.replace(".", "-"), field=field, label=label, message=message
    )


def _readings(request: Request, title: LocalizedText, body: LocalizedText) -> list[Reading]:
    fallback = falls_back_to_finnish(title, body)
    return [
        Reading(
            language=language.value,
            name=text(request, LANGUAGE_NAMES[language]),
            title=title.in_language(language),
            paragraphs=paragraphs(body.in_language(language)),
            falls_back=language in fallback,
            title_language=language.value if getattr(title, language.value) else "fi",
            body_language=language.value if getattr(body, language.value) else "fi",
        )
        for language in Language
    ]


async def _progress(
    services: OtherServices, message_id: str
) -> tuple[MessageProgress | None, bool]:
    """Notification's progress of the message, and whether notification failed to answer."""
    try:
        return await services.message_progress(message_id), False
    except Unavailable:
        return None, True


def _row(
    message: StoredMessage,
    event: StoredEvent,
    language: Language,
    progress: MessageProgress | None,
    unavailable: bool,
) -> MessageRow:
    return MessageRow(
        id=message.id,
        title=message.title.in_language(language),
        audience=translate(CATALOGUE, language, AUDIENCE_NAMES[message.audience]),
        requested_at=format_datetime(message.requested_at, event.spec.timezone, language),
        progress=progress,
        unavailable=unavailable,
    )

"""The console's "Cancel event": a page that says what will happen, and the POST that does it.

The same use case as the JSON API's ``POST /api/v1/events/{id}/cancellation``
(``UseCases.cancel_event``): ``event.cancelled`` tells every service, so
registrants get a mail, watch links stop working and nobody is promoted any
more. Final, so it asks first, and says so. The optional note to registrants
is written in fi/sv/en (Finnish needed if any is given); it is validated as
the API validates it (``schemas.CancellationIn``) and errors come back next
to their inputs. Needs ``CHANGE_EVENTS``; recorded in the audit trail.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from ilmo_event_contracts import Language
from ilmo_registration import CATALOGUE
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.console.event_form import LANGUAGES, FormError, Texts, form_errors
from ilmo_registration.console.events import CHANGE, HTML, ErrorView, not_found
from ilmo_registration.console.pages import console_page, language_of, message, text
from ilmo_registration.console.session import ConsoleSessions, submitted_form
from ilmo_registration.domain import EventNotPublished, NotFound
from ilmo_registration.pages import Link
from ilmo_registration.rendering import redirect
from ilmo_registration.schemas import CancellationIn
from ilmo_registration.storage import StoredEvent
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _, translate

DRAFT = _("Only a published event can be cancelled")
DRAFT_TEXT = _(
    "This event has not been published, so nobody has been told about it. "
    "Leave it unpublished instead."
)
NOTE_LABELS = {"fi": _("Note in Finnish"), "sv": _("Note in Swedish"), "en": _("Note in English")}


def cancellation_router(
    usecases: UseCases, sessions: ConsoleSessions, audit: AuditTrail
) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    changer = sessions.requires(Permission.CHANGE_EVENTS)

    @router.get(
        "/events/{event_id}/cancel",
        response_class=HTMLResponse,
        summary="Ask before cancelling an event (HTML)",
    )
    async def ask(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return not_found(request)
        if not stored.spec.published and stored.spec.cancelled_at is None:
            return _draft(request, event_id)
        return _page(request, stored, Texts(), [])

    @router.post(
        "/events/{event_id}/cancel",
        response_class=HTMLResponse,
        summary="Cancel an event: everyone registered is told",
        responses={**CHANGE, 422: {"description": "The note has errors.", **HTML}},
    )
    async def cancel(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        fields = submitted_form(request)
        note = Texts(*(fields.get(f"note.{language}", "") for language in LANGUAGES))
        try:
            body = CancellationIn.model_validate({"note": note.optional()})
        except ValidationError as invalid:
            errors = form_errors(invalid)
            try:
                stored = await usecases.show_event(event_id, admin=True)
            except NotFound:
                return not_found(request)
            return _page(request, stored, note, errors, status=422)
        try:
            before = await usecases.show_event(event_id, admin=True)
            await usecases.cancel_event(event_id, body.localized_note())
        except NotFound:
            return not_found(request)
        except EventNotPublished:
            return _draft(request, event_id)
        if before.spec.cancelled_at is None:
            await audit.record(principal, Action.EVENT_CANCELLED, event_id=event_id)
        return redirect(f"/console/events/{event_id}")

    return router


def _page(
    request: Request, stored: StoredEvent, note: Texts, errors: list[FormError], status: int = 200
) -> Response:
    language = language_of(request)
    shown = [_error_view(error, language) for error in errors]
    return console_page(
        request,
        "console/confirm_cancellation.html",
        title=text(request, _("Cancel the event?")),
        status=status,
        section="events",
        stored=stored,
        event_title=stored.spec.title.in_language(language),
        already=stored.spec.cancelled_at is not None,
        inputs={f"note.{code}": getattr(note, code) for code in LANGUAGES},
        errors=shown,
        error_for={error.field: error.message for error in shown},
        focus=None,
    )


def _error_view(error: FormError, language: Language) -> ErrorView:
    """A note's error next to its input: ``note.fi`` → the Finnish note's input."""
    name = error.field if error.field.startswith("note.") else "note.fi"
    label = NOTE_LABELS.get(name.rsplit(".", 1)[-1], NOTE_LABELS["fi"])
    message_text = translate(CATALOGUE, language, error.message)
    if error.values:
        message_text = message_text % dict(error.values)
    return ErrorView(
        target="f-" + name.replace(".", "-"),
        field=name,
        label=translate(CATALOGUE, language, label),
        message=message_text,
    )


def _draft(request: Request, event_id: str) -> Response:
    return message(
        request,
        DRAFT,
        [DRAFT_TEXT],
        status=409,
        link=Link(f"/console/events/{event_id}", _("Back to the event")),
    )

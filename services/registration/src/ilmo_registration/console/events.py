"""The console's events screens: every event, one event, its form, publishing and duplicating.

Thin adapters: each route reads the request, calls a use case
(``usecases.UseCases``: the same ``create_event``, ``change_event`` and
``put_privacy_notice`` the JSON API calls, with the same rules) and renders
a template under ``templates/console/``; every change is recorded in the
audit trail after it succeeded. Reading needs ``READ_EVENTS``; creating,
changing, publishing and duplicating need ``CHANGE_EVENTS``, so a viewer
sees no form and a viewer's POST is refused (a 403 page) before it is read.

The form (``event_form``) posts to its own address: an add or remove
button comes back as the form with the change and everything typed; Save
either stores the event (303 to its page) or comes back with the errors
(422), each next to its input and all in a summary at the top.

Publishing and unpublishing ask first (a page with one button), as both
change what the public sees. "Duplicate" makes a new draft with the same
content, times included (the organiser moves them), and the same privacy
notice, and opens its form.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Language
from ilmo_registration import CATALOGUE
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import duplicated_from, fields_changed
from ilmo_registration.catalogue import EventSpec, Violation
from ilmo_registration.console import event_form
from ilmo_registration.console.event_form import EventForm, FormError
from ilmo_registration.console.event_life import EventLife, event_life
from ilmo_registration.console.other_services import OtherServices
from ilmo_registration.console.pages import console_page, language_of, message, text
from ilmo_registration.console.session import ConsoleSessions, submitted_form
from ilmo_registration.domain import EventExists, EventIsCancelled, InvalidEvent, NotFound
from ilmo_registration.event_views import event_page, summary, when
from ilmo_registration.pages import Link
from ilmo_registration.privacy import DEFAULT_NOTICE, PrivacyNotice
from ilmo_registration.rendering import redirect
from ilmo_registration.storage import StoredEvent
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _, translate
from ilmo_shared.localized_time import format_datetime
from ilmo_shared.storage import ConcurrentChangeError

HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
CHANGE: dict[int | str, dict[str, Any]] = {
    303: {"description": "Done; to the event's page."},
    403: {"description": "No permission, or the form's CSRF token is wrong.", **HTML},
    404: {"description": "No such event.", **HTML},
}
NOT_FOUND = _("Event not found")
NOT_FOUND_TEXT = _("There is no event at this address. It may have been given a new address.")
CHANGED_MEANWHILE = _(
    "Someone else changed the event at the same time. Nothing was saved: try again."
)
CANCELLED = _("The event is cancelled")
CANCELLED_TEXT = _("A cancelled event can no longer be changed or published.")


@dataclass(frozen=True)
class EventRow:
    """One line of the console's list of events."""

    id: str
    title: str
    when: str
    published: bool
    window: str
    cancelled: bool = False


@dataclass(frozen=True)
class ErrorView:
    """An error of the form as the page shows it: the input's id, its label and the message."""

    target: str
    field: str
    label: str
    message: str


def event_row(stored: StoredEvent, now: datetime, language: Language) -> EventRow:
    shown = summary(stored, now, language)
    return EventRow(
        stored.id,
        shown.title,
        shown.when,
        stored.spec.published,
        shown.window.value,
        cancelled=stored.spec.cancelled_at is not None,
    )


def events_router(
    usecases: UseCases,
    sessions: ConsoleSessions,
    audit: AuditTrail,
    services: OtherServices | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    reader = sessions.requires(Permission.READ_EVENTS)
    changer = sessions.requires(Permission.CHANGE_EVENTS)

    @router.get("", response_class=HTMLResponse, summary="Every event, drafts too (HTML)")
    async def list_events(request: Request, principal: Annotated[Principal, reader]) -> Response:
        language = language_of(request)
        now = usecases.now()
        stored = await usecases.list_events(admin=True)
        return console_page(
            request,
            "console/events.html",
            title=text(request, _("Events")),
            section="events",
            events=[event_row(event, now, language) for event in stored],
            may_change=principal.may(Permission.CHANGE_EVENTS),
        )

    @router.get("/events/new", response_class=HTMLResponse, summary="A new event's form (HTML)")
    async def new_event(request: Request, principal: Annotated[Principal, changer]) -> Response:
        return _form_page(request, EventForm(), mode="new")

    @router.post(
        "/events/new",
        response_class=HTMLResponse,
        summary="Create an event from the form, or add or remove a row of it",
        responses={**CHANGE, 422: {"description": "The form has errors.", **HTML}},
    )
    async def create_event(request: Request, principal: Annotated[Principal, changer]) -> Response:
        fields = submitted_form(request)
        form = event_form.read(fields)
        action = fields.get("action", "save")
        if action != "save":
            changed, focus = event_form.apply(form, action)
            return _form_page(request, changed, mode="new", focus=focus)
        checked = event_form.check(form)
        form = checked.form
        if checked.event is None:
            return _form_page(request, form, mode="new", errors=checked.errors)
        try:
            stored = await usecases.create_event(checked.event.to_spec(), checked.event.id)
        except InvalidEvent as invalid:
            return _form_page(request, form, mode="new", errors=_errors(invalid.violations))
        except EventExists:
            taken = FormError("id", _("this address is taken by another event"))
            return _form_page(request, form, mode="new", errors=[taken])
        await audit.record(principal, Action.EVENT_CREATED, event_id=stored.id)
        if checked.notice is not None:
            await usecases.put_privacy_notice(stored.id, checked.notice)
            await audit.record(principal, Action.PRIVACY_NOTICE_CHANGED, event_id=stored.id)
        return redirect(f"/console/events/{stored.id}")

    @router.get("/events/{event_id}", response_class=HTMLResponse, summary="An event (HTML)")
    async def show_event(
        event_id: str, request: Request, principal: Annotated[Principal, reader]
    ) -> Response:
        try:
            outlook = await usecases.event_outlook(event_id, admin=True)
        except NotFound:
            return _not_found(request)
        stored = outlook.event
        language = language_of(request)
        life: EventLife | None = None
        if services is not None:
            life = await event_life(services, stored, language)
        return console_page(
            request,
            "console/event.html",
            title=stored.spec.title.in_language(language),
            section="events",
            stored=stored,
            event=event_page(outlook, language),
            when=when(stored.spec, language),
            may_change=principal.may(Permission.CHANGE_EVENTS),
            may_list=principal.may(Permission.LIST_REGISTRATIONS),
            life=life,
            cancelled_at=_cancelled_at(stored, language),
            cancellation_note=(
                stored.spec.cancellation_note.in_language(language)
                if stored.spec.cancellation_note
                else None
            ),
        )

    @router.get(
        "/events/{event_id}/edit", response_class=HTMLResponse, summary="An event's form (HTML)"
    )
    async def edit_event(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
            notice = await usecases.privacy_notice(event_id, admin=True)
        except NotFound:
            return _not_found(request)
        if stored.spec.cancelled_at is not None:
            return _cancelled(request, event_id)
        form = event_form.of_spec(stored.spec, stored.id, _own(notice))
        return _form_page(request, form, mode="edit", event_id=stored.id)

    @router.post(
        "/events/{event_id}/edit",
        response_class=HTMLResponse,
        summary="Change an event from the form, or add or remove a row of it",
        responses={**CHANGE, 422: {"description": "The form has errors.", **HTML}},
    )
    async def change_event(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        fields = submitted_form(request)
        form = event_form.read({**fields, "id": event_id})
        action = fields.get("action", "save")

        def again(errors: list[FormError], focus: str | None = None) -> Response:
            return _form_page(
                request, form, mode="edit", event_id=event_id, errors=errors, focus=focus
            )

        if action != "save":
            # As the form's GET: no form for an event nobody knows (a removed one, a typo).
            if not await _exists(usecases, event_id):
                return _not_found(request)
            form, focus = event_form.apply(form, action)
            return again([], focus)
        checked = event_form.check(form)
        form = checked.form
        if checked.event is None:
            return again(checked.errors)
        new = checked.event.to_spec()
        try:
            before = await usecases.show_event(event_id, admin=True)
            await usecases.change_event(event_id, lambda _current: new)
        except NotFound:
            return _not_found(request)
        except InvalidEvent as invalid:
            return again(_errors(invalid.violations))
        except EventIsCancelled:
            return _cancelled(request, event_id)
        except ConcurrentChangeError:
            return again([FormError("title.fi", CHANGED_MEANWHILE)])
        changed = _changed_fields(before.spec, new)
        if changed:
            await audit.record(
                principal, Action.EVENT_CHANGED, event_id=event_id, detail=fields_changed(changed)
            )
        if checked.notice is not None and await _notice_changes(usecases, event_id, checked):
            await usecases.put_privacy_notice(event_id, checked.notice)
            await audit.record(principal, Action.PRIVACY_NOTICE_CHANGED, event_id=event_id)
        return redirect(f"/console/events/{event_id}")

    for published in (True, False):
        _publishing_routes(router, usecases, audit, changer, published=published)

    @router.post(
        "/events/{event_id}/duplicate",
        summary="Duplicate an event as a new draft, and open its form",
        responses=CHANGE,
    )
    async def duplicate_event(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        try:
            original = await usecases.show_event(event_id, admin=True)
            notice = await usecases.privacy_notice(event_id, admin=True)
        except NotFound:
            return _not_found(request)
        # A copy is a new event: a draft, and not cancelled even if the original was.
        copy = original.spec.model_copy(
            update={"published": False, "cancelled_at": None, "cancellation_note": None}
        )
        stored = await usecases.create_event(copy)
        await audit.record(
            principal, Action.EVENT_DUPLICATED, event_id=stored.id, detail=duplicated_from(event_id)
        )
        if _own(notice) is not None:
            await usecases.put_privacy_notice(stored.id, dict(notice.text))
        return redirect(f"/console/events/{stored.id}/edit")

    return router


def _publishing_routes(
    router: APIRouter, usecases: UseCases, audit: AuditTrail, changer: Any, *, published: bool
) -> None:
    """``/publish`` or ``/unpublish``: a page that asks, and the POST that does it."""
    verb = "publish" if published else "unpublish"
    action = Action.EVENT_PUBLISHED if published else Action.EVENT_UNPUBLISHED

    @router.get(
        f"/events/{{event_id}}/{verb}",
        response_class=HTMLResponse,
        summary=f"Ask before {verb}ing an event (HTML)",
    )
    async def ask(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        try:
            stored = await usecases.show_event(event_id, admin=True)
        except NotFound:
            return _not_found(request)
        return console_page(
            request,
            "console/confirm_publishing.html",
            title=text(
                request, _("Publish the event?") if published else _("Unpublish the event?")
            ),
            section="events",
            stored=stored,
            event_title=stored.spec.title.in_language(language_of(request)),
            publishing=published,
        )

    @router.post(
        f"/events/{{event_id}}/{verb}", summary=f"{verb.capitalize()} an event", responses=CHANGE
    )
    async def do(
        event_id: str, request: Request, principal: Annotated[Principal, changer]
    ) -> Response:
        def change(spec: EventSpec) -> EventSpec:
            return spec.model_copy(update={"published": published})

        try:
            before = await usecases.show_event(event_id, admin=True)
            await usecases.change_event(event_id, change)
        except NotFound:
            return _not_found(request)
        except EventIsCancelled:
            return _cancelled(request, event_id)
        if before.spec.published is not published:
            await audit.record(principal, action, event_id=event_id)
        return redirect(f"/console/events/{event_id}")


async def _exists(usecases: UseCases, event_id: str) -> bool:
    try:
        await usecases.show_event(event_id, admin=True)
    except NotFound:
        return False
    return True


def _own(notice: PrivacyNotice) -> PrivacyNotice | None:
    """The event's own notice; None when it uses the built-in one."""
    return None if notice.version == DEFAULT_NOTICE.version else notice


async def _notice_changes(usecases: UseCases, event_id: str, checked: event_form.Checked) -> bool:
    current = await usecases.privacy_notice(event_id, admin=True)
    return checked.notice is not None and dict(current.text) != checked.notice


def _changed_fields(before: EventSpec, after: EventSpec) -> list[str]:
    """The names of the fields a change changed: the audit entry's detail (never their values)."""
    old, new = before.model_dump(), after.model_dump()
    return sorted(name for name in new if old.get(name) != new[name])


def _errors(violations: list[Violation]) -> list[FormError]:
    return [FormError(v.field, v.message, v.values) for v in violations]


def _form_page(
    request: Request,
    form: EventForm,
    *,
    mode: str,
    event_id: str | None = None,
    errors: list[FormError] | None = None,
    focus: str | None = None,
) -> Response:
    language = language_of(request)
    shown = [_error_view(error, language) for error in errors or []]
    title = _("New event") if mode == "new" else _("Edit the event")
    return console_page(
        request,
        "console/event_form.html",
        title=text(request, title),
        status=422 if shown else 200,
        section="events",
        form=form,
        inputs=event_form.inputs(form),
        errors=shown,
        error_for={error.field: error.message for error in shown},
        focus=focus,
        mode=mode,
        event_id=event_id,
        action=f"/console/events/{event_id}/edit" if event_id else "/console/events/new",
    )


def _error_view(error: FormError, language: Language) -> ErrorView:
    label = ", ".join(
        translate(CATALOGUE, language, part) % values
        if values
        else translate(CATALOGUE, language, part)
        for part, values in event_form.label_parts(error.field)
    )
    message = translate(CATALOGUE, language, error.message)
    if error.values:
        message = message % dict(error.values)
    return ErrorView(
        target="f-" + error.field.replace(".", "-"), field=error.field, label=label, message=message
    )


def _cancelled_at(stored: StoredEvent, language: Language) -> str | None:
    at = stored.spec.cancelled_at
    return format_datetime(at, stored.spec.timezone, language) if at is not None else None


def _cancelled(request: Request, event_id: str) -> Response:
    return message(
        request,
        CANCELLED,
        [CANCELLED_TEXT],
        status=409,
        link=Link(f"/console/events/{event_id}", _("Back to the event")),
    )


def not_found(request: Request) -> Response:
    """The console's page for an event nobody knows (a removed one, a typo)."""
    return _not_found(request)


def _not_found(request: Request) -> Response:
    return message(
        request,
        NOT_FOUND,
        [NOT_FOUND_TEXT],
        status=404,
        link=Link("/console", _("Back to the events")),
    )

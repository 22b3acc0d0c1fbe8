"""The console's registration screens: an event's registrations, one registration, its actions.

Thin adapters over the same use cases as the JSON API and the manage pages
(``usecases.UseCases``): the list reads the listing read model
(``registrations_page``), cancelling and switching on someone's behalf go
through the registrant's own rules and events (``cancel_on_behalf``,
``switch_on_behalf``), so the person gets the same mails as when they act
themselves; erasing is the erasure on request. Every action has a
confirmation page first (GET), then a form (POST, with the session's CSRF
token) that does it and records it in the audit trail, then a redirect to
the registration (POST, redirect, GET).

Permissions: the list needs ``LIST_REGISTRATIONS`` (without
``READ_PERSONAL_DATA``: names, states, attendance and language only, and a
search in names only); one registration ``READ_PERSONAL_DATA`` (recorded as
``registration-read``); the actions ``CHANGE_REGISTRATIONS``; the export
``EXPORT``.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
import secrets
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import WITHOUT_PERSONAL_DATA, export_format, mail, switched_to
from ilmo_registration.catalogue import zone
from ilmo_registration.console.other_services import OtherServices, Unavailable
from ilmo_registration.console.pages import console_page, message, text
from ilmo_registration.console.registration_views import (
    ATTENDANCE_NAMES,
    CHANGE_NAMES,
    LANGUAGE_NAMES,
    MAIL_KINDS,
    SERVICE_NAMES,
    STATUS_NAMES,
    figure_list,
    listing_href,
    paging,
    query_parameters,
    sort_columns,
)
from ilmo_registration.console.session import ConsoleSessions, submitted_form
from ilmo_registration.domain import (
    Erased,
    EventStarted,
    NotSwitchable,
    Refused,
    RegistrationClosed,
)
from ilmo_registration.event_views import moment
from ilmo_registration.export import export_table, table_csv, table_xlsx
from ilmo_registration.listing import ListingParameters, ListingQuery
from ilmo_registration.page_language import of_request
from ilmo_registration.pages import Link
from ilmo_registration.rendering import PAGE_HEADERS, redirect
from ilmo_registration.storage import StoredEvent, StoredRegistration
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _
from ilmo_shared.localized_time import format_datetime

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
# Mails a person may be sent again: the ones that tell them where they stand.
RESENDABLE = frozenset(
    {"confirm_address", "registration_received", "seat_confirmed", "waitlisted", "stream_link"}
)
# Page numbers beyond this are no page (the list stops at its last page anyway).
MAX_PAGE = 1_000_000
NOT_FOUND = _("Not found")
NOT_FOUND_TEXT = _("There is no such event or registration, or it has been removed.")


def not_found_page(request: Request) -> Response:
    return message(
        request,
        NOT_FOUND,
        [NOT_FOUND_TEXT],
        status=404,
        link=Link("/console", _("Back to the events")),
    )


def registrations_router(
    usecases: UseCases,
    sessions: ConsoleSessions,
    audit: AuditTrail,
    services: OtherServices,
) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    lister = sessions.requires(Permission.LIST_REGISTRATIONS)
    reader = sessions.requires(Permission.READ_PERSONAL_DATA)
    changer = sessions.requires(Permission.CHANGE_REGISTRATIONS)
    exporter = sessions.requires(Permission.EXPORT)

    async def event_of(event_id: str) -> StoredEvent | None:
        try:
            return await usecases.show_event(event_id, admin=True)
        except Refused:
            return None

    async def registration_of(registration_id: str) -> StoredRegistration | None:
        try:
            return await usecases.registration(registration_id)
        except Refused:
            return None

    @router.get(
        "/events/{event_id}/registrations",
        response_class=HTMLResponse,
        summary="The console: an event's registrations (HTML)",
        responses={200: HTML},
    )
    async def registrations(
        request: Request,
        event_id: str,
        principal: Annotated[Principal, lister],
        parameters: Annotated[ListingParameters, Depends(listing_parameters)],
    ) -> Response:
        stored = await event_of(event_id)
        if stored is None:
            return not_found_page(request)
        personal = principal.may(Permission.READ_PERSONAL_DATA)
        query = parameters.query(personal=personal)
        page = await usecases.registrations_page(event_id, query)
        figures = await services.figures(event_id)
        language = of_request(request).language
        await audit.record(
            principal,
            Action.REGISTRATIONS_LISTED,
            event_id=event_id,
            detail=None if personal else WITHOUT_PERSONAL_DATA,
        )
        return console_page(
            request,
            "console/registrations.html",
            title=text(request, _("Registrations")),
            section="events",
            event=stored,
            event_title=stored.spec.title.in_language(language),
            page=page,
            query=query,
            filters=query_parameters(query),
            figures=figure_list(page.statuses, figures),
            missing=[text(request, SERVICE_NAMES[name]) for name in figures.missing],
            columns=sort_columns(event_id, query),
            paging=paging(event_id, query, page),
            personal=personal,
            may_export=principal.may(Permission.EXPORT),
            registered_at=lambda at: format_datetime(at, stored.spec.timezone, language),
            statuses=STATUS_NAMES,
            attendances=ATTENDANCE_NAMES,
            languages=LANGUAGE_NAMES,
            clear_href=listing_href(event_id, ListingQuery()),
        )

    @router.get(
        "/registrations/{registration_id}",
        response_class=HTMLResponse,
        summary="The console: one registration (HTML)",
        responses={200: HTML},
    )
    async def registration(
        request: Request,
        registration_id: str,
        principal: Annotated[Principal, reader],
        done: str | None = None,
    ) -> Response:
        found = await registration_of(registration_id)
        stored = await event_of(found.event_id) if found is not None else None
        if found is None or stored is None:
            return not_found_page(request)
        try:
            mails = await services.mails_of(found.id, found.state.attendance_version)
        except (Unavailable, OSError):
            mails = None
        language = of_request(request).language
        await audit.record(
            principal, Action.REGISTRATION_READ, event_id=found.event_id, registration_id=found.id
        )
        return console_page(
            request,
            "console/registration.html",
            title=_name(request, found),
            section="events",
            registration=found,
            event=stored,
            event_title=stored.spec.title.in_language(language),
            history=found.history,
            mails=mails,
            resendable=RESENDABLE,
            done=done,
            may_change=principal.may(Permission.CHANGE_REGISTRATIONS),
            when=lambda at: moment(at, stored.spec.timezone, language),
            statuses=STATUS_NAMES,
            attendances=ATTENDANCE_NAMES,
            languages=LANGUAGE_NAMES,
            changes=CHANGE_NAMES,
            mail_kinds=MAIL_KINDS,
            mail_states=MAIL_STATES,
        )

    @router.get(
        "/registrations/{registration_id}/{action}",
        response_class=HTMLResponse,
        summary="The console: confirm an action on a registration (HTML)",
        responses={200: HTML},
    )
    async def confirm_action(
        request: Request,
        registration_id: str,
        action: str,
        principal: Annotated[Principal, changer],
        mail: str | None = None,
    ) -> Response:
        found = await registration_of(registration_id)
        if found is None or action not in QUESTIONS or found.erased:
            return not_found_page(request)
        if action == "resend" and (mail is None or not mail.startswith(f"{found.id}:")):
            return not_found_page(request)
        heading, button = QUESTIONS[action]
        return console_page(
            request,
            "console/registration_confirm.html",
            title=text(request, heading, name=_name(request, found)),
            section="events",
            registration=found,
            action=action,
            button=text(request, button),
            mail=mail,
            # One resend per confirmation page: a form sent twice resends once.
            request_id=secrets.token_hex(16),
            to=_other(found.registrant.attendance),
            attendances=ATTENDANCE_NAMES,
        )

    @router.post(
        "/registrations/{registration_id}/{action}",
        response_class=HTMLResponse,
        summary="The console: do an action on a registration (HTML form)",
        responses={303: {"description": "Done: to the registration."}},
    )
    async def act(
        request: Request,
        registration_id: str,
        action: str,
        principal: Annotated[Principal, changer],
    ) -> Response:
        found = await registration_of(registration_id)
        if found is None or action not in QUESTIONS:
            return not_found_page(request)
        form = submitted_form(request)
        try:
            detail = await _do(usecases, services, found, action, form)
        except Refused as refusal:
            return message(
                request, _("This could not be done"), [_refusal_text(refusal)], status=409
            )
        except Unavailable:
            return message(
                request,
                _("This could not be done"),
                [_("The notification service did not answer. Try again in a moment.")],
                status=503,
            )
        await audit.record(
            principal,
            ACTIONS[action],
            event_id=found.event_id,
            registration_id=found.id,
            detail=detail,
        )
        return redirect(f"/console/registrations/{found.id}?done={action}")

    @router.get(
        "/events/{event_id}/export.{format}",
        summary="The console: every registration of the event as CSV or XLSX",
        responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    )
    async def export(
        request: Request,
        event_id: str,
        format: str,
        principal: Annotated[Principal, exporter],
    ) -> Response:
        stored = await event_of(event_id)
        if stored is None or format not in ("csv", "xlsx"):
            return not_found_page(request)
        registrations = await usecases.list_registrations(event_id)
        where = zone(stored.spec.timezone)
        assert where is not None  # a stored event's zone was checked when it was stored
        table = export_table(registrations, where, lambda message: text(request, message))
        await audit.record(
            principal,
            Action.REGISTRATIONS_EXPORTED,
            event_id=event_id,
            detail=export_format(format),
        )
        filename = f"{event_id}-registrations-{date.today().isoformat()}.{format}"
        headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        if format == "csv":
            return Response(table_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
        return Response(table_xlsx(table, event_id), media_type=XLSX, headers=headers)

    return router


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUESTIONS = {
    "cancel": (_("Cancel the registration of %(name)s?"), _("Cancel the registration")),
    "switch": (_("Switch the attendance of %(name)s?"), _("Switch the attendance")),
    "resend": (_("Send the mail to %(name)s again?"), _("Send the mail again")),
    "erase": (_("Erase the personal data of %(name)s?"), _("Erase the personal data")),
}
ACTIONS = {
    "cancel": Action.REGISTRATION_CANCELLED,
    "switch": Action.ATTENDANCE_SWITCHED,
    "resend": Action.MAIL_RESENT,
    "erase": Action.REGISTRATION_ERASED,
}
MAIL_STATES = {
    "pending": _("Waiting to be sent"),
    "waiting": _("Waiting for details"),
    "sending": _("Being sent"),
    "sent": _("Sent"),
    "failed": _("Failed"),
    "skipped": _("Not sent"),
}


def listing_parameters(
    q: str | None = None,
    status: str | None = None,
    attendance: str | None = None,
    language: str | None = None,
    sort: str | None = None,
    page: str | None = None,
) -> ListingParameters:
    """The list's query parameters, each as text: one that means nothing is left at its default.

    A person edits an address by hand or follows an old link; the page then
    shows the list as it would without that value, not a "page not found".
    (The JSON API takes ``ListingParameters`` as it is and names the error.)
    """
    number = int(page) if page is not None and page.isascii() and page.isdigit() else None
    return ListingParameters(
        q=q,
        status=status,
        attendance=attendance,
        language=language,
        sort=sort,
        page=number if number is not None and number <= MAX_PAGE else None,
    )


async def _do(
    usecases: UseCases,
    services: OtherServices,
    registration: StoredRegistration,
    action: str,
    form: dict[str, str],
) -> str | None:
    """Do ``action``; the detail the audit trail records with it (never personal data)."""
    match action:
        case "cancel":
            await usecases.cancel_on_behalf(registration.id)
            return None
        case "switch":
            to = _other(registration.registrant.attendance)
            await usecases.switch_on_behalf(registration.id, to)
            return switched_to(to)
        case "resend":
            mail_id = form.get("mail", "")
            if not mail_id.startswith(f"{registration.id}:"):
                raise Unavailable("not a mail of this registration")
            await services.resend(registration.id, mail_id, form.get("request_id", ""))
            return mail(mail_id.split(":", 1)[1])
        case _:
            await usecases.erase(registration.id)
            return None


def _other(attendance: Attendance) -> Attendance:
    return Attendance.REMOTE if attendance is Attendance.IN_PERSON else Attendance.IN_PERSON


def _name(request: Request, registration: StoredRegistration) -> str:
    if registration.erased:
        return text(request, _("Erased registration"))
    person = registration.registrant
    return f"{person.first_name} {person.last_name}"


def _refusal_text(refusal: Refused) -> str:
    """Why a use case refused, for the organiser (the registrant's own rules apply)."""
    match refusal:
        case EventStarted():
            return _("The event has started: this can no longer be changed.")
        case RegistrationClosed():
            return _("Registration has closed: nobody can switch to attending on site any more.")
        case NotSwitchable():
            return _("A cancelled or unconfirmed registration cannot switch attendance.")
        case Erased():
            return _("The personal data of this registration has been erased.")
        case _:
            return _("The registration changed meanwhile. Open it again and try again.")

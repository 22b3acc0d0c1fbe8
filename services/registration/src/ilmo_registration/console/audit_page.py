"""The console's audit trail page: who did what, newest first, with filters and a CSV download.

``READ_AUDIT`` (organisers). The trail is ``audit.AuditTrail``: a page of
entries older than ``before`` (an entry id: ids sort as time does, and
FerretDB pages by ``_id`` only), filtered by event, action or actor. Opening
the trail (its first page) is recorded as ``audit-read``, the download as
``audit-exported``, as the JSON API does.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_api import audit_csv
from ilmo_registration.audit_details import export_format
from ilmo_registration.console.audit_views import detail_text
from ilmo_registration.console.pages import console_page, text
from ilmo_registration.console.session import ConsoleSessions
from ilmo_registration.page_language import of_request
from ilmo_registration.rendering import PAGE_HEADERS
from ilmo_shared.access import Kind, Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _
from ilmo_shared.localized_time import format_datetime

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
ACTION_NAMES: Mapping[Action, str] = {
    Action.EVENT_CREATED: _("Event created"),
    Action.EVENT_CHANGED: _("Event changed"),
    Action.EVENT_PUBLISHED: _("Event published"),
    Action.EVENT_UNPUBLISHED: _("Event unpublished"),
    Action.EVENT_DUPLICATED: _("Event duplicated"),
    Action.EVENT_CANCELLED: _("Event cancelled"),
    Action.MESSAGE_SENT: _("Message sent to registrants"),
    Action.PRIVACY_NOTICE_CHANGED: _("Privacy notice changed"),
    Action.REGISTRATIONS_LISTED: _("Registrations listed"),
    Action.REGISTRATION_READ: _("Registration read"),
    Action.REGISTRATIONS_EXPORTED: _("Registrations downloaded"),
    Action.REGISTRATION_CANCELLED: _("Registration cancelled"),
    Action.ATTENDANCE_SWITCHED: _("Attendance switched"),
    Action.MAIL_RESENT: _("Mail sent again"),
    Action.REGISTRATION_ERASED: _("Personal data erased"),
    Action.AUDIT_READ: _("Audit trail read"),
    Action.AUDIT_EXPORTED: _("Audit trail downloaded"),
    Action.RETENTION_SWEPT: _("Retention sweep run"),
    Action.CHECKED_IN: _("Check-in at the door"),
}
KIND_NAMES: Mapping[Kind, str] = {
    Kind.PERSON: _("person"),
    Kind.SERVICE: _("service"),
    Kind.DEVELOPMENT: _("development token"),
}
# Longer values name no entry, event, action or actor: the page ignores them.
MAX_BEFORE = 64
MAX_FILTER = 255


def audit_page_router(sessions: ConsoleSessions, audit: AuditTrail) -> APIRouter:
    router = APIRouter(prefix="/console", tags=["console"], route_class=ProblemRoute)
    auditor = sessions.requires(Permission.READ_AUDIT)

    @router.get(
        "/audit",
        response_class=HTMLResponse,
        summary="The console: the audit trail (HTML)",
        responses={200: HTML},
    )
    async def audit_trail(
        request: Request,
        principal: Annotated[Principal, auditor],
        before: str | None = None,
        event_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> Response:
        before = _within(before, MAX_BEFORE)
        event_id, actor = _within(event_id, MAX_FILTER), _within(actor, MAX_FILTER)
        chosen = _action(action)
        filters = {
            "event_id": event_id or "",
            "action": chosen.value if chosen else "",
            "actor": actor or "",
        }
        if before is None:
            await audit.record(principal, Action.AUDIT_READ, event_id=event_id or None)
        page = await audit.page(
            before=before, event_id=event_id or None, actor=actor or None, action=chosen
        )
        language = of_request(request).language
        given = {name: value for name, value in filters.items() if value}
        return console_page(
            request,
            "console/audit.html",
            title=text(request, _("Audit trail")),
            section="audit",
            entries=page.entries,
            filters=filters,
            older=f"/console/audit?{urlencode({**given, 'before': page.before})}"
            if page.before
            else None,
            newest="/console/audit" + (f"?{urlencode(given)}" if given else ""),
            download="/console/audit.csv" + (f"?{urlencode(given)}" if given else ""),
            paged=before is not None,
            actions=ACTION_NAMES,
            kinds=KIND_NAMES,
            at=lambda moment: format_datetime(moment, "Europe/Helsinki", language),
            detail=lambda stored: detail_text(request, stored),
        )

    @router.get(
        "/audit.csv",
        summary="The console: the audit trail as CSV",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def audit_download(
        principal: Annotated[Principal, auditor],
        event_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> StreamingResponse:
        event_id, actor = _within(event_id, MAX_FILTER), _within(actor, MAX_FILTER)
        chosen = _action(action)
        await audit.record(
            principal, Action.AUDIT_EXPORTED, event_id=event_id or None, detail=export_format("csv")
        )
        entries = audit.all(event_id=event_id or None, actor=actor or None, action=chosen)
        return StreamingResponse(
            audit_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="audit.csv"'},
        )

    return router


def _within(value: str | None, limit: int) -> str | None:
    """A filter as given, or none (the default) when it is too long to name anything."""
    return value if value is not None and len(value) <= limit else None


def _action(value: str | None) -> Action | None:
    """The action a filter names; none (every action) for anything else."""
    try:
        return Action(value) if value else None
    except ValueError:
        return None

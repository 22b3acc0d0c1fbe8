"""The audit trail over the JSON API: pages of it, and all of it as CSV (``read-audit``).

Reading the trail is itself recorded: ``audit-read`` when a reading starts
(the first page, without ``before``), ``audit-exported`` for each export.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ilmo_registration.api import NO_STORE, UseCaseRoute
from ilmo_registration.audit import MAX_PAGE_LIMIT, PAGE_LIMIT, Action, AuditEntry, AuditTrail
from ilmo_registration.audit_details import export_format
from ilmo_registration.export import neutralise
from ilmo_registration.schemas import AuditEntryView, AuditPageView
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import problem_responses
from ilmo_shared.identity import Authorization

COLUMNS = tuple(AuditEntryView.model_fields)
EventId = Annotated[str | None, Query(max_length=200)]
Actor = Annotated[str | None, Query(max_length=255, description="The actor's subject.")]
FILTERS = (
    "Filters: `event_id`, `actor` (the actor's subject) and `action`, each optional; the "
    "newest entry first."
)


def audit_router(authorization: Authorization, audit: AuditTrail) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["audit trail"], route_class=UseCaseRoute)

    @router.get(
        "/audit",
        response_model=AuditPageView,
        summary="Read the audit trail, a page at a time",
        description=f"{FILTERS} The first page (no `before`) is recorded as `audit-read`.",
        responses=problem_responses(401, 403, 422),
    )
    async def read_audit(
        principal: Annotated[Principal, authorization.requires(Permission.READ_AUDIT)],
        before: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = PAGE_LIMIT,
        event_id: EventId = None,
        actor: Actor = None,
        action: Action | None = None,
    ) -> AuditPageView:
        if before is None:
            await audit.record(principal, Action.AUDIT_READ, event_id=event_id)
        page = await audit.page(
            before=before, limit=limit, event_id=event_id, actor=actor, action=action
        )
        return AuditPageView.of(page)

    @router.get(
        "/audit.csv",
        summary="Export the audit trail as CSV",
        description=f"{FILTERS} Recorded as `audit-exported`.",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **problem_responses(401, 403, 422),
        },
    )
    async def export_audit(
        principal: Annotated[Principal, authorization.requires(Permission.READ_AUDIT)],
        event_id: EventId = None,
        actor: Actor = None,
        action: Action | None = None,
    ) -> StreamingResponse:
        await audit.record(
            principal, Action.AUDIT_EXPORTED, event_id=event_id, detail=export_format("csv")
        )
        entries = audit.all(event_id=event_id, actor=actor, action=action)
        return StreamingResponse(
            audit_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"', **NO_STORE},
        )

    return router


async def audit_csv(entries: AsyncIterator[AuditEntry]) -> AsyncIterator[str]:
    """The entries as CSV lines, safe to open in a spreadsheet (``export.neutralise``)."""
    yield "\ufeff" + _row(COLUMNS)
    async for entry in entries:
        values = AuditEntryView.of(entry).model_dump(mode="json")
        yield _row(neutralise(str(values[c])) if values[c] is not None else "" for c in COLUMNS)


def _row(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()

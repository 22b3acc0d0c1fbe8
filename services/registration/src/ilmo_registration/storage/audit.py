"""The audit trail's documents: collection ``audit``, append-only.

One document per entry, ``_id`` = ``audit.entry_id`` (the time to the
microsecond and a random suffix), so newest-first paging is a range on
``_id`` sorted by ``_id``, which MongoDB answers from the ``_id`` index
alone. FerretDB v1's SQLite backend (local and tests) pushes neither the
range nor the sort down and reads the whole collection: measured with
10,000 entries, 0.2-0.6 s a page on a busy 2-core machine
(docs/security.md, "Audit trail"). Filtering by event, actor or action
adds conditions the database checks entry by entry (no index of their
own: on MongoDB the ``_id`` scan stops once the page is full).

This class has no update and no delete: nothing in Ilmo can change or
remove an entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_registration.audit import Action, AuditEntry, AuditFilter
from ilmo_shared.access import Kind
from ilmo_shared.storage import Document

AUDIT_COLLECTION = "audit"
EXPORT_BATCH = 500


class AuditStore:
    """Adds entries and reads them newest first; never changes or removes one."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._entries: AsyncCollection[Document] = database[AUDIT_COLLECTION]

    async def append(self, entry: AuditEntry) -> None:
        await self._entries.insert_one(_document(entry))

    async def newest(self, which: AuditFilter, before: str | None, limit: int) -> list[AuditEntry]:
        query = _query(which, before)
        cursor = self._entries.find(query).sort("_id", DESCENDING).limit(limit)
        return [_entry(document) async for document in cursor]

    async def every(self, which: AuditFilter) -> AsyncIterator[AuditEntry]:
        """Page by page, so a long trail is never one huge cursor on the server."""
        before: str | None = None
        while True:
            batch = await self.newest(which, before, EXPORT_BATCH)
            for entry in batch:
                yield entry
            if len(batch) < EXPORT_BATCH:
                return
            before = batch[-1].id


def _query(which: AuditFilter, before: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if before is not None:
        query["_id"] = {"$lt": before}
    if which.event_id is not None:
        query["event_id"] = which.event_id
    if which.actor is not None:
        query["actor.subject"] = which.actor
    if which.action is not None:
        query["action"] = which.action.value
    return query


def _document(entry: AuditEntry) -> dict[str, Any]:
    return {
        "_id": entry.id,
        "at": entry.at,
        "actor": {
            "subject": entry.actor_subject,
            "name": entry.actor_name,
            "kind": entry.actor_kind.value,
        },
        "action": entry.action.value,
        "event_id": entry.event_id,
        "registration_id": entry.registration_id,
        "detail": entry.detail,
    }


def _entry(document: Document) -> AuditEntry:
    actor = document["actor"]
    return AuditEntry(
        id=document["_id"],
        at=document["at"],
        actor_subject=actor["subject"],
        actor_name=actor["name"],
        actor_kind=Kind(actor["kind"]),
        action=Action(document["action"]),
        event_id=document.get("event_id"),
        registration_id=document.get("registration_id"),
        detail=document.get("detail"),
    )

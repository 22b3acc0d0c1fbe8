"""The event catalogue's documents (see the package's docstring)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import (
    EventCancelled,
    EventPublished,
    EventUpdated,
    LocalizedText,
)
from ilmo_event_contracts.events import RETENTION_DAYS
from ilmo_registration.catalogue import EventSpec, announcement, details, normalised
from ilmo_registration.domain import (
    EventCancellation,
    EventExists,
    decide_event_cancellation,
)
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.recent_reads import RecentReads
from ilmo_shared.storage import (
    Decide,
    Document,
    DocumentLocks,
    Keep,
    VersionedDocuments,
    Write,
)

EVENT_COLLECTION = "events"
# Conditional updates that lost to another process are decided again this often.
ATTEMPTS = 5
# An event's cancellation has one envelope id (uuid5 of the event id in this
# namespace): were it ever recorded twice, consumers would see one fact.
_CANCELLATION_IDS = uuid.UUID("0b6c1f52-5a7e-4f0e-9d43-7a2f1c8e6b19")
# Marks on an event document: what the retention sweep has erased, and when.
NEEDS_ERASED = "needs_erased_at"
PERSONAL_DATA_ERASED = "personal_data_erased_at"
T = TypeVar("T")


# ------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class StoredEvent:
    id: str
    revision: int
    spec: EventSpec
    created_at: datetime
    updated_at: datetime


class EventStore:
    """The event catalogue, each event with its pending ``event.*`` facts.

    ``recent`` answers the registrants' paths (registering, confirming, the
    public pages) from events read less than ``recent_seconds`` ago
    (``storage.recent_reads``); every write here forgets the event first,
    so this process never answers from before its own change. ``get`` always
    reads: the organisers' paths and every read-decide-write use it.
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        outbox: Outbox,
        locks: DocumentLocks,
        recent_seconds: float = 0.0,
    ) -> None:
        self.events: AsyncCollection[Document] = database[EVENT_COLLECTION]
        self._outbox = outbox
        self._locks = locks
        self._recent: RecentReads[str, StoredEvent | None] = RecentReads(recent_seconds)
        self._documents = VersionedDocuments(
            self.events, locks=locks, outbox=outbox, version_field="revision", attempts=ATTEMPTS
        )

    async def create_indexes(self) -> None:
        await self.events.create_index([("published", ASCENDING), ("starts_at", ASCENDING)])

    async def create(self, event_id: str, spec: EventSpec, now: datetime) -> StoredEvent:
        """Store a new event with its ``event.published`` fact; EventExists if the id is taken."""
        spec = normalised(spec)
        published = details(EventPublished, event_id, 1, spec)
        document = {
            "_id": event_id,
            "revision": 1,
            **spec.model_dump(),
            "created_at": now,
            "updated_at": now,
            OUTBOX_FIELD: self._outbox.entries(published, announcement(None, published)),
        }
        try:
            await self.events.insert_one(document)
        except DuplicateKeyError:
            raise EventExists(event_id) from None
        finally:
            self._recent.forget(event_id)  # "no such event" may have been read
        self._outbox.inserted(document)
        return StoredEvent(event_id, 1, spec, now, now)

    async def get(self, event_id: str) -> StoredEvent | None:
        document = await self.events.find_one({"_id": event_id}, projection={OUTBOX_FIELD: 0})
        return _stored_event(document) if document is not None else None

    async def recent(self, event_id: str) -> StoredEvent | None:
        """``get``, or what it answered less than ``recent_seconds`` ago (see the class)."""
        return await self._recent.get(event_id, lambda: self.get(event_id))

    async def all(self, *, published_only: bool) -> list[StoredEvent]:
        query = {"published": True} if published_only else {}
        cursor = self.events.find(
            query, projection={OUTBOX_FIELD: 0}, sort=[("starts_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_stored_event(document) async for document in cursor]

    async def change(
        self, event_id: str, change: Callable[[EventSpec], EventSpec], now: datetime
    ) -> tuple[StoredEvent, bool] | None:
        """Apply ``change`` to the stored event: the event and whether it changed.

        None if there is no such event. A change that changes nothing stores
        and publishes nothing. Otherwise the new state, the next revision and
        its ``event.updated`` fact are one conditional write on the revision
        that was read; ``change`` is applied again to what won a conflict.
        """

        def decide(
            document: Document | None,
        ) -> Keep[tuple[StoredEvent, bool] | None] | Write[tuple[StoredEvent, bool] | None]:
            if document is None:
                return Keep(None)
            current = _stored_event(document)
            spec = normalised(change(current.spec))
            if spec == current.spec:
                return Keep((current, False))
            revision = current.revision + 1
            changed = StoredEvent(event_id, revision, spec, current.created_at, now)
            updated = details(EventUpdated, event_id, revision, spec)
            return Write(
                (changed, True),
                fields={**spec.model_dump(), "revision": revision, "updated_at": now},
                events=self._outbox.entries(updated, announcement(current.spec, updated)),
            )

        return await self._changed(event_id, decide)

    async def cancel(
        self, event_id: str, note: LocalizedText | None, now: datetime
    ) -> tuple[StoredEvent, EventCancellation] | None:
        """Cancel the event: the event and what was decided (None if there is no such event).

        ``EventCancellation.CANCEL`` wrote ``cancelled_at`` and the note, the
        next revision, and ``event.cancelled`` in both forms in one
        conditional write; ``ALREADY`` and ``DRAFT`` wrote nothing.
        """

        def decide(
            document: Document | None,
        ) -> (
            Keep[tuple[StoredEvent, EventCancellation] | None]
            | Write[tuple[StoredEvent, EventCancellation] | None]
        ):
            if document is None:
                return Keep(None)
            current = _stored_event(document)
            decision = decide_event_cancellation(
                published=current.spec.published, cancelled=current.spec.cancelled_at is not None
            )
            if decision is not EventCancellation.CANCEL:
                return Keep((current, decision))
            spec = normalised(
                current.spec.model_copy(update={"cancelled_at": now, "cancellation_note": note})
            )
            revision = current.revision + 1
            cancelled = StoredEvent(event_id, revision, spec, current.created_at, now)
            fact = details(EventCancelled, event_id, revision, spec)
            return Write(
                (cancelled, decision),
                fields={**spec.model_dump(), "revision": revision, "updated_at": now},
                events=self._outbox.entries(
                    fact,
                    announcement(current.spec, fact),
                    envelope_id=str(uuid.uuid5(_CANCELLATION_IDS, event_id)),
                ),
            )

        return await self._changed(event_id, decide)

    async def _changed(self, event_id: str, decide: Decide[T]) -> T:
        """``VersionedDocuments.change``, forgetting the event's recent reads (even on failure)."""
        try:
            return await self._documents.change(event_id, decide)
        finally:
            self._recent.forget(event_id)

    # The retention sweep's view of the catalogue, and its marks on events.
    # The catalogue is small (events, not registrations), so the sweep reads
    # all of it, a few fields each, and decides in ``domain.retention_due``.

    async def retention_views(self) -> list[RetentionView]:
        """Every event's end, retention and what the sweep already erased."""
        cursor = self.events.find(
            {},
            projection={
                "ends_at": 1,
                "retention_days": 1,
                NEEDS_ERASED: 1,
                PERSONAL_DATA_ERASED: 1,
            },
        )
        return [
            RetentionView(
                event_id=document["_id"],
                ends_at=document["ends_at"],
                retention_days=int(document.get("retention_days", RETENTION_DAYS)),
                needs_erased=document.get(NEEDS_ERASED) is not None,
                personal_data_erased=document.get(PERSONAL_DATA_ERASED) is not None,
            )
            async for document in cursor
        ]

    async def mark_erased(self, event_id: str, mark: str, now: datetime) -> None:
        """Record on the event that the sweep erased ``mark``'s data of its registrations.

        Not part of the event's content: no revision, no ``event.updated``.
        Under the event's document lock, as every writer of it in this process.
        """
        async with self._locks.hold(self.events.name, event_id):
            await self.events.update_one({"_id": event_id}, {"$set": {mark: now}})


@dataclass(frozen=True)
class RetentionView:
    """What the retention sweep reads of an event: when it ended, and what was erased."""

    event_id: str
    ends_at: datetime
    retention_days: int
    needs_erased: bool
    personal_data_erased: bool


def _stored_event(document: Document) -> StoredEvent:
    return StoredEvent(
        id=document["_id"],
        revision=document["revision"],
        spec=EventSpec.model_validate(document),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )

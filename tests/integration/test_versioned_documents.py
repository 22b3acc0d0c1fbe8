"""``VersionedDocuments`` against the real MongoDB-protocol server: writes that lose, and win.

Another process's write between this one's read and write is made to happen
on purpose, by a collection whose reads let a rival write first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from faststream.rabbit import RabbitExchange
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Attendance, Envelope, RegistrationCancelled
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay
from ilmo_shared.storage import (
    ConcurrentChangeError,
    Decide,
    Document,
    DocumentLocks,
    Keep,
    VersionedDocuments,
    Write,
)
from tests.support.infrastructure import IsolatedInfrastructure

CANCELLED: dict[str, Any] = {
    "registration_id": uuid.UUID(int=1),
    "event_id": "seminar-2026",
    "attendance": Attendance.REMOTE,
    "cancelled_at": "2026-12-01T10:00:00+00:00",
}


class RivalWrites:
    """Runs a rival's write right after each of the first ``times`` reads of a document."""

    def __init__(self, collection: AsyncCollection[Document], times: int) -> None:
        self._collection = collection
        self.times = times
        self.name = collection.name

    async def find_one(self, query: Mapping[str, Any], **options: Any) -> Document | None:
        found = await self._collection.find_one(query, **options)
        if self.times > 0:
            self.times -= 1
            await self._collection.update_one(query, {"$inc": {"version": 1}}, upsert=True)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class RecordingPublisher(EventPublisher):
    """Stands in for the broker: confirms every event at once and remembers its id."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        if exchange is not INTERNAL_EXCHANGE:
            return  # only the internal events are followed here
        self.published.append(envelope.id)


async def _collection(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    database = mongo[f"test_{infrastructure.run_id}_versioned"]
    return database[f"documents_{uuid.uuid4().hex[:8]}"]


def _count(document: Document | None) -> Keep[int] | Write[int]:
    """Add one to ``count``; keep it once it is 3."""
    count = int(document["count"]) if document is not None else 0
    if count >= 3:
        return Keep(count)
    return Write(count + 1, {"count": count + 1})


async def test_a_write_inserts_then_updates_and_a_kept_change_writes_nothing(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = await _collection(mongo, infrastructure)
    documents = VersionedDocuments(collection, locks=DocumentLocks())

    assert [await documents.change("a", _count) for _ in range(4)] == [1, 2, 3, 3]
    stored = await collection.find_one({"_id": "a"})
    assert stored is not None
    assert (stored["count"], stored["version"]) == (3, 3)


async def test_a_write_that_loses_to_a_rival_is_decided_again_from_what_won(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = await _collection(mongo, infrastructure)
    await collection.insert_one({"_id": "a", "count": 0, "version": 1})
    rival = RivalWrites(collection, times=2)
    conflicts: list[int] = []
    documents = VersionedDocuments(
        rival,  # type: ignore[arg-type]  # a collection whose reads let a rival in
        locks=DocumentLocks(),
        on_conflict=lambda: conflicts.append(1),
    )

    assert await documents.change("a", _count) == 1
    stored = await collection.find_one({"_id": "a"})
    assert stored is not None
    # Two rival increments, then this write on top of the third read's version.
    assert (stored["count"], stored["version"]) == (1, 4)
    assert len(conflicts) == 2


async def test_a_document_that_keeps_changing_gives_up_with_concurrent_change_error(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = await _collection(mongo, infrastructure)
    await collection.insert_one({"_id": "a", "count": 0, "version": 1})
    documents = VersionedDocuments(
        RivalWrites(collection, times=100),  # type: ignore[arg-type]
        locks=DocumentLocks(),
        attempts=3,
    )

    with pytest.raises(ConcurrentChangeError, match="3 conflicting writes"):
        await documents.change("a", _count)
    stored = await collection.find_one({"_id": "a"})
    assert stored is not None
    assert stored["count"] == 0


async def test_a_condition_that_no_longer_holds_is_a_lost_write(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = await _collection(mongo, infrastructure)
    await collection.insert_one({"_id": "a", "count": 0, "version": 1, "open": False})
    documents = VersionedDocuments(collection, locks=DocumentLocks(), attempts=2)

    def only_while_open(document: Document | None) -> Write[int]:
        return Write(1, {"count": 1}, condition={"open": True})

    with pytest.raises(ConcurrentChangeError):
        await documents.change("a", only_while_open)


async def test_events_written_wake_the_relay_for_that_document_and_a_version_can_be_given(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = await _collection(mongo, infrastructure)
    publisher = RecordingPublisher()
    relay = OutboxRelay(publisher)
    outbox = relay.outbox(collection, source="ilmo/test")
    documents = VersionedDocuments(
        collection, locks=relay.locks, outbox=outbox, version_field="revision"
    )
    await collection.insert_one({"_id": "elsewhere", "revision": 1, OUTBOX_FIELD: []})
    cancelled = RegistrationCancelled(**CANCELLED)
    # A fact without an integration form: one internal entry each.
    entries = [outbox.entries(cancelled, None, envelope_id=f"cancelled-{n}")[0] for n in (1, 2)]

    def revise(entry: dict[str, Any]) -> Decide[str]:
        return lambda document: Write("written", {"revision": 7}, events=[entry])

    assert await documents.change("a", revise(entries[0])) == "written"
    assert await documents.change("a", revise(entries[1])) == "written"
    stored = await collection.find_one({"_id": "a"})
    assert stored is not None
    # The revision came from the fields both times (no increment), and each
    # write appended its entry with the id it was given.
    assert stored["revision"] == 7
    assert [e["envelope"]["id"] for e in stored[OUTBOX_FIELD]] == ["cancelled-1", "cancelled-2"]
    # The writes named the document: the relay's next pass reads it alone, no sweep.
    assert await relay.publish_named() == 2
    assert publisher.published == ["cancelled-1", "cancelled-2"]

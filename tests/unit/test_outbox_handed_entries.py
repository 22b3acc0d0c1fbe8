"""What the outbox relay reads: nothing for entries handed to it, the document for a bare name.

The integration tests (tests/integration/test_outbox.py) publish through the
real broker; here a recording collection shows the database commands a
named pass makes, which is what the handed entries save on FerretDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from faststream.rabbit import RabbitBroker, RabbitExchange
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Attendance, Envelope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay, outbox_entry
from tests.support.capacity import accepted


class RecordingCollection:
    """The few collection methods a named pass uses, recording each command."""

    name = "things"

    def __init__(self, stored: dict[str, list[dict[str, Any]]]) -> None:
        self.stored = stored
        self.commands: list[tuple[str, str]] = []

    async def find_one(self, query: Mapping[str, Any], **_: Any) -> dict[str, Any] | None:
        self.commands.append(("find", query["_id"]))
        entries = self.stored.get(query["_id"])
        return None if entries is None else {"_id": query["_id"], OUTBOX_FIELD: list(entries)}

    def find(self, _query: Mapping[str, Any], **_: Any) -> AsyncIterator[dict[str, Any]]:
        """A sweep's read; ``during_sweep`` runs as it reads (a write landing meanwhile)."""
        self.commands.append(("sweep", "*"))
        self.during_sweep()
        found = [{"_id": i, OUTBOX_FIELD: list(e)} for i, e in self.stored.items() if e]

        async def documents() -> AsyncIterator[dict[str, Any]]:
            for document in found:
                yield document

        return documents()

    def during_sweep(self) -> None:
        return None

    async def update_one(self, query: Mapping[str, Any], update: Mapping[str, Any]) -> None:
        self.commands.append(("update", query["_id"]))
        removed = update["$pullAll"][OUTBOX_FIELD]
        self.stored[query["_id"]] = [e for e in self.stored[query["_id"]] if e not in removed]


class RecordingPublisher(EventPublisher):
    def __init__(self) -> None:
        super().__init__(RabbitBroker(logger=None))
        self.published: list[str] = []

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        self.published.append(envelope.id)


def entry() -> dict[str, Any]:
    return outbox_entry(accepted("seminar-2026", attendance=Attendance.REMOTE), source="ilmo/test")


def relay_over(collection: RecordingCollection) -> tuple[OutboxRelay, RecordingPublisher]:
    publisher = RecordingPublisher()
    relay = OutboxRelay(publisher, [cast(AsyncCollection[Mapping[str, Any]], collection)])
    return relay, publisher


async def test_handed_entries_are_published_in_the_order_written_without_a_read() -> None:
    earlier, first, second = entry(), entry(), entry()
    collection = RecordingCollection({"a": [earlier, first, second]})
    relay, publisher = relay_over(collection)
    relay.wake("things", "a", [first])
    relay.wake("things", "a", [second])

    assert await relay.publish_named() == 2
    assert publisher.published == [first["envelope"]["id"], second["envelope"]["id"]]
    assert collection.commands == [("update", "a")]  # one removal, no find
    assert collection.stored["a"] == [earlier]


async def test_a_bare_name_reads_the_document_and_publishes_all_it_holds() -> None:
    earlier, handed = entry(), entry()
    collection = RecordingCollection({"a": [earlier, handed], "b": [entry()]})
    relay, publisher = relay_over(collection)
    relay.wake("things", "b", [collection.stored["b"][0]])
    relay.wake("things", "a", [handed])
    relay.wake("things", "a")  # another write of "a" handed nothing

    assert await relay.publish_named() == 3
    assert publisher.published[1:] == [earlier["envelope"]["id"], handed["envelope"]["id"]]
    assert sorted(collection.commands) == [("find", "a"), ("update", "a"), ("update", "b")]
    assert collection.stored == {"a": [], "b": []}


async def test_entries_a_sweep_found_while_they_were_handed_are_published_once() -> None:
    written, later = entry(), entry()
    collection = RecordingCollection({})
    relay, publisher = relay_over(collection)

    def write_lands() -> None:
        # Stored before the sweep's read, handed after it had begun.
        collection.stored["a"] = [written]
        relay.wake("things", "a", [written])

    collection.during_sweep = write_lands  # type: ignore[method-assign]
    assert await relay.publish_pending() == 1
    relay.wake("things", "a", [later])  # a later write of the same document still goes out
    collection.stored["a"].append(later)

    assert await relay.publish_named() == 1
    assert publisher.published == [written["envelope"]["id"], later["envelope"]["id"]]
    assert collection.stored["a"] == []

"""The outbox relay against the real MongoDB-protocol server and the real broker."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker, RabbitExchange
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Attendance, Envelope, Language, RegistrationAccepted
from ilmo_event_contracts.integration import integration_form
from ilmo_shared.logging import correlation_scope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay, outbox_entries, outbox_entry
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually


def accepted() -> RegistrationAccepted:
    return RegistrationAccepted(
        registration_id=uuid.uuid4(),
        event_id="seminar-2026",
        attendance=Attendance.IN_PERSON,
        language=Language.FI,
        first_name="Matti",
        last_name="Meikäläinen",
        email="matti@example.fi",
        registered_at=datetime.now(UTC),
    )


@pytest.fixture
async def collection(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    return mongo[infrastructure.database_name("outbox")][f"things_{uuid.uuid4().hex[:6]}"]


@pytest.fixture
async def broker(infrastructure: IsolatedInfrastructure) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    await broker.connect()
    yield broker
    await broker.stop()


async def test_relay_publishes_stored_events_once_confirmed_and_empties_the_outbox(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    events = [accepted() for _ in range(3)]
    with correlation_scope("corr-outbox"):
        entries = [outbox_entry(event, source="ilmo/test") for event in events]
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: entries[:2]})
    await collection.insert_one({"_id": "b", OUTBOX_FIELD: entries[2:]})
    await collection.insert_one({"_id": "c", OUTBOX_FIELD: []})

    relay = OutboxRelay(EventPublisher(broker), [collection])
    async with event_tap(infrastructure.amqp_url) as tap:
        assert await relay.publish_pending() == 3
        seen = await tap.wait_for(3)
    assert sorted(m.message_id or "" for m in seen) == sorted(e["envelope"]["id"] for e in entries)
    assert {m.correlation_id for m in seen} == {"corr-outbox"}
    assert await collection.count_documents({f"{OUTBOX_FIELD}.0": {"$exists": True}}) == 0
    assert await relay.publish_pending() == 0


async def test_entries_added_during_a_pass_wait_for_the_next_one(
    collection: AsyncCollection[Document], broker: RabbitBroker
) -> None:
    first, late = outbox_entry(accepted(), source="t"), outbox_entry(accepted(), source="t")
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [first]})

    class AppendingPublisher(EventPublisher):
        """Appends a new entry to the document while the relay is publishing."""

        async def publish(
            self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
        ) -> None:
            await collection.update_one({"_id": "a"}, {"$push": {OUTBOX_FIELD: late}})

    relay = OutboxRelay(AppendingPublisher(broker), [collection])
    assert await relay.publish_pending() == 1
    document = await collection.find_one({"_id": "a"})
    assert document is not None
    assert [e["envelope"]["id"] for e in document[OUTBOX_FIELD]] == [late["envelope"]["id"]]


async def test_republishing_after_a_crash_reuses_the_same_event_id(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    entry = outbox_entry(accepted(), source="ilmo/test")
    publisher = EventPublisher(broker)

    class CrashAfterPublish(EventPublisher):
        async def publish(
            self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
        ) -> None:
            await publisher.publish(envelope, body, exchange=exchange)
            raise ConnectionError("process died before removing the entry")

    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [entry]})
    async with event_tap(infrastructure.amqp_url) as tap:
        with pytest.raises(ConnectionError):
            await OutboxRelay(CrashAfterPublish(broker), [collection]).publish_pending()
        assert await OutboxRelay(publisher, [collection]).publish_pending() == 1
        seen = await tap.wait_for(2)
    assert {m.message_id for m in seen} == {entry["envelope"]["id"]}


async def test_a_named_document_is_published_without_a_sweep_and_the_sweep_finds_the_rest(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    named, unnamed = outbox_entry(accepted(), source="t"), outbox_entry(accepted(), source="t")
    relay = OutboxRelay(EventPublisher(broker), [collection])
    await collection.insert_one({"_id": "named", OUTBOX_FIELD: [named]})
    await collection.insert_one({"_id": "left-by-a-crash", OUTBOX_FIELD: [unnamed]})
    relay.wake(collection.name, "named")
    relay.wake(collection.name, "gone")  # a named document that is not there is no error
    async with event_tap(infrastructure.amqp_url) as tap:
        assert await relay.publish_named() == 1
        assert [m.message_id for m in await tap.wait_for(1)] == [named["envelope"]["id"]]
        assert await relay.publish_named() == 0  # each name is read once
        assert await relay.publish_pending() == 1
        seen = await tap.wait_for(2)
    assert [m.message_id for m in seen][1] == unnamed["envelope"]["id"]


async def test_only_documents_whose_every_entry_was_confirmed_are_emptied(
    collection: AsyncCollection[Document], broker: RabbitBroker
) -> None:
    good, bad = outbox_entry(accepted(), source="t"), outbox_entry(accepted(), source="t")
    await collection.insert_one({"_id": "good", OUTBOX_FIELD: [good]})
    await collection.insert_one({"_id": "bad", OUTBOX_FIELD: [bad]})
    publisher = EventPublisher(broker)

    class RefusesOne(EventPublisher):
        async def publish(
            self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
        ) -> None:
            if envelope.id == bad["envelope"]["id"]:
                raise ConnectionError("not confirmed")
            await publisher.publish(envelope, body, exchange=exchange)

    with pytest.raises(ConnectionError):
        await OutboxRelay(RefusesOne(broker), [collection]).publish_pending()
    left = {d["_id"]: d[OUTBOX_FIELD] async for d in collection.find({})}
    assert left == {"good": [], "bad": [bad]}


async def test_entries_go_to_the_exchange_they_name_and_older_entries_to_the_internal_one(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    # An entry written before there were two exchanges names none.
    older = outbox_entry(accepted(), source="t")
    event = accepted()
    internal, public = outbox_entries(event, integration_form(event), source="t")
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [older, internal, public]})
    ids = {entry["envelope"]["id"] for entry in (older, internal, public)}
    async with (
        event_tap(infrastructure.amqp_url) as inside,
        event_tap(infrastructure.amqp_url, exchange="ilmo.events") as outside,
    ):
        assert await OutboxRelay(EventPublisher(broker), [collection]).publish_pending() == 3

        async def arrived() -> bool:
            await inside.take_arrived()
            await outside.take_arrived()
            seen = {m.message_id for m in [*inside.messages, *outside.messages]}
            return ids <= seen

        await eventually(arrived, what="the three entries on their exchanges")
    assert {m.message_id for m in inside.messages} & ids == {
        older["envelope"]["id"],
        internal["envelope"]["id"],
    }
    assert {m.message_id for m in outside.messages} & ids == {public["envelope"]["id"]}
    [seen] = [m for m in outside.messages if m.message_id == public["envelope"]["id"]]
    assert "matti@example.fi" not in seen.body.decode()


async def outbox_of(collection: AsyncCollection[Document], document_id: str) -> list[Any]:
    document = await collection.find_one({"_id": document_id})
    assert document is not None
    return list(document[OUTBOX_FIELD])


async def test_handed_entries_are_published_as_handed_and_exactly_they_are_removed(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    # "earlier" is in the document but not handed: publishing it would mean
    # the relay read the document back.
    earlier, first, second = (outbox_entry(accepted(), source="t") for _ in range(3))
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [earlier, first, second]})
    relay = OutboxRelay(EventPublisher(broker), [collection])
    relay.wake(collection.name, "a", [first])
    relay.wake(collection.name, "a", [second])  # a second write before the pass
    async with event_tap(infrastructure.amqp_url) as tap:
        assert await relay.publish_named() == 2
        seen = await tap.wait_for(2)
    assert [m.message_id for m in seen] == [first["envelope"]["id"], second["envelope"]["id"]]
    assert await outbox_of(collection, "a") == [earlier]


async def test_a_document_named_without_entries_is_read_back_whatever_else_was_handed(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    earlier, handed = outbox_entry(accepted(), source="t"), outbox_entry(accepted(), source="t")
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [earlier, handed]})
    relay = OutboxRelay(EventPublisher(broker), [collection])
    relay.wake(collection.name, "a", [handed])
    relay.wake(collection.name, "a")
    async with event_tap(infrastructure.amqp_url) as tap:
        assert await relay.publish_named() == 2
        await tap.wait_for(2)
    assert await outbox_of(collection, "a") == []


async def test_handed_entries_whose_publishing_failed_go_out_with_the_sweep_after_it(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    entry = outbox_entry(accepted(), source="t")
    publisher = EventPublisher(broker)
    attempts: list[str] = []

    class FailsOnce(EventPublisher):
        async def publish(
            self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
        ) -> None:
            attempts.append(envelope.id)
            if len(attempts) == 1:
                raise ConnectionError("broker went away")
            await publisher.publish(envelope, body, exchange=exchange)

    # No periodic sweep in this test, and the start sweep is done before the write.
    relay = OutboxRelay(FailsOnce(broker), [collection], sweep_interval=3600, poll_interval=0.05)
    assert await relay.publish_pending() == 0
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: [entry]})
    relay.wake(collection.name, "a", [entry])
    async with event_tap(infrastructure.amqp_url) as tap:
        relay.start()
        try:
            seen = await tap.wait_for(1)

            async def emptied() -> bool:
                return await outbox_of(collection, "a") == []

            await eventually(emptied, what="the outbox emptied by the sweep")
        finally:
            await relay.stop()
    # The named pass failed and forgot the name: only the sweep could find it again.
    assert attempts == [entry["envelope"]["id"]] * 2
    assert [m.message_id for m in seen] == [entry["envelope"]["id"]]


# A writer in a process of its own: it stores a document with its entries,
# hands them to its relay, and dies before the relay's first pass.
_DYING_WRITER = """
import asyncio, os, sys
from datetime import UTC, datetime
import uuid
from faststream.rabbit import RabbitBroker
from ilmo_event_contracts import Attendance, Language, RegistrationAccepted
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay
from ilmo_shared.storage import connect

async def main() -> None:
    url, database, name = sys.argv[1:4]
    collection = connect(url)[database][name]
    relay = OutboxRelay(EventPublisher(RabbitBroker(logger=None)))
    outbox = relay.outbox(collection, source="ilmo/test")
    event = RegistrationAccepted(
        registration_id=uuid.uuid4(), event_id="seminar-2026", attendance=Attendance.REMOTE,
        language=Language.FI, first_name="Maija", last_name="Meikäläinen",
        email="maija@example.fi", registered_at=datetime.now(UTC),
    )
    document = {"_id": "written", OUTBOX_FIELD: outbox.entries(event, None)}
    await collection.insert_one(document)
    outbox.inserted(document)
    print(document[OUTBOX_FIELD][0]["envelope"]["id"], flush=True)
    os._exit(0)  # dies before the relay's pass: no stop(), no last sweep

asyncio.run(main())
"""


async def test_nothing_is_lost_when_the_writers_process_dies_before_the_relay_pass(
    infrastructure: IsolatedInfrastructure,
    collection: AsyncCollection[Document],
    broker: RabbitBroker,
) -> None:
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _DYING_WRITER,
        infrastructure.mongodb_url,
        collection.database.name,
        collection.name,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await writer.communicate()
    assert writer.returncode == 0
    envelope_id = out.decode().strip()
    assert len(await outbox_of(collection, "written")) == 1

    # The service's next process: its relay sweeps at start.
    relay = OutboxRelay(EventPublisher(broker), [collection], sweep_interval=3600)
    async with event_tap(infrastructure.amqp_url) as tap:
        relay.start()
        try:
            seen = await tap.wait_for(1)
        finally:
            await relay.stop()
    assert [m.message_id for m in seen] == [envelope_id]
    assert await outbox_of(collection, "written") == []


async def test_entries_nobody_named_are_found_by_the_periodic_sweep(
    collection: AsyncCollection[Document], broker: RabbitBroker
) -> None:
    unnamed = outbox_entry(accepted(), source="t")
    relay = OutboxRelay(
        EventPublisher(broker), [collection], sweep_interval=0.5, poll_interval=0.05
    )
    assert await relay.publish_pending() == 0  # the start sweep, done before the write
    await collection.insert_one({"_id": "left-by-another-replica", OUTBOX_FIELD: [unnamed]})
    relay.start()
    try:

        async def emptied() -> bool:
            return await outbox_of(collection, "left-by-another-replica") == []

        await eventually(emptied, what="the periodic sweep")
    finally:
        await relay.stop()


async def test_a_write_applied_after_the_start_sweep_is_found_by_the_follow_up_sweep(
    collection: AsyncCollection[Document], broker: RabbitBroker
) -> None:
    """A killed process's write, applied by the database after its successor swept.

    Nobody names it and the periodic sweep is an hour away: the sweep once
    more after start publishes it.
    """
    relay = OutboxRelay(
        EventPublisher(broker), [collection], sweep_interval=3600, follow_up=1.0, poll_interval=0.05
    )
    assert await relay.publish_pending() == 0  # the start sweep, done before the write landed
    late = outbox_entry(accepted(), source="t")
    await collection.insert_one({"_id": "applied-late", OUTBOX_FIELD: [late]})
    relay.start()
    try:

        async def emptied() -> bool:
            return await outbox_of(collection, "applied-late") == []

        await eventually(emptied, what="the follow-up sweep")
    finally:
        await relay.stop()

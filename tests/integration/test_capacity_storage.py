"""The seat inventory store against the real MongoDB-protocol server (FerretDB locally)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest
from faststream.rabbit import RabbitBroker, RabbitExchange
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, BulkWriteError

from ilmo_capacity.domain import SeatInventory, SeatReleased, SeatReserved, SeatWaitlisted
from ilmo_capacity.storage import (
    COLLECTION,
    Operation,
    SeatInventoryStore,
    snapshot_id,
    to_document,
)
from ilmo_event_contracts import Envelope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import EXCHANGE_FIELD, OUTBOX_FIELD, OutboxRelay, integration_envelope_id
from ilmo_shared.storage import ConcurrentChangeError, Document
from tests.support.infrastructure import IsolatedInfrastructure

SOURCE = "ilmo/capacity"


@pytest.fixture
async def database(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncDatabase[Document]:
    return mongo[infrastructure.database_name(f"capacity_store_{uuid.uuid4().hex[:6]}")]


@pytest.fixture
async def idle_broker(infrastructure: IsolatedInfrastructure) -> AsyncIterator[RabbitBroker]:
    """A broker object for publishers that record instead of sending."""
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    yield broker
    await broker.stop()


class RecordingPublisher(EventPublisher):
    """Stands in for the broker: keeps what the relay would have published."""

    def __init__(self, broker: RabbitBroker) -> None:
        super().__init__(broker)
        self.published: list[tuple[Envelope, dict[str, Any]]] = []

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        if exchange is not INTERNAL_EXCHANGE:
            return  # only the internal events are followed here
        await asyncio.sleep(0)  # let other writers interleave, as real I/O would
        self.published.append((envelope, json.loads(body)))


@pytest.fixture
def publisher(idle_broker: RabbitBroker) -> RecordingPublisher:
    return RecordingPublisher(idle_broker)


def replica(
    database: AsyncDatabase[Document], publisher: EventPublisher, **options: Any
) -> tuple[SeatInventoryStore, OutboxRelay]:
    """A store as one process has it: with its own relay, whose locks it shares."""
    relay = OutboxRelay(publisher)
    outbox = relay.outbox(database[COLLECTION], source=SOURCE)
    return SeatInventoryStore(database, outbox=outbox, locks=relay.locks, **options), relay


@pytest.fixture
async def store(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> SeatInventoryStore:
    store, _ = replica(database, publisher)
    await store.create_indexes()
    return store


def new_id() -> str:
    return str(uuid.uuid4())


def request(registration_id: str) -> Operation:
    return lambda seats: seats.request_seat(registration_id)


def cancel(registration_id: str) -> Operation:
    return lambda seats: seats.cancel(registration_id)


async def outbox_events(store: SeatInventoryStore, event_id: str) -> list[tuple[str, Any]]:
    """Every internal event waiting in the outboxes of ``event_id``, snapshot by snapshot."""
    found: list[tuple[str, Any]] = []
    async for document in store.inventories.find({"event_id": event_id}, sort=[("version", 1)]):
        for entry in document[OUTBOX_FIELD]:
            if EXCHANGE_FIELD not in entry:
                found.append((entry["envelope"]["type"], json.loads(entry["data"])))
    return found


async def test_a_decision_is_stored_with_its_events_in_one_versioned_snapshot(
    store: SeatInventoryStore,
) -> None:
    first, second = new_id(), new_id()
    await store.decide("seminar", lambda seats: seats.set_capacity(1))
    outcome = await store.decide("seminar", lambda seats: seats.request_seat(first))
    assert outcome.written
    assert outcome.decisions == (SeatReserved(first),)
    await store.decide("seminar", lambda seats: seats.request_seat(second))

    stored = await store.load("seminar")
    assert stored is not None
    assert stored.version == 3
    assert (stored.inventory.capacity, stored.inventory.holders) == (1, [first])
    assert stored.inventory.waiting == [second]
    latest = await store.inventories.find_one({"_id": "seminar@000000000003"})
    assert latest is not None
    [entry, integration_entry] = latest[OUTBOX_FIELD]
    # The same fact for outside systems, on ilmo.events, under an id derived from the internal one.
    assert integration_entry[EXCHANGE_FIELD] == "ilmo.events"
    public = Envelope.model_validate(integration_entry["envelope"])
    assert public.id == integration_envelope_id(entry["envelope"]["id"])
    assert public.dataschema == "urn:ilmo:schema:integration:seat.waitlisted:v1"
    envelope = Envelope.model_validate(entry["envelope"])
    assert (envelope.type, envelope.source, envelope.subject) == ("seat.waitlisted", SOURCE, second)
    assert envelope.dataschema == "urn:ilmo:schema:seat.waitlisted:v1"
    data = json.loads(entry["data"])
    assert (data["registration_id"], data["event_id"], data["position"]) == (second, "seminar", 1)
    announced = await outbox_events(store, "seminar")
    assert [(kind, data["registration_id"]) for kind, data in announced] == [
        ("seat.reserved", first),
        ("seat.waitlisted", second),
    ]


async def test_a_stored_decision_names_its_snapshot_to_the_relay(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    store, relay = replica(database, publisher)
    await store.create_indexes()
    await store.decide("seminar", lambda seats: seats.set_capacity(1))  # announces nothing
    assert await relay.publish_named() == 0
    await store.decide("seminar", request(new_id()))
    await store.decide("seminar", request(new_id()))
    # Without a sweep: the relay reads just the two snapshots it was told of
    # (each with its decision in two forms, internal and integration).
    assert await relay.publish_named() == 4
    assert [envelope.type for envelope, _ in publisher.published] == [
        "seat.reserved",
        "seat.waitlisted",
    ]


async def test_nothing_is_written_when_nothing_changes_or_the_message_was_applied(
    store: SeatInventoryStore,
) -> None:
    someone = new_id()
    await store.decide("seminar", lambda seats: seats.set_capacity(5), message_id="m-1")
    await store.decide("seminar", lambda seats: seats.request_seat(someone), message_id="m-2")

    repeat = await store.decide("seminar", lambda seats: seats.request_seat(someone))
    assert (repeat.written, repeat.decisions, repeat.stored.version) == (False, (), 2)

    # The same message again, even with an operation that would change something.
    redelivered = await store.decide(
        "seminar", lambda seats: seats.request_seat(new_id()), message_id="m-2"
    )
    assert redelivered.duplicate
    assert not redelivered.written
    assert await store.inventories.count_documents({"event_id": "seminar"}) == 2


async def test_an_unknown_event_has_no_inventory_until_something_happens_to_it(
    store: SeatInventoryStore,
) -> None:
    assert await store.load("nobody-knows") is None
    early = new_id()
    await store.decide("early", lambda seats: seats.request_seat(early))
    stored = await store.load("early")
    assert stored is not None
    assert (stored.inventory.capacity, stored.inventory.pending) == (None, [early])
    # A request pending for the capacity announces nothing yet.
    assert await outbox_events(store, "early") == []


async def test_a_writer_that_decided_from_a_stale_state_loses_and_decides_again(
    store: SeatInventoryStore, database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    first, second = new_id(), new_id()
    await store.decide("seminar", lambda seats: seats.set_capacity(1))
    other_replica, _ = replica(database, publisher)
    assert await other_replica.load("seminar") is not None  # it now knows version 1
    await store.decide("seminar", request(first))  # version 2, unknown to the other one

    outcome = await other_replica.decide("seminar", request(second))
    assert outcome.conflicts == 1
    # Decided again from the state with ``first`` seated: no second seat is reserved.
    assert outcome.decisions == (SeatWaitlisted(second, 1),)
    stored = await store.load("seminar")
    assert stored is not None
    assert stored.version == 3
    assert (stored.inventory.holders, stored.inventory.waiting) == ([first], [second])


class Ticking:
    """A monotonic clock that jumps ``step`` seconds on every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_a_writer_never_inserts_from_a_state_older_than_its_freshness(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    """Every state this writer reads is already too old when it wants to write it."""
    slow, _ = replica(database, publisher, monotonic=Ticking(10.0), max_attempts=3)
    with pytest.raises(ConcurrentChangeError):
        await slow.decide("seminar", lambda seats: seats.set_capacity(1))
    assert await slow.inventories.count_documents({}) == 0


def test_retention_must_be_well_above_freshness(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    with pytest.raises(ValueError, match="retention"):
        replica(database, publisher, freshness=30, retention=timedelta(minutes=1))


@pytest.mark.parametrize("replicas", [1, 30], ids=["one-process", "thirty-processes"])
async def test_concurrent_requests_never_oversell(
    database: AsyncDatabase[Document], publisher: RecordingPublisher, replicas: int
) -> None:
    """30 requests at once for 5 seats: exactly 5 seats, 25 distinct places in line.

    With one store the per-event lock serializes them; with one store per
    request (as if from 30 processes, with no shared lock) only the unique
    version stands between them and overselling.
    """
    stores = [replica(database, publisher)[0] for _ in range(replicas)]
    await stores[0].create_indexes()
    await stores[0].decide("seminar", lambda seats: seats.set_capacity(5))
    people = [new_id() for _ in range(30)]

    outcomes = await asyncio.gather(
        *(
            stores[n % replicas].decide("seminar", request(person))
            for n, person in enumerate(people)
        )
    )

    decisions = [d for outcome in outcomes for d in outcome.decisions]
    reserved = [d for d in decisions if isinstance(d, SeatReserved)]
    waitlisted = [d for d in decisions if isinstance(d, SeatWaitlisted)]
    assert len(reserved) == 5
    assert sorted(d.position for d in waitlisted) == list(range(1, 26))
    stored = await stores[0].load("seminar")
    assert stored is not None
    assert stored.version == 31
    assert len(stored.inventory.holders) == 5
    assert len(stored.inventory.waiting) == 25
    assert sorted([*stored.inventory.holders, *stored.inventory.waiting]) == sorted(people)
    # What was announced agrees with what was stored.
    announced = await outbox_events(stores[0], "seminar")
    assert sorted(
        data["registration_id"] for kind, data in announced if kind == "seat.reserved"
    ) == (sorted(stored.inventory.holders))
    positions = {
        data["registration_id"]: data["position"]
        for kind, data in announced
        if kind == "seat.waitlisted"
    }
    assert positions == {r: n for n, r in enumerate(stored.inventory.waiting, start=1)}
    if replicas > 1:
        assert sum(outcome.conflicts for outcome in outcomes) > 0, "no race was exercised"


async def test_the_relay_never_undoes_a_decision(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    """Relay passes running between decisions (the race that in-place updates lose on FerretDB)."""
    store, relay = replica(database, publisher)
    await store.create_indexes()
    await store.decide("seminar", lambda seats: seats.set_capacity(10))
    people = [new_id() for _ in range(40)]
    deciding = True

    async def relay_continuously() -> None:
        while deciding:
            await relay.publish_pending()
            await asyncio.sleep(0)

    relaying = asyncio.create_task(relay_continuously())
    for person in people:
        await store.decide("seminar", request(person))
        await asyncio.sleep(0)
    for person in people[:15] + people[35:]:
        await store.decide("seminar", cancel(person))
    deciding = False
    await relaying
    await relay.publish_pending()

    stored = await store.load("seminar")
    assert stored is not None
    assert stored.inventory.holders == people[15:25]
    assert stored.inventory.waiting == people[25:35]
    assert stored.version == 1 + 40 + 20
    published_ids = [envelope.id for envelope, _ in publisher.published]
    kinds: dict[str, int] = {}
    for envelope, _ in {e.id: (e, d) for e, d in publisher.published}.values():
        kinds[envelope.type] = kinds.get(envelope.type, 0) + 1
    # 10 seats then 30 in line; 15 released, each promoting one; 5 left the line.
    assert kinds == {
        "seat.reserved": 25,
        "seat.waitlisted": 30,
        "seat.released": 15,
        "waitlist.left": 5,
    }
    # Nothing came back to be published twice.
    assert len(published_ids) == len(set(published_ids)) == 75
    assert await store.inventories.count_documents({f"{OUTBOX_FIELD}.0": {"$exists": True}}) == 0
    # A head holds counts, never the holders.
    superseded = await store.inventories.find_one({"_id": "seminar@000000000010"})
    assert superseded is not None
    assert (superseded["reserved"], superseded["waiting"]) == (9, 0)
    assert "holders" not in superseded


class Wall:
    """A wall clock the test moves forward."""

    def __init__(self) -> None:
        self.now = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_superseded_heads_are_deleted_once_published_and_old(
    database: AsyncDatabase[Document], publisher: RecordingPublisher
) -> None:
    wall = Wall()
    store, relay = replica(database, publisher, clock=wall, prune_every=8)
    await store.create_indexes()
    await store.decide("seminar", lambda seats: seats.set_capacity(100))
    for _ in range(6):
        await store.decide("seminar", request(new_id()))  # versions 2..7
    await relay.publish_pending()
    young = new_id()
    await store.decide("seminar", request(young))  # version 8: prunes, but nothing is old yet
    assert await store.inventories.count_documents({"event_id": "seminar"}) == 8
    latest = await store.inventories.find_one({"_id": "seminar@000000000008"})
    assert latest is not None
    assert latest["reserved"] == 7
    # The head names the record it added: the newcomer's seat.
    [placement] = latest["changes"]
    assert (placement["registration_id"], placement["place"]) == (young, "seat")

    for _ in range(7):
        await store.decide("seminar", request(new_id()))  # versions 9..15, not published
    wall.now += timedelta(minutes=2)
    await store.decide("seminar", request(new_id()))  # version 16 prunes what is old and published
    versions = sorted([d["version"] async for d in store.inventories.find({"event_id": "seminar"})])
    # 1..7 were published and are old: deleted. 8..15 still wait for the relay: kept.
    assert versions == list(range(8, 17))
    stored = await store.load("seminar")
    assert stored is not None
    assert stored.version == 16
    assert len(stored.inventory.holders) == 15


async def test_unpublished_snapshots_are_never_pruned(store: SeatInventoryStore) -> None:
    await store.decide("seminar", lambda seats: seats.set_capacity(100))
    for _ in range(20):
        await store.decide("seminar", request(new_id()))
    # No relay ran: every seat's event is still waiting, so each of those snapshots stays
    # (only the first, which announced nothing, could be pruned).
    waiting = {f"{OUTBOX_FIELD}.0": {"$exists": True}}
    assert await store.inventories.count_documents({"event_id": "seminar", **waiting}) == 20
    assert len(await outbox_events(store, "seminar")) == 20


# ---------------------------------------------------------------- records by _id


async def seed_whole_snapshot(
    store: SeatInventoryStore, event_id: str, holders: list[str], waiting: list[str]
) -> None:
    """An event as a snapshot from before heads: the whole state in one document."""
    seats = SeatInventory(event_id, capacity=len(holders), revision=1)
    seats.holders, seats.waiting = list(holders), list(waiting)
    await store.inventories.insert_one(
        {
            "_id": snapshot_id(event_id, 1),
            **to_document(seats),
            "version": 1,
            "applied": [],
            "decided_at": datetime.now(UTC),
            OUTBOX_FIELD: [],
        }
    )


async def bytes_written(store: SeatInventoryStore, event_id: str, version: int) -> int:
    """The head a decision inserted, outbox included, plus the records it inserted."""
    head = await store.inventories.find_one({"_id": snapshot_id(event_id, version)})
    assert head is not None
    return len(bson.encode(head)) + sum(len(bson.encode(r)) for r in head["changes"])


async def test_what_a_decision_writes_does_not_grow_with_the_registrants(
    store: SeatInventoryStore,
) -> None:
    """The same decisions in an event of 50 in-person registrants and in one of 2000."""
    written: dict[int, list[int]] = {}
    for registrants, event_id in ((50, "small"), (2000, "large")):
        people = [new_id() for _ in range(registrants)]
        await seed_whole_snapshot(store, event_id, people[:30], people[30:])
        newcomer = new_id()
        outcomes = [
            await store.decide(event_id, request(newcomer)),  # waitlisted at the end
            await store.decide(event_id, cancel(people[0])),  # a seat freed, the first promoted
            await store.decide(event_id, cancel(people[-1])),  # the last in line leaves
            await store.decide(event_id, cancel(newcomer)),
        ]
        assert [len(o.decisions) for o in outcomes] == [1, 2, 1, 1]
        written[registrants] = [await bytes_written(store, event_id, v) for v in range(2, 6)]
        whole = await store.inventories.find_one({"_id": snapshot_id(event_id, 1)})
        assert whole is not None
        written[-registrants] = [len(bson.encode(whole))]
    # The same but for the digits of a place in line, which the events carry as JSON text.
    for small, large in zip(written[50], written[2000], strict=True):
        assert small <= large <= small + 16
    assert max(written[2000]) < 4_000
    # What one decision wrote before heads: the whole state, over 25 times larger here.
    assert written[-2000][0] > 25 * max(written[2000])


async def test_a_snapshot_from_before_heads_is_decided_on_as_it_was(
    store: SeatInventoryStore,
) -> None:
    people = [new_id() for _ in range(6)]
    await seed_whole_snapshot(store, "seminar", people[:2], people[2:])
    outcome = await store.decide("seminar", cancel(people[0]))
    assert outcome.decisions == (SeatReleased(people[0]), SeatReserved(people[2], True))
    stored = await store.load("seminar")
    assert stored is not None
    assert (stored.inventory.holders, stored.inventory.waiting) == (
        [people[1], people[2]],
        people[3:],
    )
    assert stored.inventory.cancelled == {people[0]}


async def test_a_decision_whose_records_were_not_stored_is_completed_before_the_next(
    store: SeatInventoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash window between a head and its records: the next decision stores them first."""
    seated, waiting = new_id(), new_id()
    await store.decide("seminar", lambda seats: seats.set_capacity(1))
    insert_many = store.records.insert_many

    async def lost_connection(*_args: Any, **_kwargs: Any) -> Any:
        raise AutoReconnect("connection lost after the head was stored")

    monkeypatch.setattr(store.records, "insert_many", lost_connection)
    outcome = await store.decide("seminar", request(seated))
    assert outcome.written  # the head is the decision: stored, with its event
    assert await store.records.count_documents({}) == 0
    monkeypatch.setattr(store.records, "insert_many", insert_many)

    await store.decide("seminar", request(waiting))
    # Without the seated one's placement this would record an unknown cancellation.
    outcome = await store.decide("seminar", cancel(seated))
    assert outcome.decisions == (SeatReleased(seated), SeatReserved(waiting, True))


async def test_records_written_late_by_a_paused_writer_change_nothing(
    store: SeatInventoryStore,
) -> None:
    someone, other = new_id(), new_id()
    await store.decide("seminar", lambda seats: seats.set_capacity(1))
    await store.decide("seminar", request(someone))
    await store.decide("seminar", request(other))
    await store.decide("seminar", cancel(someone))  # a new placement of each of them
    early = await store.inventories.find_one({"_id": snapshot_id("seminar", 2)})
    assert early is not None
    with pytest.raises(BulkWriteError):  # a writer paused since version 2 goes on
        await store.records.insert_many(early["changes"], ordered=False)
    stored = await store.load("seminar")
    assert stored is not None
    assert (stored.inventory.holders, stored.inventory.cancelled) == ([other], {someone})


async def test_latest_states_reads_the_counts_of_each_events_latest_head(
    store: SeatInventoryStore,
) -> None:
    await store.decide("seminar", lambda seats: seats.set_capacity(2))
    for _ in range(3):
        await store.decide("seminar", request(new_id()))
    await store.decide("early", request(new_id()))  # capacity not known: no gauge yet
    [state] = await store.latest_states()
    assert (state.event_id, state.capacity, state.reserved, state.waitlisted) == (
        "seminar",
        2,
        2,
        1,
    )

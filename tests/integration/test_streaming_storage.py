"""The streaming stores against the real MongoDB-protocol server: writes that race.

FerretDB v1 applies an update as a read of the whole document and a write of
it, so two updates of one document at the same moment can lose one. The relay
removing published entries, and handlers working on one registration or one
event at once (the subscriber runs several), are such meetings; these tests
make them happen on purpose.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from faststream.rabbit import RabbitExchange
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Envelope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay
from ilmo_shared.storage import Document
from ilmo_streaming import domain
from ilmo_streaming.handlers import event_details_changed
from ilmo_streaming.storage import LINKS, StreamEventStore, StreamLinkStore
from ilmo_streaming.usecases import LinkKeeper
from tests.support.capacity import envelope_for, event_details, new_event_id
from tests.support.infrastructure import IsolatedInfrastructure

TRIALS = 20
ENVELOPE_IDS = uuid.UUID("6c0b9e51-3f0e-4c55-9d7e-2a8f1b4e7d93")  # as in publication


class ConfirmingPublisher(EventPublisher):
    """Stands in for the broker: every event is confirmed at once, and remembered."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        if exchange is not INTERNAL_EXCHANGE:
            return  # only the internal events are followed here
        self.published.append(envelope)

    def kinds(self, registration_id: uuid.UUID) -> Counter[str]:
        return Counter(e.type for e in self.published if e.subject == str(registration_id))


class Stores:
    def __init__(self, mongo: AsyncMongoClient[Document], database_name: str) -> None:
        database = mongo[database_name]
        self.publisher = ConfirmingPublisher()
        self.relay = OutboxRelay(self.publisher)
        self.streams = StreamEventStore(database, locks=self.relay.locks)
        self.links = StreamLinkStore(
            database,
            outbox=self.relay.outbox(database[LINKS], source="ilmo/test"),
            link_url=lambda registration_id: f"https://watch.example.fi/watch/{registration_id}",
            locks=self.relay.locks,
        )
        self.keeper = LinkKeeper(links=self.links, streams=self.streams, clock=_now)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def stores(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> Stores:
    stores = Stores(mongo, infrastructure.database_name("streaming_storage"))
    await stores.links.create_indexes()
    return stores


async def _relay_passes(relay: OutboxRelay, passes: int = 3) -> None:
    for _ in range(passes):
        await relay.publish_pending()
        await asyncio.sleep(0)


async def test_a_link_event_names_its_document_to_the_relay_under_an_id_made_from_the_fact(
    stores: Stores,
) -> None:
    event_id = new_event_id()
    await stores.streams.apply(event_details(event_id, 1), _now())
    registration_id = uuid.uuid4()
    await stores.keeper.grant(registration_id, event_id)
    await stores.keeper.revoke(registration_id, event_id)
    # Without a sweep: the relay reads just the document it was told of (two
    # facts, each as an internal and an integration event).
    assert await stores.relay.publish_named() == 4
    provisioned, revoked = stores.publisher.published
    kinds = {"stream.link.provisioned": "provisioned", "stream.link.revoked": "revoked"}
    for envelope in (provisioned, revoked):
        name = f"{registration_id}/{kinds[envelope.type]}"
        assert envelope.id == str(uuid.uuid5(ENVELOPE_IDS, name))


async def test_a_revocation_meeting_the_relay_is_never_lost(stores: Stores) -> None:
    event_id = new_event_id()
    stream, _ = await stores.streams.apply(event_details(event_id, 1), _now())
    for _ in range(TRIALS):
        registration_id = uuid.uuid4()
        await stores.keeper.grant(registration_id, event_id)  # provisioned, entry pending
        await asyncio.gather(
            stores.keeper.revoke(registration_id, event_id), _relay_passes(stores.relay)
        )
        await stores.relay.publish_pending()

        stored = await stores.links.get(registration_id)
        assert stored is not None
        assert stored.state is domain.LinkState.REVOKED
        assert stores.publisher.kinds(registration_id) == {
            "stream.link.provisioned": 1,
            "stream.link.revoked": 1,
        }
    assert stream.revision == 1


async def test_grants_and_cancellations_of_one_registration_at_once(stores: Stores) -> None:
    event_id = new_event_id()
    await stores.streams.apply(event_details(event_id, 1), _now())
    for _ in range(TRIALS):
        registration_id = uuid.uuid4()
        work = [stores.keeper.grant(registration_id, event_id) for _ in range(4)]
        work += [stores.keeper.revoke(registration_id, event_id) for _ in range(3)]
        work.append(_relay_passes(stores.relay))
        random.shuffle(work)
        await asyncio.gather(*work)
        await stores.relay.publish_pending()

        stored = await stores.links.get(registration_id)
        assert stored is not None
        assert stored.state is domain.LinkState.REVOKED
        kinds = stores.publisher.kinds(registration_id)
        # Either the cancellation came first (a tombstone, nothing announced)
        # or the link was provisioned and then revoked: each announced once.
        assert kinds in (
            Counter(),
            Counter({"stream.link.provisioned": 1, "stream.link.revoked": 1}),
        ), kinds
        assert (stored.provisioned_at is not None) == bool(kinds)


async def test_a_link_granted_while_the_events_details_arrive_is_never_left_pending(
    stores: Stores, mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    for _ in range(TRIALS):
        event_id = new_event_id()
        details = event_details(event_id, 1)
        people = [uuid.uuid4() for _ in range(3)]
        work = [stores.keeper.grant(person, event_id) for person in people]
        work.append(event_details_changed(stores.keeper, details, envelope_for(details)))
        random.shuffle(work)
        await asyncio.gather(*work)
        await stores.relay.publish_pending()

        counts = await stores.links.counts(event_id)
        assert (counts.provisioned, counts.pending) == (3, 0)
        for person in people:
            assert stores.publisher.kinds(person) == {"stream.link.provisioned": 1}
    links = mongo[infrastructure.database_name("streaming_storage")]["stream_links"]
    assert await links.count_documents({f"{OUTBOX_FIELD}.0": {"$exists": True}}) == 0


async def test_the_newest_revision_of_an_event_wins_whatever_the_order(stores: Stores) -> None:
    event_id = new_event_id()
    revisions = list(range(1, 11))
    random.shuffle(revisions)
    results = await asyncio.gather(
        *(
            stores.streams.apply(event_details(event_id, 1, revision=revision), _now())
            for revision in revisions
        )
    )
    stored = await stores.streams.get(event_id)
    assert stored is not None
    assert stored.revision == 10
    assert sum(1 for _, changed in results if changed) >= 1
    current, changed = await stores.streams.apply(event_details(event_id, 1, revision=3), _now())
    assert (current.revision, changed) == (10, False)
    assert current == stored


def _revision(stream: domain.EventStream | None) -> int | None:
    return stream.revision if stream is not None else None


class _Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_recent_details_come_from_memory_until_they_are_older_than_the_freshness(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    database = mongo[infrastructure.database_name("streaming_recent")]
    ticks = _Ticks()
    ours = StreamEventStore(
        database, locks=OutboxRelay(ConfirmingPublisher()).locks, monotonic=ticks
    )
    # Another replica: same database, its own memory.
    theirs = StreamEventStore(database, locks=OutboxRelay(ConfirmingPublisher()).locks)
    event_id = new_event_id()

    assert await ours.recent(event_id) is None  # nothing stored yet
    await theirs.apply(event_details(event_id, 1, revision=1), _now())
    ticks.now = 1.0
    assert _revision(await ours.recent(event_id)) == 1  # the "none" ran out: read again

    await theirs.apply(event_details(event_id, 1, revision=2), _now())
    ticks.now = 1.5
    assert _revision(await ours.recent(event_id)) == 1  # within the second: the same answer
    assert _revision(await ours.get(event_id)) == 2  # get always reads

    await theirs.apply(event_details(event_id, 1, revision=3), _now())
    ticks.now = 2.5
    assert _revision(await ours.recent(event_id)) == 3  # older than a second: read again


async def test_details_this_process_stores_replace_its_copy_at_once(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    database = mongo[infrastructure.database_name("streaming_recent_own")]
    store = StreamEventStore(
        database, locks=OutboxRelay(ConfirmingPublisher()).locks, monotonic=_Ticks()
    )
    event_id = new_event_id()
    await store.apply(event_details(event_id, 1, revision=1), _now())
    await store.apply(event_details(event_id, 1, revision=2), _now())
    assert _revision(await store.recent(event_id)) == 2
    # An older revision arriving late changes neither the database nor the copy.
    await store.apply(event_details(event_id, 1, revision=1), _now())
    assert _revision(await store.recent(event_id)) == 2

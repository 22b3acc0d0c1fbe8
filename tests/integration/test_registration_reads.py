"""What the registration path reads, against the real MongoDB-protocol server.

Issue 18 took reads off it (docs/performance.md, "Issue 18: the registration
service"): the event and its privacy notice are answered from a recent read,
which a change made here forgets at once and a change made by another
replica reaches within its bound; a write's listing row is made from the
write, not from reading the registration again, and written on the chunk
this process kept. These tests count the commands and check that the rows
still say what the registrations say.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import Attendance, Language, SeatReserved, StreamLinkProvisioned
from ilmo_registration.catalogue import EventSpec
from ilmo_registration.domain import Status, accept, submit
from ilmo_registration.listing import ListingRow
from ilmo_registration.privacy import DEFAULT_NOTICE, notice
from ilmo_registration.storage import (
    EVENT_COLLECTION,
    REGISTRATION_COLLECTION,
    EventStore,
    PrivacyNoticeStore,
    RegistrationStore,
    ReportOutcome,
)
from ilmo_registration.storage.listing import LISTING_COLLECTION, RegistrationListing, chunk_id
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.storage import Document, DocumentLocks
from tests.integration.test_registration_listing import NO_NEEDS, assert_listing_agrees, person
from tests.integration.test_registration_storage import PUBLISHER
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import event_payload

# Long enough that nothing in a test runs out on its own.
HOUR = 3600.0


class Commands(monitoring.CommandListener):
    """Counts the commands sent, by (command, collection)."""

    def __init__(self) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.sent[(event.command_name, str(collection))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def database(
    infrastructure: IsolatedInfrastructure, commands: Commands
) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infrastructure.mongodb_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        yield client[infrastructure.database_name("registration")]
    finally:
        await client.close()


def replica(database: AsyncDatabase[Document], *, recent_seconds: float) -> EventStore:
    """An event store as one replica of the service has it (its own locks and outbox)."""
    locks = DocumentLocks()
    relay = OutboxRelay(PUBLISHER, locks=locks)
    outbox = relay.outbox(database[EVENT_COLLECTION], source="ilmo/test")
    return EventStore(database, outbox=outbox, locks=locks, recent_seconds=recent_seconds)


def spec(**changes: object) -> EventSpec:
    return EventSpec.model_validate({**event_payload(), "timezone": "Europe/Helsinki", **changes})


async def test_an_event_read_recently_is_read_again_after_a_change_made_here(
    database: AsyncDatabase[Document], commands: Commands
) -> None:
    here, other = (replica(database, recent_seconds=HOUR) for _ in range(2))
    event_id = f"recent-{uuid.uuid4().hex[:8]}"
    assert await here.recent(event_id) is None  # asked before it exists
    await here.create(event_id, spec(), datetime.now(UTC))
    created = await here.recent(event_id)
    assert created is not None
    assert created.revision == 1
    reads = commands.sent[("find", EVENT_COLLECTION)]
    for _ in range(5):
        assert await here.recent(event_id) == created
    assert commands.sent[("find", EVENT_COLLECTION)] == reads

    # Another replica's change reaches this one within the bound, not before
    # (the bound itself: tests/unit/test_registration_recent_reads.py).
    await other.change(event_id, lambda s: s.model_copy(update={"in_person_capacity": 10}), now())
    assert await here.recent(event_id) == created
    fresh = await here.get(event_id)
    assert fresh is not None
    assert fresh.spec.in_person_capacity == 10

    cancelled = await here.cancel(event_id, None, now())
    assert cancelled is not None
    seen = await here.recent(event_id)
    assert seen is not None
    assert seen.spec.cancelled_at is not None


async def test_a_notice_put_in_force_here_is_the_one_registrations_are_checked_against(
    database: AsyncDatabase[Document], commands: Commands
) -> None:
    notices = PrivacyNoticeStore(database, recent_seconds=HOUR)
    event_id = f"recent-{uuid.uuid4().hex[:8]}"
    assert await notices.recent(event_id) == DEFAULT_NOTICE
    assert await notices.recent(event_id) == DEFAULT_NOTICE
    assert commands.sent[("find", "event_privacy_notices")] == 1
    new = notice({language: f"Uusi seloste ({language.value})" for language in Language})
    await notices.put_in_force(event_id, new, now())
    assert await notices.recent(event_id) == new


async def test_confirming_and_reports_read_the_registration_no_more_than_once(
    database: AsyncDatabase[Document], commands: Commands
) -> None:
    locks = DocumentLocks()
    relay = OutboxRelay(PUBLISHER, locks=locks)
    store = RegistrationStore(
        database,
        outbox=relay.outbox(database[REGISTRATION_COLLECTION], source="ilmo/test"),
        locks=locks,
        listing=RegistrationListing(database, locks),
    )
    assert store.listing is not None
    event_id = f"recent-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    at = now()
    registrant = person("Aino", "Aalto", Attendance.IN_PERSON)
    pending = submit(event_id, registrant, at, at + timedelta(hours=1))
    await store.add(pending, **NO_NEEDS)

    commands.sent.clear()
    assert await store.confirm(accept(event_id, registrant, at, pending.registration_id))
    assert commands.sent[("find", REGISTRATION_COLLECTION)] == 0
    assert commands.sent[("findAndModify", REGISTRATION_COLLECTION)] == 1
    await assert_listing_agrees(store, event_id)

    remote = accept(event_id, person("Eero", "Mäkinen", Attendance.REMOTE), at)
    await store.add(remote, **NO_NEEDS)
    for report in (
        SeatReserved(registration_id=pending.registration_id, event_id=event_id, reserved_at=at),
        StreamLinkProvisioned(
            registration_id=remote.registration_id,
            event_id=event_id,
            url="https://stream.example.fi/watch/token",
            valid_from=at,
            valid_until=at + timedelta(hours=4),
        ),
    ):
        commands.sent.clear()
        outcome = await store.apply_report(str(report.registration_id), report)
        assert outcome is ReportOutcome.APPLIED
        assert commands.sent[("find", REGISTRATION_COLLECTION)] == 1  # the read it decides on
        await assert_listing_agrees(store, event_id)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def test_a_row_is_written_on_the_chunk_this_process_kept_and_replicas_lose_no_row(
    database: AsyncDatabase[Document], commands: Commands
) -> None:
    here, other = RegistrationListing(database), RegistrationListing(database)
    event_id = f"recent-{uuid.uuid4().hex[:8]}"
    await here.rebuild(event_id, [])
    at = now()
    rows = [
        ListingRow(
            registration_id=str(registration_id),
            first_name=f"Person{n}",
            last_name="Virtanen",
            email=f"person{n}@example.fi",
            organisation=None,
            language=Language.FI,
            attendance=Attendance.REMOTE,
            status=Status.ACCEPTED,
            registered_at=at,
            revision=1,
        )
        for n, registration_id in enumerate(same_chunk(event_id, 6))
    ]
    await here.put(event_id, rows[0])  # reads the chunk, then keeps it
    commands.sent.clear()
    await here.put(event_id, rows[1])
    assert commands.sent == Counter({("update", LISTING_COLLECTION): 1})

    # Another replica writes the same chunk: this one's copy is stale, its
    # conditional write fails, and it reads the chunk and writes again.
    for mine, theirs in zip(rows[2::2], rows[3::2], strict=True):
        await other.put(event_id, theirs)
        await here.put(event_id, mine)
    listed = await here.rows(event_id)
    assert listed is not None
    assert sorted(row.registration_id for row in listed) == sorted(
        row.registration_id for row in rows
    )


def same_chunk(event_id: str, count: int) -> list[uuid.UUID]:
    """``count`` registration ids whose rows share one chunk of the event's listing."""
    found: list[uuid.UUID] = []
    first = chunk_id(event_id, str(uuid.uuid4()))
    while len(found) < count:
        candidate = uuid.uuid4()
        if chunk_id(event_id, str(candidate)) == first:
            found.append(candidate)
    return found

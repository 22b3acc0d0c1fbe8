"""The listing read model against the real MongoDB-protocol server.

Every write of a registration that changes what the console lists puts the
registration's row (``storage.listing``); the rows must always say what the
registrations themselves say, through registering, confirming, a seat
report, switching, cancelling and erasing, and a late row never replaces a
newer one.
"""

from __future__ import annotations

import json
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import Binary
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from ilmo_event_contracts import (
    Attendance,
    ErasureReason,
    Language,
    RegistrationAttendanceChanged,
    SeatReserved,
)
from ilmo_registration.domain import Registrant, Status, accept, submit
from ilmo_registration.history import Change, entries_of
from ilmo_registration.listing import ListingQuery, Sort, SortKey, select
from ilmo_registration.privacy import DEFAULT_NOTICE, NoticeShown
from ilmo_registration.storage import REGISTRATION_COLLECTION, RegistrationStore
from ilmo_registration.storage import listing as listing_module
from ilmo_registration.storage.listing import RegistrationListing, chunk_id
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.storage import Document, DocumentLocks
from tests.integration.test_registration_storage import PUBLISHER
from tests.support.infrastructure import IsolatedInfrastructure

LOCKS = DocumentLocks()
NO_NEEDS: dict[str, Any] = {
    "needs": None,
    "token_digest": "digest",
    "notice_shown": NoticeShown(DEFAULT_NOTICE.version, Language.FI, datetime.now(UTC)),
    "needs_consent": None,
}


@pytest.fixture
def store(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> RegistrationStore:
    database = mongo[infrastructure.database_name("registration")]
    relay = OutboxRelay(PUBLISHER, locks=LOCKS)
    outbox = relay.outbox(database[REGISTRATION_COLLECTION], source="ilmo/test")
    listing = RegistrationListing(database, LOCKS)
    return RegistrationStore(database, outbox=outbox, locks=LOCKS, listing=listing)


def person(first: str, last: str, attendance: Attendance = Attendance.IN_PERSON) -> Registrant:
    email = f"{first.lower()}.{uuid.uuid4().hex[:6]}@example.fi"
    return Registrant(first, last, email, "Valtiokonttori", attendance, Language.SV)


async def assert_listing_agrees(store: RegistrationStore, event_id: str) -> None:
    assert store.listing is not None
    listed = await store.listing.rows(event_id)
    assert listed is not None
    from_registrations = await store.registrations.find({"event_id": event_id}).to_list()
    assert len(from_registrations) == len(listed)
    assert sorted(listed, key=lambda row: row.registration_id) == sorted(
        await store.listing_rows(event_id), key=lambda row: row.registration_id
    )


async def test_the_rows_follow_every_change_of_the_registrations(
    store: RegistrationStore,
) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    now = datetime.now(UTC).replace(microsecond=0)
    seated = accept(event_id, person("Åsa", "Öhman"), now)
    remote = accept(event_id, person("Eero", "Mäkinen", Attendance.REMOTE), now)
    pending = submit(event_id, person("Aino", "Aalto"), now, now + timedelta(hours=1))
    for fact in (seated, remote, pending):
        await store.add(fact, **NO_NEEDS)
    await assert_listing_agrees(store, event_id)

    report = SeatReserved(
        registration_id=seated.registration_id, event_id=event_id, reserved_at=now
    )
    await store.apply_report(str(seated.registration_id), report)
    confirmed = accept(event_id, person("Aino", "Aalto"), now, pending.registration_id)
    assert await store.confirm(confirmed)
    stored_remote = await store.get(str(remote.registration_id))
    assert stored_remote is not None
    switched = RegistrationAttendanceChanged(
        registration_id=remote.registration_id,
        event_id=event_id,
        attendance=Attendance.IN_PERSON,
        attendance_version=2,
        changed_at=now,
    )
    assert await store.switch_attendance(stored_remote, switched)
    await assert_listing_agrees(store, event_id)

    stored_seated = await store.get(str(seated.registration_id))
    assert stored_seated is not None
    assert await store.cancel(stored_seated, now)
    stored_pending = await store.get(str(pending.registration_id))
    assert stored_pending is not None
    assert await store.erase(stored_pending, now, ErasureReason.REQUEST, cancel=True)
    await assert_listing_agrees(store, event_id)

    rows = {row.registration_id: row for row in await store.listing.rows(event_id) or []}
    assert rows[str(seated.registration_id)].status is Status.CANCELLED
    assert rows[str(remote.registration_id)].attendance is Attendance.IN_PERSON
    erased = rows[str(pending.registration_id)]
    assert (erased.erased, erased.first_name, erased.email) == (True, "", "")
    history = await store.registrations.find_one({"_id": str(seated.registration_id)})
    assert history is not None
    assert [entry.change for entry in entries_of(history["history"])] == [
        Change.ACCEPTED,
        Change.SEAT_RESERVED,
        Change.CANCELLED,
    ]


async def test_a_late_row_never_replaces_a_newer_one(store: RegistrationStore) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    fact = accept(event_id, person("Kaisa", "Korhonen"), datetime.now(UTC))
    await store.add(fact, **NO_NEEDS)
    (row,) = await store.listing.rows(event_id) or []
    newer = replace(row, status=Status.CANCELLED, revision=row.revision + 1)
    await store.listing.put(event_id, newer)
    await store.listing.put(event_id, row)
    assert await store.listing.rows(event_id) == [newer]


async def test_a_check_in_and_a_first_watch_reach_the_rows_and_older_rows_still_read(
    store: RegistrationStore,
) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    now = datetime.now(UTC).replace(microsecond=0)
    fact = accept(event_id, person("Olli", "Ovi"), now)
    await store.add(fact, **NO_NEEDS)
    registration_id = str(fact.registration_id)
    (before,) = await store.listing.rows(event_id) or []
    assert (before.checked_in_at, before.watched_at) == (None, None)

    assert await store.mark_checked_in(registration_id, now + timedelta(minutes=1))
    assert not await store.mark_checked_in(registration_id, now + timedelta(minutes=2))
    assert await store.record_watch(registration_id, now + timedelta(minutes=3)) == "applied"
    assert await store.record_watch(registration_id, now + timedelta(minutes=4)) == "unchanged"
    assert await store.record_watch(str(uuid.uuid4()), now) == "unknown_registration"
    (row,) = await store.listing.rows(event_id) or []
    assert (row.checked_in_at, row.watched_at) == (
        now + timedelta(minutes=1),
        now + timedelta(minutes=3),
    )
    await assert_listing_agrees(store, event_id)
    stored = await store.get(registration_id)
    assert stored is not None
    assert (stored.checked_in_at, stored.watched_at) == (row.checked_in_at, row.watched_at)

    # A row as written before attendance was listed (12 fields) reads without it.
    chunk_key = chunk_id(event_id, registration_id)
    chunk = await store.listing.collection.find_one({"_id": chunk_key})
    assert chunk is not None
    rows = json.loads(zlib.decompress(chunk["rows"]))
    rows[registration_id] = rows[registration_id][:11] + rows[registration_id][-1:]
    packed = Binary(zlib.compress(json.dumps(rows).encode()))
    await store.listing.collection.update_one({"_id": chunk_key}, {"$set": {"rows": packed}})
    (older,) = await store.listing.rows(event_id) or []
    assert (older.checked_in_at, older.watched_at, older.revision) == (None, None, row.revision)


async def test_a_page_of_many_is_searched_filtered_and_sorted(store: RegistrationStore) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    start = datetime.now(UTC).replace(microsecond=0)
    for n in range(120):
        registrant = person(f"Person{n:03}", "Mäkinen" if n % 10 == 0 else "Virtanen")
        await store.add(accept(event_id, registrant, start + timedelta(seconds=n)), **NO_NEEDS)
    rows = await store.listing.rows(event_id) or []

    first = select(rows, ListingQuery())
    assert (first.total, first.pages, len(first.rows)) == (120, 3, 50)
    last = select(rows, ListingQuery(page=3))
    assert [row.first_name for row in last.rows] == [f"Person{n:03}" for n in range(100, 120)]
    found = select(rows, ListingQuery(q="MAKINEN", sort=Sort(SortKey.NAME, descending=True)))
    assert [row.first_name for row in found.rows] == [f"Person{n:03}" for n in range(110, -1, -10)]
    assert select(rows, ListingQuery(status=Status.CANCELLED)).total == 0


async def test_an_event_listed_before_the_read_model_is_built_from_its_registrations(
    store: RegistrationStore,
) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.add(accept(event_id, person("Lauri", "Lindqvist"), datetime.now(UTC)), **NO_NEEDS)
    assert await store.listing.rows(event_id) is None
    await store.rebuild_listing(event_id)
    await assert_listing_agrees(store, event_id)


async def test_a_row_that_cannot_be_written_fails_nothing_and_the_listing_is_built_again(
    store: RegistrationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])

    async def refused(*_: object) -> None:
        raise PyMongoError("the listing's chunk could not be written")

    monkeypatch.setattr(store.listing, "put", refused)
    fact = accept(event_id, person("Sofia", "Lindqvist"), datetime.now(UTC))
    assert await store.add(fact, **NO_NEEDS) is None  # the registration is taken all the same
    monkeypatch.undo()

    assert await store.listing.rows(event_id) is None  # to be built again on its next reading
    assert await store.get(str(fact.registration_id)) is not None


async def chunk_sizes(store: RegistrationStore, event_id: str) -> dict[str, int]:
    """Each chunk of the event's listing that holds rows, and how many."""
    assert store.listing is not None
    sizes: dict[str, int] = {}
    async for chunk in store.listing.collection.find({"v": {"$exists": True}}):
        rows = len(json.loads(zlib.decompress(chunk["rows"])))
        if str(chunk["_id"]).startswith(f"{event_id}/") and rows:
            sizes[str(chunk["_id"])] = rows
    return sizes


def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generations of 2 chunks of 4 rows: a few dozen registrations make several."""
    monkeypatch.setattr(listing_module, "CHUNKS", 2)
    monkeypatch.setattr(listing_module, "CHUNK_ROWS", 4)


async def test_no_chunk_grows_with_the_event_and_each_row_stays_in_its_recorded_chunk(
    store: RegistrationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.listing is not None
    small_chunks(monkeypatch)
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    now = datetime.now(UTC).replace(microsecond=0)
    facts = [accept(event_id, person(f"Person{n:02}", "Virtanen"), now) for n in range(40)]
    for fact in facts:
        await store.add(fact, **NO_NEEDS)

    sizes = await chunk_sizes(store, event_id)
    assert sum(sizes.values()) == 40
    assert max(sizes.values()) <= 4  # one writer: a chunk never passes CHUNK_ROWS
    assert len(sizes) >= 10  # so the rows went to later generations
    recorded = {
        str(document["_id"]): str(document["listing_chunk"])
        async for document in store.registrations.find({"event_id": event_id})
    }
    assert set(recorded.values()) == set(sizes)

    # A later change of an early registration goes to its own chunk, not the newest.
    first = await store.get(str(facts[0].registration_id))
    assert first is not None
    assert await store.cancel(first, now)
    assert await chunk_sizes(store, event_id) == sizes
    await assert_listing_agrees(store, event_id)

    # Built again from the registrations, every row is where it was.
    await store.listing.forget(event_id)
    assert await store.listing.rows(event_id) is None
    await store.rebuild_listing(event_id)
    assert await chunk_sizes(store, event_id) == sizes
    await assert_listing_agrees(store, event_id)


async def test_a_process_behind_on_the_generation_catches_up_on_its_first_full_chunk(
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_chunks(monkeypatch)
    database = mongo[infrastructure.database_name("registration")]

    def process() -> RegistrationStore:
        relay = OutboxRelay(PUBLISHER, locks=DocumentLocks())
        outbox = relay.outbox(database[REGISTRATION_COLLECTION], source="ilmo/test")
        locks = DocumentLocks()
        return RegistrationStore(
            database, outbox=outbox, locks=locks, listing=RegistrationListing(database, locks)
        )

    one, other = process(), process()
    assert one.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await one.listing.rebuild(event_id, [])
    now = datetime.now(UTC).replace(microsecond=0)
    await other.add(accept(event_id, person("Eka", "Toinen"), now), **NO_NEEDS)
    for n in range(24):  # the other process still takes generation 0 for current
        await one.add(accept(event_id, person(f"Yksi{n:02}", "Virtanen"), now), **NO_NEEDS)
    for n in range(8):
        await other.add(accept(event_id, person(f"Toinen{n:02}", "Virtanen"), now), **NO_NEEDS)

    sizes = await chunk_sizes(one, event_id)
    assert sum(sizes.values()) == 33
    assert max(sizes.values()) <= 5  # at most one row past CHUNK_ROWS
    await assert_listing_agrees(one, event_id)


async def test_registrations_stored_before_generations_are_listed_in_the_first(
    store: RegistrationStore,
) -> None:
    assert store.listing is not None
    event_id = f"listing-{uuid.uuid4().hex[:8]}"
    await store.listing.rebuild(event_id, [])
    fact = accept(event_id, person("Vanha", "Rivi"), datetime.now(UTC))
    await store.add(fact, **NO_NEEDS)
    registration_id = str(fact.registration_id)
    await store.registrations.update_one(
        {"_id": registration_id}, {"$unset": {"listing_chunk": ""}}
    )

    stored = await store.get(registration_id)
    assert stored is not None
    assert await store.cancel(stored, datetime.now(UTC))
    assert await chunk_sizes(store, event_id) == {chunk_id(event_id, registration_id): 1}
    await store.rebuild_listing(event_id)
    assert await chunk_sizes(store, event_id) == {chunk_id(event_id, registration_id): 1}
    (row,) = await store.listing.rows(event_id) or []
    assert row.status is Status.CANCELLED

"""The roster's storage, against the real FerretDB.

Each member has a document of its own, found through an index of ids
(``storage.roster``): a member's changes write its own document only, a
listed id without a document is skipped, and members kept nested in the old
layout's chunks are still seen, and moved on their next change.

A process remembers what it last wrote of a member and writes the next
change on that guess, conditional on it. Two stores on one database stand
for two replicas: a change made by the other one fails the condition, and
the member is read again, so no change is lost.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import Attendance
from ilmo_notification import broadcasting
from ilmo_notification.broadcasting import Place, StreamLink, roster_chunk
from ilmo_notification.storage import RosterStore
from ilmo_shared.storage import Document, DocumentLocks
from tests.support.infrastructure import IsolatedInfrastructure

EVENT = "seminar"
NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def new_database(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AsyncDatabase[Document]:
    return mongo[infrastructure.database_name(f"roster_{uuid.uuid4().hex[:8]}")]


def new_roster(database: AsyncDatabase[Document]) -> RosterStore:
    """A store of its own: another replica, or this process started again (nothing remembered)."""
    return RosterStore(database, locks=DocumentLocks())


async def accept(roster: RosterStore, rid: str, attendance: Attendance = Attendance.REMOTE) -> None:
    await roster.change(EVENT, rid, lambda m: broadcasting.accepted(m, rid, attendance, NOW))


async def index_of(database: AsyncDatabase[Document], rid: str) -> Document | None:
    return await database["roster"].find_one({"_id": f"{EVENT}:ids{roster_chunk(rid)}"})


async def put_in_old_chunk(
    database: AsyncDatabase[Document], rid: str, kept: dict[str, Any]
) -> str:
    """A member as the layout before own documents kept it; the old chunk's ``_id``."""
    chunk = f"{EVENT}:{roster_chunk(rid, 256)}"
    await database["roster"].update_one(
        {"_id": chunk}, {"$set": {f"members.{rid}": kept, "event_id": EVENT}}, upsert=True
    )
    return chunk


def old_entry(place: str | None = None) -> dict[str, Any]:
    """What the old layout stored of a member (``members.<registration_id>``)."""
    return {
        "attendance": "in_person",
        "version": 1,
        "place": place,
        "place_version": 1 if place else 0,
        "place_at": NOW if place else None,
        "link": None,
        "accepted_at": NOW,
        "cancelled": False,
    }


async def test_a_member_changed_by_another_replica_is_read_again_not_overwritten(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    one, other = new_roster(database), new_roster(database)
    rid = str(uuid.uuid4())
    now = datetime.now(UTC)
    await accept(one, rid)
    # The other replica records the stream link; the first one remembers the member without it.
    link = StreamLink("https://stream.example.fi/w/abc", now, now)
    await other.change(EVENT, rid, lambda m: broadcasting.linked(m, rid, link))

    await one.change(EVENT, rid, lambda m: broadcasting.placed(m, rid, Place.SEAT, 1, now))

    member = await one.member(EVENT, rid)
    assert member is not None
    assert member.link is not None
    assert member.link.url == link.url
    assert member.place is Place.SEAT


async def test_changes_made_on_what_this_process_wrote_last_are_all_kept(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    rid = str(uuid.uuid4())
    now = datetime.now(UTC)
    link = StreamLink("https://stream.example.fi/w/def", now, now)
    await accept(roster, rid, Attendance.IN_PERSON)
    await roster.change(
        EVENT, rid, lambda m: broadcasting.placed(m, rid, Place.WAITING_LIST, 1, now)
    )
    await roster.change(EVENT, rid, lambda m: broadcasting.linked(m, rid, link))
    await roster.change(EVENT, rid, lambda m: broadcasting.cancelled(m, rid))

    [member] = await new_roster(database).members(EVENT)
    assert (member.place, member.cancelled) == (Place.WAITING_LIST, True)
    assert member.link is not None
    assert member.link.url == link.url


async def test_a_members_later_changes_write_its_own_document_only(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    rid = str(uuid.uuid4())
    await accept(new_roster(database), rid, Attendance.IN_PERSON)
    listed = await index_of(database, rid)

    # Once remembered, once read.
    roster = new_roster(database)
    await roster.change(EVENT, rid, lambda m: broadcasting.placed(m, rid, Place.SEAT, 1, NOW))
    await roster.change(EVENT, rid, lambda m: broadcasting.cancelled(m, rid))

    own = await database["roster"].find_one({"_id": f"{EVENT}:m:{rid}"})
    assert own is not None
    assert (own["event_id"], own["registration_id"]) == (EVENT, rid)
    assert (own["place"], own["cancelled"]) == ("seat", True)
    assert listed is not None
    assert listed["ids"] == {rid: own["entry"]}
    assert await index_of(database, rid) == listed
    assert await database["roster"].count_documents({}) == 2


async def test_a_removed_member_leaves_its_document_and_the_index(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    gone, stays = str(uuid.uuid4()), str(uuid.uuid4())
    await accept(roster, gone)
    await accept(roster, stays)

    await roster.change(EVENT, gone, lambda _m: None)
    # Removing it again changes nothing.
    await new_roster(database).change(EVENT, gone, lambda _m: None)

    assert [m.registration_id for m in await roster.members(EVENT)] == [stays]
    assert await roster.member(EVENT, gone) is None
    assert await database["roster"].find_one({"_id": f"{EVENT}:m:{gone}"}) is None
    listed = await index_of(database, gone)
    assert gone not in (listed or {}).get("ids", {})


async def test_a_removal_leaves_a_listing_made_again_since(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """Another replica created the member again between the removal's two writes."""
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    rid = str(uuid.uuid4())
    await accept(roster, rid)
    index = f"{EVENT}:ids{roster_chunk(rid)}"
    await database["roster"].update_one({"_id": index}, {"$set": {f"ids.{rid}": "again"}})

    await roster.change(EVENT, rid, lambda _m: None)

    listed = await index_of(database, rid)
    assert listed is not None
    assert listed["ids"] == {rid: "again"}


async def test_a_listed_id_without_a_member_document_is_skipped(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """A crash between listing a new member and creating its document."""
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    member, half_made = str(uuid.uuid4()), str(uuid.uuid4())
    await accept(roster, member)
    await database["roster"].update_one(
        {"_id": f"{EVENT}:ids{roster_chunk(half_made)}"},
        {"$set": {f"ids.{half_made}": "crashed", "event_id": EVENT}},
        upsert=True,
    )

    assert [m.registration_id for m in await roster.members(EVENT)] == [member]
    assert await roster.member(EVENT, half_made) is None
    # The redelivered message makes it after all.
    await accept(roster, half_made)
    assert {m.registration_id for m in await roster.members(EVENT)} == {member, half_made}


async def test_a_member_of_the_old_layout_is_read_then_moved_on_its_next_change(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    old, neighbour = str(uuid.uuid4()), str(uuid.uuid4())
    chunk = await put_in_old_chunk(database, old, old_entry("waiting_list"))
    await put_in_old_chunk(database, neighbour, old_entry())
    roster = new_roster(database)

    assert {m.registration_id for m in await roster.members(EVENT)} == {old, neighbour}
    seen = await roster.member(EVENT, old)
    assert seen is not None
    assert (seen.place, seen.accepted_at) == (Place.WAITING_LIST, NOW)

    await roster.change(EVENT, old, lambda m: broadcasting.placed(m, old, Place.SEAT, 1, NOW))

    own = await database["roster"].find_one({"_id": f"{EVENT}:m:{old}"})
    assert own is not None
    assert (own["place"], own["accepted_at"]) == ("seat", NOW)
    listed = await index_of(database, old)
    assert listed is not None
    assert old in listed["ids"]
    left = await database["roster"].find_one({"_id": chunk})
    assert left is not None
    assert old not in left["members"]
    members = {m.registration_id: m for m in await new_roster(database).members(EVENT)}
    assert set(members) == {old, neighbour}
    assert members[old].place is Place.SEAT


async def test_a_member_of_the_old_layout_can_be_removed(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    rid = str(uuid.uuid4())
    await put_in_old_chunk(database, rid, old_entry())
    roster = new_roster(database)

    await roster.change(EVENT, rid, lambda _m: None)

    assert await roster.members(EVENT) == []
    assert await roster.member(EVENT, rid) is None


async def test_a_copy_left_in_the_old_chunk_by_a_crashed_move_does_not_outlive_the_member(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """The move created the member's own document, then crashed before emptying the old entry."""
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    rid = str(uuid.uuid4())
    await accept(roster, rid, Attendance.IN_PERSON)
    await put_in_old_chunk(database, rid, old_entry())
    await roster.change(EVENT, rid, lambda m: broadcasting.cancelled(m, rid))
    [cancelled] = await roster.members(EVENT)
    assert cancelled.cancelled  # the own document wins over the stale copy

    await roster.change(EVENT, rid, lambda _m: None)

    assert await new_roster(database).members(EVENT) == []
    assert await roster.member(EVENT, rid) is None


async def test_every_member_of_a_large_event_is_read(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure, mongo)
    roster = new_roster(database)
    ids = [str(uuid.uuid4()) for _ in range(3_000)]
    for start in range(0, len(ids), 200):
        await asyncio.gather(*(accept(roster, rid) for rid in ids[start : start + 200]))

    members = await new_roster(database).members(EVENT)

    assert sorted(m.registration_id for m in members) == sorted(ids)
    assert all(m.active for m in members)

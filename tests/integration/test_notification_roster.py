"""The roster's memory of its own writes, against the real FerretDB.

A process remembers what it last wrote of a member and writes the next
change on that guess, conditional on it. Two stores on one database stand
for two replicas: a change made by the other one fails the condition, and
the member is read again, so no change is lost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance
from ilmo_notification import broadcasting
from ilmo_notification.broadcasting import Place, StreamLink
from ilmo_notification.storage import RosterStore
from ilmo_shared.storage import Document, DocumentLocks
from tests.support.infrastructure import IsolatedInfrastructure


async def test_a_member_changed_by_another_replica_is_read_again_not_overwritten(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = mongo[infrastructure.database_name(f"roster_{uuid.uuid4().hex[:8]}")]
    one, other = (
        RosterStore(database, locks=DocumentLocks()),
        RosterStore(database, locks=DocumentLocks()),
    )
    event_id, rid = "seminar", str(uuid.uuid4())
    now = datetime.now(UTC)
    await one.change(event_id, rid, lambda m: broadcasting.accepted(m, rid, Attendance.REMOTE, now))
    # The other replica records the stream link; the first one remembers the member without it.
    link = StreamLink("https://stream.example.fi/w/abc", now, now)
    await other.change(event_id, rid, lambda m: broadcasting.linked(m, rid, link))

    await one.change(event_id, rid, lambda m: broadcasting.placed(m, rid, Place.SEAT, 1, now))

    member = await one.member(event_id, rid)
    assert member is not None
    assert member.link is not None
    assert member.link.url == link.url
    assert member.place is Place.SEAT


async def test_changes_made_on_what_this_process_wrote_last_are_all_kept(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = mongo[infrastructure.database_name(f"roster_{uuid.uuid4().hex[:8]}")]
    roster = RosterStore(database, locks=DocumentLocks())
    event_id, rid = "seminar", str(uuid.uuid4())
    now = datetime.now(UTC)
    link = StreamLink("https://stream.example.fi/w/def", now, now)
    await roster.change(
        event_id, rid, lambda m: broadcasting.accepted(m, rid, Attendance.IN_PERSON, now)
    )
    await roster.change(
        event_id, rid, lambda m: broadcasting.placed(m, rid, Place.WAITING_LIST, 1, now)
    )
    await roster.change(event_id, rid, lambda m: broadcasting.linked(m, rid, link))
    await roster.change(event_id, rid, lambda m: broadcasting.cancelled(m, rid))

    [member] = await RosterStore(database, locks=DocumentLocks()).members(event_id)
    assert (member.place, member.cancelled) == (Place.WAITING_LIST, True)
    assert member.link is not None
    assert member.link.url == link.url

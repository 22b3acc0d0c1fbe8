"""The audit trail against the real MongoDB-protocol server: newest first, paged by ``_id``.

The trail's ids carry its order, so a page is an ``_id`` range sorted by
``_id``: on MongoDB an index range scan. FerretDB v1's SQLite backend, the
local and test server, pushes neither the range nor the sort down (its
``explain`` says ``filterPushdown: false, sortPushdown: false``): it reads
and sorts the whole collection, ~0.2-0.6 s for 10,000 entries on the busy
2-core test machine, first page or last (docs/security.md, "Audit trail").
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.storage.audit import AUDIT_COLLECTION, AuditStore
from ilmo_shared.access import Kind, Principal, Role
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure

ENTRIES = 10_000
ORGANISER = Principal("organiser", "Olli (development)", Kind.PERSON, frozenset({Role.ORGANISER}))
VIEWER = Principal("viewer", "Veera (development)", Kind.PERSON, frozenset({Role.VIEWER}))
# A page of 50 among 10,000 entries: measured 0.2-0.6 s on FerretDB v1.24 (SQLite, a scan
# and a sort of the whole collection) on a busy 2-core machine. The bound catches a page
# that costs more than one scan (e.g. one query per entry), not a slow disk.
PAGE_SECONDS = 2.0


class Ticking:
    """A clock that moves a millisecond per reading, from a fixed start."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture(scope="module")
async def trail(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AuditTrail:
    """A trail of 10,000 entries: every tenth by the viewer, every hundredth of event-7."""
    database = mongo[infrastructure.database_name("audit_trail")]
    trail = AuditTrail(AuditStore(database), Ticking())
    for start in range(0, ENTRIES, 250):
        await asyncio.gather(
            *(
                trail.record(
                    VIEWER if number % 10 == 0 else ORGANISER,
                    Action.REGISTRATION_READ,
                    event_id="event-7" if number % 100 == 0 else f"event-{number % 5}",
                    registration_id=f"registration-{number}",
                )
                for number in range(start, start + 250)
            )
        )
    return trail


async def test_pages_run_newest_first_through_every_entry(trail: AuditTrail) -> None:
    seen: list[str] = []
    before: str | None = None
    while True:
        page = await trail.page(before=before, limit=500)
        seen.extend(entry.id for entry in page.entries)
        if page.before is None:
            break
        before = page.before
    assert len(seen) == ENTRIES
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == ENTRIES


async def test_a_page_among_ten_thousand_comes_at_once(trail: AuditTrail) -> None:
    first = await trail.page()
    deep = None
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        deep = await trail.page(before=first.entries[-1].id, limit=50)
        timings.append(time.perf_counter() - started)
    assert deep is not None
    assert len(deep.entries) == 50
    assert min(timings) < PAGE_SECONDS, timings


async def test_filters_select_by_event_actor_and_action(trail: AuditTrail) -> None:
    event = await trail.page(event_id="event-7", limit=500)
    assert len(event.entries) == ENTRIES // 100
    assert {entry.event_id for entry in event.entries} == {"event-7"}
    viewer = await trail.page(actor="viewer", limit=20)
    assert {entry.actor_subject for entry in viewer.entries} == {"viewer"}
    assert viewer.before is not None
    none = await trail.page(action=Action.AUDIT_EXPORTED)
    assert none.entries == ()
    exported = [entry async for entry in trail.all(event_id="event-7")]
    assert [entry.id for entry in exported] == [entry.id for entry in event.entries]


async def test_entries_hold_ids_and_the_actor_only(
    trail: AuditTrail, infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = mongo[infrastructure.database_name("audit_trail")]
    document = await database[AUDIT_COLLECTION].find_one({"registration_id": "registration-7"})
    assert document is not None
    assert set(document) == {
        "_id",
        "at",
        "actor",
        "action",
        "event_id",
        "registration_id",
        "detail",
    }
    assert document["actor"] == {
        "subject": "organiser",
        "name": "Olli (development)",
        "kind": "person",
    }
    store = AuditStore(database)
    assert not [name for name in dir(store) if name.startswith(("update", "delete", "remove"))]

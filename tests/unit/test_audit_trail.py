"""The audit trail's order and paging, over an in-memory log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from ilmo_registration.audit import (
    MAX_DETAIL,
    Action,
    AuditEntry,
    AuditFilter,
    AuditTrail,
    entry_id,
)
from ilmo_shared.access import Kind, Principal, Role

ORGANISER = Principal("person-1", "Olli Organisoija", Kind.PERSON, frozenset({Role.ORGANISER}))


class MemoryLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def newest(self, which: AuditFilter, before: str | None, limit: int) -> list[AuditEntry]:
        found = sorted(self.entries, key=lambda entry: entry.id, reverse=True)
        return [
            entry
            for entry in found
            if (before is None or entry.id < before)
            and which.event_id in (None, entry.event_id)
            and which.actor in (None, entry.actor_subject)
            and which.action in (None, entry.action)
        ][:limit]

    async def every(self, which: AuditFilter) -> AsyncIterator[AuditEntry]:
        for entry in await self.newest(which, None, len(self.entries)):
            yield entry


class SteppingClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def test_ids_sort_as_time_does_and_are_unique() -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    moments = [start + timedelta(microseconds=step * 997) for step in range(2000)]
    ids = [entry_id(moment) for moment in moments]
    assert sorted(ids) == ids
    assert len(set(entry_id(start) for _ in range(1000))) == 1000
    assert ids[0].startswith("20261201T090000.000000Z-")


async def test_pages_run_newest_first_and_end() -> None:
    log = MemoryLog()
    trail = AuditTrail(log, SteppingClock())
    for number in range(7):
        await trail.record(ORGANISER, Action.EVENT_CHANGED, event_id=f"event-{number}")
    first = await trail.page(limit=3)
    assert [entry.event_id for entry in first.entries] == ["event-6", "event-5", "event-4"]
    second = await trail.page(before=first.before, limit=3)
    assert [entry.event_id for entry in second.entries] == ["event-3", "event-2", "event-1"]
    last = await trail.page(before=second.before, limit=3)
    assert [entry.event_id for entry in last.entries] == ["event-0"]
    assert last.before is None


async def test_an_entry_names_the_actor_and_filters_select() -> None:
    log = MemoryLog()
    trail = AuditTrail(log, SteppingClock())
    await trail.record(ORGANISER, Action.REGISTRATION_ERASED, registration_id="r-1", event_id="e")
    await trail.record(ORGANISER, Action.REGISTRATIONS_EXPORTED, event_id="e", detail="x" * 500)
    entry = log.entries[0]
    assert (entry.actor_subject, entry.actor_name, entry.actor_kind) == (
        "person-1",
        "Olli Organisoija",
        Kind.PERSON,
    )
    assert len(log.entries[1].detail or "") == MAX_DETAIL
    erased = await trail.page(action=Action.REGISTRATION_ERASED)
    assert [entry.registration_id for entry in erased.entries] == ["r-1"]
    assert [entry.action async for entry in trail.all(event_id="e")] == [
        Action.REGISTRATIONS_EXPORTED,
        Action.REGISTRATION_ERASED,
    ]
    assert (await trail.page(actor="someone-else")).entries == ()

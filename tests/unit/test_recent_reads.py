"""Recent reads (``storage.recent_reads``): how long a read is answered again, what forgets it."""

from __future__ import annotations

import asyncio

import pytest

from ilmo_shared.recent_reads import RecentReads


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Database:
    """Counts reads and answers the value it holds now; ``gate`` holds a read until set."""

    def __init__(self, value: str = "open") -> None:
        self.value = value
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.began = asyncio.Event()

    async def read(self) -> str:
        self.reads += 1
        self.began.set()
        answer = self.value
        if self.gate is not None:
            await self.gate.wait()
        return answer


async def started(database: Database) -> None:
    """Until a read has begun (a task runs at the loop's next turn, not at once)."""
    await database.began.wait()


async def test_a_read_is_answered_again_until_its_seconds_run_out() -> None:
    clock, database = Clock(), Database()
    recent: RecentReads[str, str] = RecentReads(1.0, clock=clock)
    assert await recent.get("event", database.read) == "open"
    database.value = "cancelled"  # changed by another replica
    clock.now += 0.999
    assert await recent.get("event", database.read) == "open"
    clock.now += 0.001  # the bound: one second after the read started
    assert await recent.get("event", database.read) == "cancelled"
    assert database.reads == 2


async def test_a_change_made_here_is_seen_at_once() -> None:
    clock, database = Clock(), Database()
    recent: RecentReads[str, str] = RecentReads(60.0, clock=clock)
    await recent.get("event", database.read)
    database.value = "cancelled"
    recent.forget("event")
    assert await recent.get("event", database.read) == "cancelled"


async def test_a_read_in_flight_when_a_change_is_made_here_is_not_kept() -> None:
    clock, database = Clock(), Database()
    database.gate = asyncio.Event()
    recent: RecentReads[str, str] = RecentReads(60.0, clock=clock)
    before = asyncio.create_task(recent.get("event", database.read))
    await started(database)  # it read "open", and waits to answer
    database.value = "cancelled"
    recent.forget("event")
    database.gate.set()
    assert await before == "open"  # what that request read, as without the cache
    assert await recent.get("event", database.read) == "cancelled"
    assert database.reads == 2


async def test_requests_missing_at_once_share_one_read() -> None:
    database = Database()
    database.gate = asyncio.Event()
    recent: RecentReads[str, str] = RecentReads(1.0, clock=Clock())
    waiting = [asyncio.create_task(recent.get("event", database.read)) for _ in range(16)]
    await started(database)
    for _ in range(16):
        await asyncio.sleep(0)  # every request has had its turn
    database.gate.set()
    assert await asyncio.gather(*waiting) == ["open"] * 16
    assert database.reads == 1


async def test_a_request_that_gives_up_does_not_cancel_the_read_of_the_others() -> None:
    database = Database()
    database.gate = asyncio.Event()
    recent: RecentReads[str, str] = RecentReads(1.0, clock=Clock())
    first = asyncio.create_task(recent.get("event", database.read))
    second = asyncio.create_task(recent.get("event", database.read))
    await started(database)
    first.cancel()
    database.gate.set()
    assert await second == "open"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_read_is_not_kept() -> None:
    database = Database()
    recent: RecentReads[str, str] = RecentReads(1.0, clock=Clock())

    async def failing() -> str:
        raise ConnectionError("the database is away")

    with pytest.raises(ConnectionError):
        await recent.get("event", failing)
    assert await recent.get("event", database.read) == "open"


async def test_zero_seconds_reads_every_time() -> None:
    database = Database()
    recent: RecentReads[str, str] = RecentReads(0.0, clock=Clock())
    for _ in range(3):
        await recent.get("event", database.read)
    assert database.reads == 3


async def test_the_oldest_go_beyond_the_capacity() -> None:
    database = Database()
    recent: RecentReads[str, str] = RecentReads(60.0, capacity=2, clock=Clock())
    for key in ("a", "b", "c"):
        await recent.get(key, database.read)
    await recent.get("c", database.read)
    await recent.get("b", database.read)
    assert database.reads == 3
    await recent.get("a", database.read)  # went when "c" came
    assert database.reads == 4

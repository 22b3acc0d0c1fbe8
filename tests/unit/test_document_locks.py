"""Per-document locks that serialize writes to one document within the process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ilmo_shared.storage import DocumentLocks


async def test_holders_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks = DocumentLocks()
    trace: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str, wait: bool) -> None:
        async with locks.hold("things", key):
            trace.append(f"{name} in")
            if wait:
                await release.wait()
            trace.append(f"{name} out")

    first = asyncio.create_task(hold("doc-1", "a", wait=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("doc-1", "b", wait=False))
    other = asyncio.create_task(hold("doc-2", "c", wait=False))
    await other  # b was started before c: by now it has run up to the lock it waits for
    assert trace == ["a in", "c in", "c out"]
    release.set()
    await asyncio.gather(first, second, other)
    assert trace[3:] == ["a out", "b in", "b out"]
    assert len(locks) == 0  # forgotten once nobody holds or waits


class RecordingLeases:
    """Stands in for ``DocumentLeases``: records the leases held, in order."""

    def __init__(self) -> None:
        self.held_keys: list[str] = []

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        self.held_keys.append(key)
        yield


async def test_with_leases_a_holder_takes_the_documents_lease_unless_told_otherwise() -> None:
    leases = RecordingLeases()
    locks = DocumentLocks(leases)  # type: ignore[arg-type]  # the part of DocumentLeases used

    async with locks.hold("mails", "m-1"):
        pass
    async with locks.hold("seat_inventories", "event-1", between_replicas=False):
        pass

    assert leases.held_keys == ["mails/m-1"]

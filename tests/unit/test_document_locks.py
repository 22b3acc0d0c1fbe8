"""Per-document locks that serialize writes to one document within the process."""

from __future__ import annotations

import asyncio

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

"""The periodic worker of the sweeps: it runs on after a failure, stops without cutting a run."""

from __future__ import annotations

import asyncio
import itertools

from structlog.testing import capture_logs

from ilmo_shared.periodic import Periodic


async def test_it_runs_again_every_interval() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    async def work() -> None:
        runs.append(loop.time())
        if len(runs) == 3:
            done.set()

    worker = Periodic("test_sweep", work, interval=0.05, first_delay=0)
    worker.start()
    await asyncio.wait_for(done.wait(), timeout=5)
    await worker.stop()
    # Never sooner than the interval (later is the machine's business, not a rule's).
    assert all(later - earlier >= 0.04 for earlier, later in itertools.pairwise(runs))


async def test_a_failed_run_is_logged_and_the_next_one_still_comes() -> None:
    attempts = 0
    recovered = asyncio.Event()

    async def work() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database away")
        recovered.set()

    worker = Periodic("test_sweep", work, interval=0.01, first_delay=0)
    with capture_logs() as logs:
        worker.start()
        await asyncio.wait_for(recovered.wait(), timeout=5)
        await worker.stop()
    assert [entry["event"] for entry in logs] == ["test_sweep_failed"]


async def test_stopping_lets_a_run_in_progress_finish_and_ends_a_wait_at_once() -> None:
    running, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def work() -> None:
        running.set()
        await release.wait()
        finished.append(True)

    worker = Periodic("test_sweep", work, interval=3600, first_delay=0)
    worker.start()
    await asyncio.wait_for(running.wait(), timeout=5)
    stopping = asyncio.create_task(worker.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the run, does not cancel it
    release.set()
    await asyncio.wait_for(stopping, timeout=5)  # and not for the hour-long interval
    assert finished == [True]


async def test_the_first_delay_is_never_longer_than_the_interval() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    worker = Periodic("test_sweep", work, interval=0.01, first_delay=3600)
    worker.start()
    await asyncio.wait_for(ran.wait(), timeout=5)
    await worker.stop()

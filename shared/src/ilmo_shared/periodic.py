"""A worker that does one piece of work every so often: the sweeps a database with
TTL indexes would do, which FerretDB v1 cannot, and which must publish events anyway.

``Periodic`` runs its work after ``first_delay`` seconds, then every
``interval`` seconds, until it is stopped. A run that fails is logged
(``<name>_failed``) and tried again at the next interval, so a database away
for a while costs a run, not the worker. Stopping lets a run in progress
finish (a run is a series of conditional writes, and a graceful stop should
not cut one off) and ends any wait at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Periodic:
    """Runs ``work`` periodically beside the service's consumers (a ``runtime.Worker``)."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        *,
        interval: float,
        first_delay: float | None = None,
    ) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._first_delay = interval if first_delay is None else min(first_delay, interval)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Let a run in progress finish, then return; a wait ends at once."""
        if self._task is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        await task

    async def _run(self) -> None:
        delay = self._first_delay
        while not await self._stopped_within(delay):
            try:
                await self._work()
            except Exception:
                log.warning(f"{self.name}_failed", exc_info=True)
            delay = self._interval

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

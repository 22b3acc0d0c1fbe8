"""The retention sweep as a background worker: ``UseCases.sweep_retention`` every so often.

FerretDB v1 has no TTL indexes, and erasure must also tell the other
services (``registration.erased``), which a database-side expiry could not:
so expiry is an application sweep. It runs in every replica; two sweeps at
once are harmless, because each erasure is one conditional write that only
an unerased registration matches (the loser changes and announces nothing).

The first sweep runs five minutes after start (or one interval, if that is
shorter), so a restart neither competes with it nor skips it, then one every
``ILMO_RETENTION_SWEEP_INTERVAL_SECONDS`` (default hourly). Administrators
(and tests) run one at once with ``POST /api/v1/admin/retention/sweep``.
A failed sweep is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ilmo_registration.usecases import UseCases

# The first sweep waits this long after start, so starting never competes with it.
FIRST_SWEEP_DELAY_SECONDS = 300.0

log = structlog.get_logger(__name__)


class RetentionSweeper:
    """Runs the retention sweep periodically while the service does its work (a ``Worker``)."""

    def __init__(
        self,
        usecases: UseCases,
        *,
        interval_seconds: float,
        first_delay_seconds: float = FIRST_SWEEP_DELAY_SECONDS,
    ) -> None:
        self._usecases = usecases
        self._interval = interval_seconds
        self._first_delay = min(first_delay_seconds, interval_seconds)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="retention-sweep")

    async def stop(self) -> None:
        """Let a sweep in progress finish its current write, then return."""
        if self._task is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        await task

    async def _run(self) -> None:
        delay = self._first_delay
        while not await self._stopped_within(delay):
            try:
                result = await self._usecases.sweep_retention()
            except Exception:
                log.warning("retention_sweep_failed", exc_info=True)
            else:
                if result.events:
                    # Counts and nothing else: which registrations is in the events.
                    log.info(
                        "retention_swept",
                        events=result.events,
                        needs_erased=result.needs_erased,
                        registrations_erased=result.registrations_erased,
                    )
            delay = self._interval

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

"""The sweep that removes registrations nobody confirmed in time.

An expired registration already blocks nobody (a new registration of the
address replaces it, and a late confirmation is refused), so the sweep only
bounds how long its personal data stays: at most one sweep interval past
expiry. It asks for expired pending registrations with one query per pass
(FerretDB v1 reads the collection for it: once a minute by default is cheap)
and removes each with its own conditional write (``UseCases.sweep_expired``),
so several replicas sweeping at once remove each one once.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ilmo_registration.usecases import UseCases

log = structlog.get_logger(__name__)


class ExpirySweep:
    """A worker: every ``interval`` seconds, remove the expired unconfirmed registrations."""

    def __init__(self, usecases: UseCases, interval: float) -> None:
        self._usecases = usecases
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="registration-expiry-sweep")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                removed = await self._usecases.sweep_expired()
                if removed:
                    log.info("expired_registrations_removed", count=removed)
            except Exception:  # the database away: the next pass tries again
                log.warning("expiry_sweep_failed", exc_info=True)
            await asyncio.sleep(self._interval)

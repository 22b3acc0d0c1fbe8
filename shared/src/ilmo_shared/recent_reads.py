"""Reads answered again for a short while: documents that change a handful of times in their life.

Every registration read its event and the privacy notice in force by
``_id`` (the registration service), and every granted stream link its
event's stream details (streaming): about three database commands per
registration, each about 2 ms of FerretDB's CPU (docs/performance.md,
"Issue 18: the registration service").

``RecentReads`` answers a read it made less than ``seconds`` ago again
(counted from when that read started). What bounds the staleness:

- a change made by this process forgets (``forget``) what was read before
  it, and a read still in flight when the change was made is not kept: this
  process sees its own changes at once;
- a change made by another replica is seen here at most ``seconds`` after it
  was stored (no read older than that is answered). There is no broadcast
  that would tell every replica sooner: the service's queues are shared by
  its replicas, so an ``event.updated`` reaches one of them, not all.

Concurrent misses of one key share one read, so when an entry runs out
under load the database sees one read, not one per request in flight. The
read runs as a task of its own: a request that gives up does not cancel it
for the others. ``seconds`` of 0 turns it off (every call reads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Enough for every event that takes registrations at once; beyond it the
# oldest entries go (ids in requests are not trusted to be few).
CAPACITY = 1024


@dataclass(frozen=True)
class _Kept(Generic[V]):
    value: V
    until: float


@dataclass(frozen=True)
class _Reading(Generic[V]):
    generation: int
    task: asyncio.Future[V]


class RecentReads(Generic[K, V]):
    """What ``read`` answered for a key, answered again for ``seconds`` (see the module)."""

    def __init__(
        self,
        seconds: float,
        *,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._capacity = capacity
        self._clock = clock
        self._kept: dict[K, _Kept[V]] = {}
        self._reading: dict[K, _Reading[V]] = {}
        # Grows with every ``forget``: a read that started before it is not kept.
        self._generation = 0

    async def get(self, key: K, read: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """What ``read()`` answers for ``key``, or answered less than ``seconds`` ago."""
        if self.seconds <= 0:
            return await read()
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and now < kept.until:
            return kept.value
        reading = self._reading.get(key)
        if reading is None or reading.generation != self._generation:
            reading = self._start(key, read, now)
        return await asyncio.shield(reading.task)

    def forget(self, key: K) -> None:
        """This process changed ``key``: no earlier read of it, nor any read in flight, is kept."""
        self._generation += 1
        self._kept.pop(key, None)

    def _start(
        self, key: K, read: Callable[[], Coroutine[Any, Any, V]], started: float
    ) -> _Reading[V]:
        generation = self._generation
        reading = _Reading(generation, asyncio.ensure_future(read()))
        self._reading[key] = reading

        def done(task: asyncio.Future[V]) -> None:
            if self._reading.get(key) is reading:
                del self._reading[key]
            # Retrieving the exception also keeps asyncio from logging it as
            # never retrieved when every request that awaited it gave up.
            if task.cancelled() or task.exception() is not None:
                return
            if self._generation == generation:
                self._keep(key, _Kept(task.result(), started + self.seconds))

        reading.task.add_done_callback(done)
        return reading

    def _keep(self, key: K, kept: _Kept[V]) -> None:
        self._kept.pop(key, None)  # re-inserted last: the dict's order is the age
        self._kept[key] = kept
        if len(self._kept) <= self._capacity:
            return
        now = self._clock()
        for stale in [k for k, v in self._kept.items() if v.until <= now]:
            del self._kept[stale]
        while len(self._kept) > self._capacity:
            del self._kept[next(iter(self._kept))]

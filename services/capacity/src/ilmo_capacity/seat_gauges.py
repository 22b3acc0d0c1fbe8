"""Seats, waiting list and overselling per event, as Prometheus gauges.

Set on every stored decision and, once at start, from the latest stored
state of every event not yet over; an event's series are removed once it is
over, so that the number of series stays that of the events still ahead.
Capacity knows when an event starts, not when it ends: it counts as over a
day after its start (no event of a public-sector day programme runs
longer), or when it is cancelled.

``ilmo_event_seats_oversold`` adds up what each decision granted beyond the
capacity in force (``domain.seats_granted_beyond_capacity``). A decision is
the only moment that can be told apart from a capacity lowered below the
holders, so the figure is kept from the decisions this process made: a
restart starts it at 0, and the alert on it fires on the first scrape after
the decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

from ilmo_capacity.domain import SeatInventory
from ilmo_capacity.metrics import SEAT_CAPACITY, SEATS_OVERSOLD, SEATS_TAKEN, WAITING_LIST
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.periodic import Periodic

OVER_AFTER_START = timedelta(days=1)
GAUGES = (SEAT_CAPACITY, SEATS_TAKEN, WAITING_LIST, SEATS_OVERSOLD)


def is_over(inventory: SeatInventory, now: datetime) -> bool:
    """Cancelled, or started more than a day ago; an event whose start is not known is ahead."""
    if inventory.event_cancelled:
        return True
    return _over_by(inventory.starts_at, now)


def _over_by(starts_at: datetime | None, now: datetime) -> bool:
    if starts_at is None:
        return False
    if starts_at.tzinfo is None:
        # A client without tz_aware hands back naive UTC; a gauge must never fail a decision.
        starts_at = starts_at.replace(tzinfo=UTC)
    return now >= starts_at + OVER_AFTER_START


class SeatGauges:
    """The per-event gauges of the events this process knows to be ahead."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        # event id -> its start (None: not known), for removing the series once it is over
        self._shown: dict[str, datetime | None] = {}
        self._oversold: dict[str, int] = {}

    @property
    def events(self) -> frozenset[str]:
        return frozenset(self._shown)

    def show(self, inventory: SeatInventory, oversold: int = 0) -> None:
        """The event's state after a decision that granted ``oversold`` seats beyond capacity."""
        event = inventory.event_id
        if inventory.capacity is None:
            return
        if is_over(inventory, self._clock()):
            self._forget(event)
            return
        self._shown[event] = inventory.starts_at
        self._oversold[event] = self._oversold.get(event, 0) + oversold
        SEAT_CAPACITY.labels(event).set(inventory.capacity)
        SEATS_TAKEN.labels(event).set(inventory.reserved)
        WAITING_LIST.labels(event).set(inventory.waitlisted)
        SEATS_OVERSOLD.labels(event).set(self._oversold[event])

    def show_stored(self, inventories: Iterable[SeatInventory]) -> None:
        """States read at start; an event a decision has shown meanwhile keeps that newer state."""
        for inventory in inventories:
            if inventory.event_id not in self._shown:
                self.show(inventory)

    def forget_over(self) -> None:
        """Remove the series of events that are over by now."""
        now = self._clock()
        for event, starts_at in list(self._shown.items()):
            if _over_by(starts_at, now):
                self._forget(event)

    def _forget(self, event: str) -> None:
        self._shown.pop(event, None)
        self._oversold.pop(event, None)
        for gauge in GAUGES:
            with contextlib.suppress(KeyError):  # never shown
                gauge.remove(event)


class SeatGaugeKeeper(Periodic):
    """A ``runtime.Worker``: fills the gauges from the store once, then removes what is over.

    The first run reads every event's latest state (retried at the next
    interval while the database is away); later runs only drop events over.
    """

    def __init__(
        self,
        gauges: SeatGauges,
        latest_states: Callable[[], Awaitable[list[SeatInventory]]],
        *,
        interval: float = 300.0,
    ) -> None:
        super().__init__("seat_gauges", self.keep, interval=interval, first_delay=0)
        self._gauges = gauges
        self._latest_states = latest_states
        self._loaded = False

    async def keep(self) -> None:
        """One run: the stored states the first time (until it succeeds), then the tidying."""
        if not self._loaded:
            self._gauges.show_stored(await self._latest_states())
            self._loaded = True
        self._gauges.forget_over()

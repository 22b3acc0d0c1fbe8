"""What can happen to an event's seats, and what can be asked about them, as use cases.

A change is one operation on the event's seat inventory (``domain``),
stored with the events announcing its decisions in one write (``storage``,
which also wakes the outbox relay), then counted and logged. The message
handlers, the HTTP API and any later caller (a console, a check-in desk) go
through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from ilmo_capacity.domain import EventTerms, SeatInventory, needs_seat
from ilmo_capacity.metrics import DUPLICATE_MESSAGES, SEAT_DECISIONS
from ilmo_capacity.publication import decision_kind
from ilmo_capacity.seat_gauges import SeatGauges
from ilmo_capacity.storage import Operation, Outcome, SeatInventoryStore
from ilmo_event_contracts import Attendance
from ilmo_shared.clock import Clock, utc_now

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SeatCounts:
    """An event's seats as an organiser reads them, at one moment."""

    capacity: int
    reserved: int
    waitlisted: int
    over_capacity: int
    free: int
    promotion_closes_at: datetime | None
    promotion_closed: bool


class Seats:
    """The use cases on events' seats, over one store.

    ``message_id`` is the id of the message that asked (its envelope id): a
    message applied once is not applied again, whatever it would change.
    ``clock`` gives the time of each decision, which the promotion cutoff
    is judged against.
    """

    def __init__(
        self, store: SeatInventoryStore, clock: Clock = utc_now, gauges: SeatGauges | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._gauges = gauges if gauges is not None else SeatGauges(clock)

    @property
    def gauges(self) -> SeatGauges:
        """The per-event gauges every stored decision updates."""
        return self._gauges

    async def of_event(self, event_id: str) -> SeatInventory | None:
        """The seats of ``event_id`` as last stored; None until its capacity is known.

        Counts and terms only: its holders and waiting list are not read.
        """
        stored = await self._store.latest(event_id)
        if stored is None or stored.inventory.capacity is None:
            return None
        return stored.inventory

    async def counts(self, event_id: str) -> SeatCounts | None:
        """The seat counts of ``event_id`` now; None until its capacity is known."""
        inventory = await self.of_event(event_id)
        if inventory is None or inventory.capacity is None:
            return None
        return SeatCounts(
            capacity=inventory.capacity,
            reserved=inventory.reserved,
            waitlisted=inventory.waitlisted,
            over_capacity=inventory.over_capacity,
            free=inventory.free,
            promotion_closes_at=inventory.promotion_closes_at,
            promotion_closed=inventory.promotion_closed(self._clock()),
        )

    async def apply_details(
        self, event_id: str, terms: EventTerms, *, message_id: str | None = None
    ) -> Outcome:
        """The event's details as of ``terms.revision``: its seats, start, cutoff, cancellation."""
        now = self._clock()
        outcome = await self._decide(
            event_id, lambda seats: seats.apply_terms(terms, now), message_id
        )
        if outcome.written:
            stored = outcome.stored.inventory
            log.info(
                "seat_capacity_set",
                event_id=event_id,
                revision=terms.revision,
                capacity=terms.capacity,
                event_cancelled=stored.event_cancelled,
                promotion_closed=stored.promotion_closed(now),
                reserved=stored.reserved,
                waitlisted=stored.waitlisted,
                decisions=len(outcome.decisions),
            )
        return outcome

    async def request_seat(
        self,
        event_id: str,
        registration_id: str,
        attendance: Attendance,
        *,
        message_id: str | None = None,
    ) -> Outcome | None:
        """A registration asks for a seat; None if it is remote and needs none."""
        return await self._decide_for(
            attendance, event_id, lambda seats: seats.request_seat(registration_id), message_id
        )

    async def cancel(
        self,
        event_id: str,
        registration_id: str,
        attendance: Attendance,
        *,
        message_id: str | None = None,
    ) -> Outcome:
        """A registration gives its seat or its place in line back.

        Also for a remote one: it may have held a seat before it switched.
        One never known here changes nothing and writes nothing
        (``SeatInventory.cancel``). A seat freed after the promotion cutoff
        stays free.
        """
        now = self._clock()
        return await self._decide(
            event_id, lambda seats: seats.cancel(registration_id, attendance, now), message_id
        )

    async def switch(
        self,
        event_id: str,
        registration_id: str,
        attendance: Attendance,
        attendance_version: int,
        *,
        message_id: str | None = None,
    ) -> Outcome:
        """A registrant switched attendance (choice number ``attendance_version``).

        To in person: a seat or a place in line; to remote: the seat or the
        place goes back (a seat freed after the promotion cutoff stays
        free). An older or repeated choice changes nothing.
        """
        now = self._clock()
        return await self._decide(
            event_id,
            lambda seats: seats.switch(registration_id, attendance, attendance_version, now),
            message_id,
        )

    async def _decide_for(
        self,
        attendance: Attendance,
        event_id: str,
        operation: Operation,
        message_id: str | None,
    ) -> Outcome | None:
        """Decide for a registration that concerns seats; a remote one needs no decision."""
        if not needs_seat(attendance):
            return None
        return await self._decide(event_id, operation, message_id)

    async def _decide(self, event_id: str, operation: Operation, message_id: str | None) -> Outcome:
        outcome = await self._store.decide(event_id, operation, message_id=message_id)
        if outcome.duplicate:
            DUPLICATE_MESSAGES.inc()
        for decision in outcome.decisions:
            SEAT_DECISIONS.labels(decision_kind(decision)).inc()
        if outcome.written:
            self._gauges.show(outcome.stored.inventory, outcome.oversold)
        if outcome.oversold:
            # Must never happen: the domain's rule was broken. Ids and counts only.
            log.error("seats_oversold", event_id=event_id, oversold=outcome.oversold)
        # Ids and counts only; per message, so below INFO.
        log.debug(
            "seat_decisions_stored" if outcome.written else "seat_message_changed_nothing",
            event_id=event_id,
            version=outcome.stored.version,
            decisions=[(decision_kind(d), d.registration_id) for d in outcome.decisions],
            duplicate=outcome.duplicate,
            conflicts=outcome.conflicts,
        )
        return outcome

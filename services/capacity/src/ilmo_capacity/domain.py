"""Seats and the waiting list of one event: the rules, with no I/O.

A ``SeatInventory`` is the whole state capacity needs about one event: how
many seats there are (unknown until the event's details arrive), who holds
one, who waits and in which order, who cancelled, and who asked before the
capacity was known. Each operation changes the state and returns the
decisions it made, in the order they were made, named as the events that
announce them (``seat.reserved``, ``seat.waitlisted``, ``seat.released``,
``waitlist.left``). Operations are idempotent on the registration id, so a redelivered
message or a retried write never takes a second seat.

Rules (the invariants the property tests check):

- nobody holds two seats, nobody both holds a seat and waits;
- a seat is reserved only while fewer seats are held than the capacity, so
  reserved never exceeds capacity, except after the capacity was lowered
  below the number of holders: nobody loses a seat, and no seat is reserved
  until the holders are fewer than the capacity again;
- the waiting list is first in, first out, and a free seat never stays empty
  while someone waits;
- a cancelled registration stays cancelled: a request that arrives after its
  cancellation (messages crossing) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ilmo_event_contracts import Attendance


@dataclass(frozen=True)
class SeatReserved:
    """``registration_id`` now holds a seat; ``promoted`` if it came from the waiting list."""

    registration_id: str
    promoted: bool = False


@dataclass(frozen=True)
class SeatWaitlisted:
    """``registration_id`` joined the waiting list at ``position`` (1 = next in line)."""

    registration_id: str
    position: int


@dataclass(frozen=True)
class SeatReleased:
    """``registration_id`` cancelled and its seat is free again."""

    registration_id: str


@dataclass(frozen=True)
class WaitlistLeft:
    """``registration_id`` cancelled while waiting; everyone behind moves up one place."""

    registration_id: str


Decision = SeatReserved | SeatWaitlisted | SeatReleased | WaitlistLeft


def needs_seat(attendance: Attendance) -> bool:
    """Only in-person registrations concern seats; remote ones (and their cancellations) do not."""
    return attendance is Attendance.IN_PERSON


@dataclass
class SeatInventory:
    """The seats of one event.

    ``capacity`` is None until the event's details arrive; requests made
    before that wait in ``pending`` (in arrival order) and are decided, in that
    order, as soon as the capacity is set. ``revision`` is the revision of the
    event details the capacity came from.
    """

    event_id: str
    capacity: int | None = None
    revision: int = 0
    holders: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)

    # ------------------------------------------------------------ queries

    @property
    def reserved(self) -> int:
        return len(self.holders)

    @property
    def waitlisted(self) -> int:
        return len(self.waiting)

    def knows(self, registration_id: str) -> bool:
        """Whether the registration has asked for a seat or been cancelled here."""
        return (
            registration_id in self.cancelled
            or registration_id in self.holders
            or registration_id in self.waiting
            or registration_id in self.pending
        )

    def position_of(self, registration_id: str) -> int | None:
        """Place on the waiting list (1 = next), or None if not waiting."""
        try:
            return self.waiting.index(registration_id) + 1
        except ValueError:
            return None

    # --------------------------------------------------------- operations

    def request_seat(self, registration_id: str) -> list[Decision]:
        """An in-person registration asks for a seat: a seat if one is free, else a place in line.

        Asking again (a redelivery) changes nothing and decides nothing; so
        does asking after the registration was cancelled.
        """
        if self.knows(registration_id):
            return []
        if self.capacity is None:
            self.pending.append(registration_id)
            return []
        return [self._seat_or_line(registration_id)]

    def cancel(self, registration_id: str) -> list[Decision]:
        """A registration is cancelled: its seat goes to the first in line, or it leaves the line.

        Cancelling an unknown registration records it, so that its request,
        if it arrives later, is ignored. Cancelling again decides nothing.
        """
        if registration_id in self.cancelled:
            return []
        self.cancelled.add(registration_id)
        if registration_id in self.holders:
            self.holders.remove(registration_id)
            return [SeatReleased(registration_id), *self._promote()]
        if registration_id in self.waiting:
            self.waiting.remove(registration_id)
            return [WaitlistLeft(registration_id)]
        if registration_id in self.pending:
            self.pending.remove(registration_id)
        return []

    def set_capacity(self, capacity: int) -> list[Decision]:
        """The number of seats is (now) ``capacity``.

        More seats go to the waiting list in order, then to the requests that
        waited for the capacity to be known. Fewer seats take nobody's seat:
        the holders keep theirs, and new requests wait until enough cancel.
        """
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, got {capacity}")
        self.capacity = capacity
        decisions = self._promote()
        pending, self.pending = self.pending, []
        decisions.extend(self._seat_or_line(registration_id) for registration_id in pending)
        return decisions

    def apply_details(self, capacity: int, revision: int) -> list[Decision]:
        """The event's details at ``revision``; an older or repeated revision changes nothing."""
        if revision <= self.revision:
            return []
        self.revision = revision
        return self.set_capacity(capacity)

    # ---------------------------------------------------------- internals

    def _has_free_seat(self) -> bool:
        return self.capacity is not None and len(self.holders) < self.capacity

    def _seat_or_line(self, registration_id: str) -> Decision:
        if self._has_free_seat() and not self.waiting:
            self.holders.append(registration_id)
            return SeatReserved(registration_id)
        self.waiting.append(registration_id)
        return SeatWaitlisted(registration_id, len(self.waiting))

    def _promote(self) -> list[Decision]:
        promoted: list[Decision] = []
        while self.waiting and self._has_free_seat():
            registration_id = self.waiting.pop(0)
            self.holders.append(registration_id)
            promoted.append(SeatReserved(registration_id, promoted=True))
        return promoted

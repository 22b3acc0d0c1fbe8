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
  cancellation (messages crossing) is ignored;
- a registrant may switch attendance (``switch``): every choice has an
  attendance version (1 at acceptance, one more per switch), the inventory
  remembers the last version it applied per registration and ignores an
  older or repeated one, so switches that cross (version 3 before version 2,
  the acceptance after version 2) end in the state of the newest choice.
  Every decision carries the version of the choice it was made for (a
  promotion: the promoted registration's version).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ilmo_event_contracts import FIRST_ATTENDANCE_VERSION, Attendance


@dataclass(frozen=True)
class SeatReserved:
    """``registration_id`` now holds a seat; ``promoted`` if it came from the waiting list."""

    registration_id: str
    promoted: bool = False
    attendance_version: int = FIRST_ATTENDANCE_VERSION


@dataclass(frozen=True)
class SeatWaitlisted:
    """``registration_id`` joined the waiting list at ``position`` (1 = next in line)."""

    registration_id: str
    position: int
    attendance_version: int = FIRST_ATTENDANCE_VERSION


@dataclass(frozen=True)
class SeatReleased:
    """``registration_id`` cancelled (or switched to remote) and its seat is free again."""

    registration_id: str
    attendance_version: int = FIRST_ATTENDANCE_VERSION


@dataclass(frozen=True)
class WaitlistLeft:
    """``registration_id`` cancelled (or switched to remote) while waiting.

    Everyone behind moves up one place.
    """

    registration_id: str
    attendance_version: int = FIRST_ATTENDANCE_VERSION


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
    event details the capacity came from. ``versions`` holds the last
    attendance version applied for registrations that switched (a
    registration missing from it is at version 1), so that a stale or
    repeated choice is recognised.
    """

    event_id: str
    capacity: int | None = None
    revision: int = 0
    holders: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)

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

    def version_of(self, registration_id: str) -> int:
        """The last attendance version applied for the registration (1 unless it switched)."""
        return self.versions.get(registration_id, FIRST_ATTENDANCE_VERSION)

    def _has_seat_or_line(self, registration_id: str) -> bool:
        return (
            registration_id in self.holders
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
        does asking after the registration was cancelled, or after it
        switched (its acceptance arriving behind a switch: version 1 is older).
        """
        if self.knows(registration_id) or registration_id in self.versions:
            return []
        return self._ask(registration_id)

    def switch(
        self, registration_id: str, attendance: Attendance, attendance_version: int
    ) -> list[Decision]:
        """The registrant's choice number ``attendance_version`` is ``attendance``.

        To in person: a seat if one is free, else a place in line; one that
        still holds its seat or place (the switch to remote between was
        overtaken, or is still to come and will be older) keeps it, announced
        again with this version, since the registrant waits for an answer to
        this choice. To remote: its seat goes to the first in line,
        or it leaves the line. A version not newer than the last one applied
        (a redelivery, or a switch overtaken by a later one) changes nothing;
        neither does anything after a cancellation. The version is recorded
        even when nothing else changes, so that the older choices arriving
        later are recognised as older.
        """
        if registration_id in self.cancelled:
            return []
        if attendance_version <= self.version_of(registration_id):
            return []
        self.versions[registration_id] = attendance_version
        if attendance is Attendance.IN_PERSON:
            return self._stay_or_ask(registration_id, attendance_version)
        return self._leave(registration_id)

    def cancel(
        self, registration_id: str, attendance: Attendance = Attendance.IN_PERSON
    ) -> list[Decision]:
        """A registration is cancelled: its seat goes to the first in line, or it leaves the line.

        Cancelling an unknown in-person registration records it, so that its
        request, if it arrives later, is ignored. Cancelling again decides
        nothing. Final: no later choice of attendance changes anything.

        ``attendance`` is the registration's last choice. A remote one that
        this inventory never heard of is not recorded (remote registrations
        need no seat, and recording each would cost a write): should a
        switch to in person arrive after it, a later switch back to remote
        (the choice the cancellation was made in) follows it and frees
        whatever that switch took.
        """
        if registration_id in self.cancelled:
            return []
        unknown = not self._has_seat_or_line(registration_id) and (
            registration_id not in self.versions
        )
        if attendance is Attendance.REMOTE and unknown:
            return []
        decisions = self._leave(registration_id)
        self.cancelled.add(registration_id)
        self.versions.pop(registration_id, None)
        return decisions

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

    def _ask(self, registration_id: str) -> list[Decision]:
        if self.capacity is None:
            self.pending.append(registration_id)
            return []
        return [self._seat_or_line(registration_id)]

    def _stay_or_ask(self, registration_id: str, version: int) -> list[Decision]:
        if registration_id in self.holders:
            return [SeatReserved(registration_id, attendance_version=version)]
        position = self.position_of(registration_id)
        if position is not None:
            return [SeatWaitlisted(registration_id, position, version)]
        if registration_id in self.pending:
            return []
        return self._ask(registration_id)

    def _leave(self, registration_id: str) -> list[Decision]:
        """Give back the seat (the first in line gets it) or the place in line, if any."""
        version = self.version_of(registration_id)
        if registration_id in self.holders:
            self.holders.remove(registration_id)
            return [SeatReleased(registration_id, version), *self._promote()]
        if registration_id in self.waiting:
            self.waiting.remove(registration_id)
            return [WaitlistLeft(registration_id, version)]
        if registration_id in self.pending:
            self.pending.remove(registration_id)
        return []

    def _has_free_seat(self) -> bool:
        return self.capacity is not None and len(self.holders) < self.capacity

    def _seat_or_line(self, registration_id: str) -> Decision:
        version = self.version_of(registration_id)
        if self._has_free_seat() and not self.waiting:
            self.holders.append(registration_id)
            return SeatReserved(registration_id, attendance_version=version)
        self.waiting.append(registration_id)
        return SeatWaitlisted(registration_id, len(self.waiting), version)

    def _promote(self) -> list[Decision]:
        promoted: list[Decision] = []
        while self.waiting and self._has_free_seat():
            registration_id = self.waiting.pop(0)
            self.holders.append(registration_id)
            promoted.append(SeatReserved(registration_id, True, self.version_of(registration_id)))
        return promoted

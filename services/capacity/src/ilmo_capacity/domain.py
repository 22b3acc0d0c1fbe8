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
  while someone waits, until the promotion cutoff (below);
- a cancelled registration stays cancelled: a request that arrives after its
  cancellation (messages crossing) is ignored;
- a registrant may switch attendance (``switch``): every choice has an
  attendance version (1 at acceptance, one more per switch), the inventory
  remembers the last version it applied per registration and ignores an
  older or repeated one, so switches that cross (version 3 before version 2,
  the acceptance after version 2) end in the state of the newest choice.
  Every decision carries the version of the choice it was made for (a
  promotion: the promoted registration's version);
- promotion stops at the cutoff: a seat freed (a cancellation, a switch to
  remote, more seats) at or after ``starts_at - promotion_cutoff_minutes``
  is not offered to the waiting list and stays free, because a mail read on
  the way to the venue is no use. The time is passed in (``now``); an event
  moved later opens promotion again, and its next details promote the
  waiting list into the seats left free. A request that arrives after the
  cutoff still gets a free seat if nobody waits, else a place in line;
- a cancelled event (``event.cancelled``) promotes nobody and gives no new
  seat or place in line: a request or a switch to in person that still
  arrives (messages crossing the cancellation) gets no decision and no
  event, so nobody is told "you have a seat" after "the event is
  cancelled". Holders keep their seats (nobody is oversold), and
  cancellations and switches to remote still free them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, MutableMapping, MutableSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ilmo_event_contracts import FIRST_ATTENDANCE_VERSION, Attendance
from ilmo_event_contracts.events import PROMOTION_CUTOFF_MINUTES


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


class RegistrationList(Protocol):
    """An ordered list of registration ids as the rules use it (a ``list`` is one).

    Only these operations, so that a store can answer them from a few
    records of one event instead of holding every seat holder
    (``ilmo_capacity.placements``).
    """

    def __contains__(self, registration_id: object, /) -> bool: ...
    # Compared with lists (tests, ``to_document``'s round trip): equality is the list's.
    def __eq__(self, other: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def append(self, registration_id: str, /) -> None: ...
    def remove(self, registration_id: str, /) -> None: ...
    def pop(self, index: int, /) -> str: ...
    def index(self, registration_id: str, /) -> int: ...
    def clear(self) -> None: ...


def seats_granted_beyond_capacity(holders_before: Collection[str], after: SeatInventory) -> int:
    """Seats one operation granted beyond the capacity in force: the oversold seats.

    The rule says a seat is granted only while fewer seats are held than the
    capacity, so after an operation that granted seats, at most the capacity
    is held (an operation that lowers the capacity grants none, one that
    raises it grants only into the new seats). Holders beyond the capacity
    after an operation that granted no seat are the lowering's, which leaves
    everyone their seat: that is not overselling, and does not count. A
    holder announced again (a repeated switch to in person) was granted
    nothing new.
    """
    return granted_beyond_capacity(len(set(after.holders).difference(holders_before)), after)


def granted_beyond_capacity(granted: int, after: SeatInventory) -> int:
    """``seats_granted_beyond_capacity`` from the number of registrations newly seated."""
    return min(granted, after.over_capacity)


def promotion_closes_at(starts_at: datetime, cutoff_minutes: int) -> datetime:
    """The first moment a freed seat is no longer offered to the waiting list."""
    return starts_at - timedelta(minutes=cutoff_minutes)


@dataclass(frozen=True)
class EventTerms:
    """What capacity keeps of an event's details (one revision of them)."""

    capacity: int
    revision: int
    starts_at: datetime | None = None
    promotion_cutoff_minutes: int = PROMOTION_CUTOFF_MINUTES
    cancelled: bool = False


@dataclass
class SeatInventory:
    """The seats of one event.

    ``capacity`` is None until the event's details arrive; requests made
    before that wait in ``pending`` (in arrival order) and are decided, in that
    order, as soon as the capacity is set. ``revision`` is the revision of the
    event details the capacity came from. ``versions`` holds the last
    attendance version applied for registrations that switched (a
    registration missing from it is at version 1), so that a stale or
    repeated choice is recognised. ``starts_at`` (None until details that
    carry it arrive) and ``promotion_cutoff_minutes`` say when promotion
    stops; ``event_cancelled`` is final.

    Operations that can free a seat take ``now``, the time of the decision;
    None means the time is not considered (only the cutoff needs it, and
    only callers that know no time, such as tests of the other rules, leave
    it out).
    """

    event_id: str
    capacity: int | None = None
    revision: int = 0
    holders: RegistrationList = field(default_factory=list[str])
    waiting: RegistrationList = field(default_factory=list[str])
    pending: RegistrationList = field(default_factory=list[str])
    cancelled: MutableSet[str] = field(default_factory=set[str])
    versions: MutableMapping[str, int] = field(default_factory=dict[str, int])
    starts_at: datetime | None = None
    promotion_cutoff_minutes: int = PROMOTION_CUTOFF_MINUTES
    event_cancelled: bool = False

    # ------------------------------------------------------------ queries

    @property
    def reserved(self) -> int:
        return len(self.holders)

    @property
    def waitlisted(self) -> int:
        return len(self.waiting)

    @property
    def over_capacity(self) -> int:
        """Seats held beyond the capacity (after it was lowered): nobody lost theirs."""
        return max(0, self.reserved - (self.capacity or 0))

    @property
    def free(self) -> int:
        """Seats nobody holds: none while over capacity."""
        return max(0, (self.capacity or 0) - self.reserved)

    @property
    def promotion_closes_at(self) -> datetime | None:
        """When promotion stops; None while the start is not known."""
        if self.starts_at is None:
            return None
        return promotion_closes_at(self.starts_at, self.promotion_cutoff_minutes)

    def promotion_closed(self, now: datetime | None) -> bool:
        """Whether a seat freed at ``now`` stays free: the event is cancelled, or past the cutoff.

        Closed from the cutoff on (``now >= closes_at``); open before it, and
        whenever the start or the time is not known.
        """
        if self.event_cancelled:
            return True
        closes_at = self.promotion_closes_at
        return closes_at is not None and now is not None and now >= closes_at

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
        self,
        registration_id: str,
        attendance: Attendance,
        attendance_version: int,
        now: datetime | None = None,
    ) -> list[Decision]:
        """The registrant's choice number ``attendance_version`` is ``attendance``.

        To in person: a seat if one is free, else a place in line; one that
        still holds its seat or place (the switch to remote between was
        overtaken, or is still to come and will be older) keeps it, announced
        again with this version, since the registrant waits for an answer to
        this choice. To remote: its seat goes to the first in line (before
        the promotion cutoff; after it the seat stays free), or it leaves the
        line. A version not newer than the last one applied (a redelivery,
        or a switch overtaken by a later one) changes nothing; neither does
        anything after a cancellation. The version is recorded
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
        return self._leave(registration_id, now)

    def cancel(
        self,
        registration_id: str,
        attendance: Attendance = Attendance.IN_PERSON,
        now: datetime | None = None,
    ) -> list[Decision]:
        """A registration is cancelled: its seat goes to the first in line, or it leaves the line.

        After the promotion cutoff (or the event's cancellation) the seat stays free.

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
        decisions = self._leave(registration_id, now)
        self.cancelled.add(registration_id)
        self.versions.pop(registration_id, None)
        return decisions

    def set_capacity(self, capacity: int, now: datetime | None = None) -> list[Decision]:
        """The number of seats is (now) ``capacity``.

        More seats go to the waiting list in order (until the promotion
        cutoff), then to the requests that waited for the capacity to be
        known. Fewer seats take nobody's seat: the holders keep theirs, and
        new requests wait until enough cancel. Once the event is cancelled,
        the requests that waited for the capacity are decided nothing.
        """
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, got {capacity}")
        self.capacity = capacity
        decisions = self._promote(now)
        if self.event_cancelled:
            return decisions
        pending = list(self.pending)
        self.pending.clear()
        decisions.extend(self._seat_or_line(registration_id) for registration_id in pending)
        return decisions

    def apply_details(
        self, capacity: int, revision: int, now: datetime | None = None
    ) -> list[Decision]:
        """The event's seat count at ``revision``; an older or repeated revision changes nothing."""
        return self.apply_terms(EventTerms(capacity, revision), now)

    def apply_terms(self, terms: EventTerms, now: datetime | None = None) -> list[Decision]:
        """The event's details at ``terms.revision``: seats, start, cutoff, cancellation.

        An older or repeated revision changes nothing. A cancellation stays
        (a later revision without it does not undo it). Terms without a
        start keep the start known before.
        """
        if terms.revision <= self.revision:
            return []
        self.revision = terms.revision
        if terms.starts_at is not None:
            self.starts_at = terms.starts_at
        self.promotion_cutoff_minutes = terms.promotion_cutoff_minutes
        self.event_cancelled = self.event_cancelled or terms.cancelled
        return self.set_capacity(terms.capacity, now)

    # ---------------------------------------------------------- internals

    def _ask(self, registration_id: str) -> list[Decision]:
        if self.event_cancelled:
            return []  # no new seat or place in line for an event that will not take place
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

    def _leave(self, registration_id: str, now: datetime | None) -> list[Decision]:
        """Give back the seat (the first in line gets it) or the place in line, if any."""
        version = self.version_of(registration_id)
        if registration_id in self.holders:
            self.holders.remove(registration_id)
            return [SeatReleased(registration_id, version), *self._promote(now)]
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

    def _promote(self, now: datetime | None) -> list[Decision]:
        """Free seats to the first in line, unless promotion has closed (``promotion_closed``)."""
        promoted: list[Decision] = []
        if self.promotion_closed(now):
            return promoted
        while self.waiting and self._has_free_seat():
            registration_id = self.waiting.pop(0)
            self.holders.append(registration_id)
            promoted.append(SeatReserved(registration_id, True, self.version_of(registration_id)))
        return promoted

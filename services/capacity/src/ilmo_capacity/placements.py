"""One decision's view of an event's seats, made of the few records it needs (no I/O).

The rules (``domain.SeatInventory``) speak of lists: the seat holders, the
waiting list, the requests pending for the capacity. Stored as lists, every
decision would read and write every registrant of the event. Here the same
lists are answered from small records instead, so that a decision costs the
same at 50 registrants as at 20,000:

- ``Counts``: how many hold a seat, wait, or are pending, and the first and
  next ticket number of the waiting line and of the pending requests;
- ``Placement``: where one registration stands (a seat, the line, pending,
  cancelled, or nowhere), with its ticket if it is in a queue and its last
  attendance version if it switched. Each change is a new numbered
  placement (1, 2, …), never an update of the old one;
- ``Ticket``: who was given ticket ``number`` of a queue. A ticket is only
  valid while its registration's placement still names it, so leaving the
  line from the middle writes nothing but the leaver's new placement; the
  stale ticket is skipped when the line reaches it.

A ``Ledger`` holds the counts and the records read so far, and gives the
rules an inventory whose lists answer from it (``inventory``). When the rules
ask about a record not read yet, the ledger raises ``Unloaded`` naming it;
the store reads it and runs the operation again on a fresh ledger (the
operations are pure, so running one again is safe). At the end the ledger
names what changed: new placements, new tickets, the counts.

The holders cannot be listed (no decision needs them); the line's and the
pending requests' members can, ticket by ticket, which only the rare
decisions that need a position inside the line or all pending requests do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping, MutableSet
from dataclasses import dataclass, replace
from enum import StrEnum

from ilmo_capacity.domain import SeatInventory

# Tickets read ahead when the line is walked: promotions usually take a few in a row.
READ_AHEAD = 8


class Place(StrEnum):
    """Where a registration stands in one event's seats."""

    SEAT = "seat"
    LINE = "line"  # the waiting list
    PENDING = "pending"  # asked before the capacity was known
    CANCELLED = "cancelled"
    NOWHERE = "nowhere"  # never asked, or gave its seat or place back


QUEUES = (Place.LINE, Place.PENDING)


@dataclass(frozen=True)
class Placement:
    """Where one registration stands; ``number`` 0 means nothing was ever stored for it."""

    registration_id: str
    number: int = 0
    place: Place = Place.NOWHERE
    ticket: int | None = None
    attendance_version: int | None = None
    # The decision (version, index) that stored it: lists holders in the order seated.
    stored_by: tuple[int, int] = (0, 0)

    def holds(self, queue: Place, ticket: int) -> bool:
        return self.place is queue and self.ticket == ticket


@dataclass(frozen=True)
class Ticket:
    """``registration_id`` was given ticket ``number`` of ``queue`` (the line or pending)."""

    queue: Place
    number: int
    registration_id: str


TicketKey = tuple[Place, int]


@dataclass(frozen=True)
class Counts:
    """The sizes of an event's lists and the ticket numbers that bound its queues."""

    reserved: int = 0
    waiting: int = 0
    pending: int = 0
    line_first: int = 1  # no valid ticket of the line is below it
    line_next: int = 1  # the ticket the next to join the line gets
    pending_first: int = 1
    pending_next: int = 1

    def first(self, queue: Place) -> int:
        return self.line_first if queue is Place.LINE else self.pending_first

    def next(self, queue: Place) -> int:
        return self.line_next if queue is Place.LINE else self.pending_next


def whole(inventory: SeatInventory, latest: Iterable[Placement]) -> SeatInventory:
    """``inventory`` (terms only) with every list filled from each registration's latest placement.

    Holders in the order they were seated, queues in ticket order: the lists
    the rules would have kept.
    """
    placements = list(latest)
    seated = sorted(placements, key=lambda p: p.stored_by)
    by_ticket = sorted(placements, key=lambda p: p.ticket or 0)
    inventory.holders = [p.registration_id for p in seated if p.place is Place.SEAT]
    inventory.waiting = [p.registration_id for p in by_ticket if p.place is Place.LINE]
    inventory.pending = [p.registration_id for p in by_ticket if p.place is Place.PENDING]
    inventory.cancelled = {p.registration_id for p in placements if p.place is Place.CANCELLED}
    inventory.versions = {
        p.registration_id: p.attendance_version
        for p in placements
        if p.attendance_version is not None
    }
    return inventory


class Unloaded(Exception):  # noqa: N818 (a request to read, not an error of the caller)
    """The operation needs records not read yet: read them, then run it again."""

    def __init__(
        self, registrations: tuple[str, ...] = (), tickets: tuple[TicketKey, ...] = ()
    ) -> None:
        super().__init__(f"{len(registrations)} placements and {len(tickets)} tickets to read")
        self.registrations = registrations
        self.tickets = tickets


class CorruptLedgerError(RuntimeError):
    """The counts say someone waits, but no valid ticket is left: deciding could go wrong."""


class Ledger:
    """The counts and the records read for one attempt at one decision.

    ``tickets`` maps a ticket to None when it was looked for and is not
    stored (a decision stores only the tickets still valid at its end).
    """

    def __init__(
        self,
        counts: Counts,
        placements: Mapping[str, Placement],
        tickets: Mapping[TicketKey, Ticket | None],
    ) -> None:
        self._before = counts
        self.counts = counts
        self._read = placements
        self._tickets = tickets
        self._changed: dict[str, Placement] = {}
        self._given: dict[TicketKey, Ticket] = {}

    def inventory(self, inventory: SeatInventory) -> SeatInventory:
        """``inventory`` (terms only) with its lists answered from this ledger."""
        inventory.holders = Members(self, Place.SEAT)
        inventory.waiting = Members(self, Place.LINE)
        inventory.pending = Members(self, Place.PENDING)
        inventory.cancelled = Cancelled(self)
        inventory.versions = Versions(self)
        return inventory

    # ------------------------------------------------------------ records

    def placement(self, registration_id: str) -> Placement:
        found = self._changed.get(registration_id) or self._read.get(registration_id)
        if found is None:
            raise Unloaded(registrations=(registration_id,))
        return found

    def place_of(self, registration_id: str) -> Place:
        return self.placement(registration_id).place

    def _ticket(self, key: TicketKey) -> Ticket | None:
        if key in self._given:
            return self._given[key]
        if key not in self._tickets:
            queue, number = key
            ahead = range(number, min(number + READ_AHEAD, self.counts.next(queue)))
            raise Unloaded(tickets=self._unread(queue, ahead))
        return self._tickets[key]

    def _unread(self, queue: Place, numbers: range) -> tuple[TicketKey, ...]:
        keys = ((queue, number) for number in numbers)
        return tuple(key for key in keys if key not in self._given and key not in self._tickets)

    def _owner(self, queue: Place, number: int) -> str | None:
        """Who still holds ticket ``number`` of ``queue``; None if the ticket is stale."""
        ticket = self._ticket((queue, number))
        if ticket is None or not self.placement(ticket.registration_id).holds(queue, number):
            return None
        return ticket.registration_id

    # ------------------------------------------------------------ queues

    def first(self, queue: Place) -> tuple[int, str]:
        """The first valid ticket of ``queue`` and its holder; stale ones before it are passed."""
        number = self.counts.first(queue)
        while number < self.counts.next(queue):
            owner = self._owner(queue, number)
            if owner is not None:
                return number, owner
            number += 1
            self._set_first(queue, number)
        raise CorruptLedgerError(f"no valid ticket left in the {queue} of a non-empty queue")

    def members(self, queue: Place) -> list[Placement]:
        """Everyone in ``queue``, in order: reads every ticket from the first on (rarely needed)."""
        numbers = range(self.counts.first(queue), self.counts.next(queue))
        unread = self._unread(queue, numbers)
        if unread:
            raise Unloaded(tickets=unread)
        tickets = [ticket for n in numbers if (ticket := self._ticket((queue, n))) is not None]
        owners = dict.fromkeys(t.registration_id for t in tickets)
        unknown = tuple(r for r in owners if r not in self._changed and r not in self._read)
        if unknown:
            raise Unloaded(registrations=unknown)
        placements = (self.placement(t.registration_id) for t in tickets)
        return [p for t, p in zip(tickets, placements, strict=True) if p.holds(queue, t.number)]

    def position(self, queue: Place, registration_id: str) -> int:
        """1 for the first in ``queue``: counts the valid tickets before this one's."""
        placement = self.placement(registration_id)
        if placement.place is not queue or placement.ticket is None:
            raise ValueError(f"{registration_id} is not in the {queue}")
        ahead = [p for p in self.members(queue) if (p.ticket or 0) < placement.ticket]
        return 1 + len(ahead)

    def take_first(self, queue: Place) -> str:
        number, owner = self.first(queue)
        self.move(owner, Place.NOWHERE)
        self._set_first(queue, number + 1)
        return owner

    def clear(self, queue: Place) -> None:
        for placement in self.members(queue):
            self.move(placement.registration_id, Place.NOWHERE)
        self._set_first(queue, self.counts.next(queue))

    def _set_first(self, queue: Place, number: int) -> None:
        if queue is Place.LINE:
            self.counts = replace(self.counts, line_first=number)
        else:
            self.counts = replace(self.counts, pending_first=number)

    # ------------------------------------------------------------ changes

    def move(self, registration_id: str, place: Place) -> None:
        """``registration_id`` now stands at ``place``; a queue gives it the next ticket."""
        before = self.placement(registration_id)
        counts = self._counted(before.place, -1)
        ticket: int | None = None
        if place is Place.LINE:
            ticket = counts.line_next
            counts = replace(counts, line_next=ticket + 1)
        elif place is Place.PENDING:
            ticket = counts.pending_next
            counts = replace(counts, pending_next=ticket + 1)
        if ticket is not None:
            self._given[(place, ticket)] = Ticket(place, ticket, registration_id)
        self.counts = counts
        self.counts = self._counted(place, +1)
        self._changed[registration_id] = replace(before, place=place, ticket=ticket)

    def set_version(self, registration_id: str, version: int | None) -> None:
        before = self.placement(registration_id)
        self._changed[registration_id] = replace(before, attendance_version=version)

    def _counted(self, place: Place, change: int) -> Counts:
        counts = self.counts
        if place is Place.SEAT:
            return replace(counts, reserved=counts.reserved + change)
        if place is Place.LINE:
            return replace(counts, waiting=counts.waiting + change)
        if place is Place.PENDING:
            return replace(counts, pending=counts.pending + change)
        return counts

    def new_placements(self, version: int) -> list[Placement]:
        """Every placement that changed, numbered one more than the one read.

        One that changed place is marked as stored by decision ``version``;
        one that only changed its attendance version keeps its mark.
        """
        changed: list[Placement] = []
        for registration_id, after in self._changed.items():
            before = self._read[registration_id]
            if after.place is not before.place:
                after = replace(after, stored_by=(version, len(changed)))
            elif (after.ticket, after.attendance_version) == (
                before.ticket,
                before.attendance_version,
            ):
                continue
            changed.append(replace(after, number=before.number + 1))
        return changed

    def new_tickets(self) -> list[Ticket]:
        """The tickets given in this decision whose holder still holds them."""
        return [
            ticket
            for (queue, number), ticket in self._given.items()
            if self.placement(ticket.registration_id).holds(queue, number)
        ]

    def seated(self) -> int:
        """Registrations that hold a seat now and did not before this decision."""
        return sum(
            1
            for registration_id, after in self._changed.items()
            if after.place is Place.SEAT and self._read[registration_id].place is not Place.SEAT
        )


class Members:
    """The holders, the line or the pending requests as a ``domain.RegistrationList``."""

    def __init__(self, ledger: Ledger, place: Place) -> None:
        self._ledger = ledger
        self._place = place

    def __contains__(self, registration_id: object, /) -> bool:
        return isinstance(registration_id, str) and (
            self._ledger.place_of(registration_id) is self._place
        )

    def __len__(self) -> int:
        counts = self._ledger.counts
        if self._place is Place.SEAT:
            return counts.reserved
        return counts.waiting if self._place is Place.LINE else counts.pending

    def __iter__(self) -> Iterator[str]:
        return iter([p.registration_id for p in self._ledger.members(self._queue())])

    def append(self, registration_id: str, /) -> None:
        self._ledger.move(registration_id, self._place)

    def remove(self, registration_id: str, /) -> None:
        if registration_id not in self:
            raise ValueError(f"{registration_id} is not at {self._place}")
        self._ledger.move(registration_id, Place.NOWHERE)

    def pop(self, index: int, /) -> str:
        if index != 0:
            raise NotImplementedError("only the first of a queue is taken")
        return self._ledger.take_first(self._queue())

    def index(self, registration_id: str, /) -> int:
        return self._ledger.position(self._queue(), registration_id) - 1

    def clear(self) -> None:
        self._ledger.clear(self._queue())

    def _queue(self) -> Place:
        if self._place not in QUEUES:
            raise NotImplementedError("seat holders are counted, never listed")
        return self._place


class Cancelled(MutableSet[str]):
    """The cancelled registrations; asked one at a time, never listed."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __contains__(self, registration_id: object) -> bool:
        return isinstance(registration_id, str) and (
            self._ledger.place_of(registration_id) is Place.CANCELLED
        )

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("cancelled registrations are never listed")

    def __len__(self) -> int:
        raise NotImplementedError("cancelled registrations are not counted")

    def add(self, value: str) -> None:
        self._ledger.move(value, Place.CANCELLED)

    def discard(self, value: str) -> None:
        if value in self:
            self._ledger.move(value, Place.NOWHERE)


class Versions(MutableMapping[str, int]):
    """The last attendance version of registrations that switched; asked one at a time."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __getitem__(self, registration_id: str) -> int:
        version = self._ledger.placement(registration_id).attendance_version
        if version is None:
            raise KeyError(registration_id)
        return version

    def __setitem__(self, registration_id: str, version: int) -> None:
        self._ledger.set_version(registration_id, version)

    def __delitem__(self, registration_id: str) -> None:
        if self._ledger.placement(registration_id).attendance_version is None:
            raise KeyError(registration_id)  # it never switched
        self._ledger.set_version(registration_id, None)

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("attendance versions are never listed")

    def __len__(self) -> int:
        raise NotImplementedError("attendance versions are not counted")

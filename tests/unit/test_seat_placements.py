"""The rules on a ledger of placements and tickets decide exactly as on whole lists (no I/O).

``RecordBook`` keeps the records in memory the way the store keeps them in
the database: a head per decision, placements numbered per registration,
tickets by number, and a decision reads only what the ledger asks for. Any
sequence of requests, cancellations, switches and event details, with
promotion before or after the cutoff, must make the same decisions as a
plain ``SeatInventory`` and leave the same lists behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilmo_capacity.domain import Decision, EventTerms, SeatInventory, SeatWaitlisted
from ilmo_capacity.placements import (
    CorruptLedgerError,
    Counts,
    Ledger,
    Place,
    Placement,
    Ticket,
    TicketKey,
    Unloaded,
    whole,
)
from ilmo_capacity.seat_documents import Head, after
from ilmo_event_contracts import Attendance

PEOPLE = [str(uuid.UUID(int=n + 1)) for n in range(12)]
STARTS = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
EARLY, LATE = STARTS - timedelta(hours=3), STARTS - timedelta(minutes=30)
Operation = Callable[[SeatInventory], Sequence[Decision]]


class RecordBook:
    """One event's records in memory, decided on as the store does, counting what is read."""

    def __init__(self, event_id: str = "seminar") -> None:
        self.head = Head(event_id)
        self.placements: dict[str, list[Placement]] = {}
        self.tickets: dict[TicketKey, Ticket] = {}
        self.reads = 0

    def decide(self, operation: Operation) -> list[Decision]:
        placements: dict[str, Placement] = {}
        tickets: dict[TicketKey, Ticket | None] = {}
        while True:
            ledger = Ledger(self.head.counts, placements, tickets)
            inventory = ledger.inventory(self.head.terms())
            try:
                decisions = list(operation(inventory))
            except Unloaded as missing:
                asked = (missing.registrations, missing.tickets)
                for key in missing.tickets:
                    tickets[key] = self.tickets.get(key)
                for registration_id in missing.registrations:
                    stored = self.placements.get(registration_id, [Placement(registration_id)])
                    placements[registration_id] = stored[-1]
                self.reads += len(missing.tickets) + len(missing.registrations)
                assert any(asked), "asked for nothing"
                continue
            break
        version = self.head.version + 1
        for placement in ledger.new_placements(version):
            numbered = self.placements.setdefault(placement.registration_id, [])
            assert placement.number == len(numbered) + 1, "a placement number was skipped"
            numbered.append(placement)
        for ticket in ledger.new_tickets():
            key = (ticket.queue, ticket.number)
            assert key not in self.tickets, "a ticket was given twice"
            self.tickets[key] = ticket
        self.head = after(inventory, ledger.counts, version, ())
        return decisions

    def lists(self) -> SeatInventory:
        return whole(self.head.terms(), (numbered[-1] for numbered in self.placements.values()))


def request(registration_id: str) -> Operation:
    return lambda seats: seats.request_seat(registration_id)


def details(capacity: int, revision: int, cancelled: bool, now: datetime) -> Operation:
    terms = EventTerms(capacity, revision, STARTS, 60, cancelled)
    return lambda seats: seats.apply_terms(terms, now)


attendances = st.sampled_from([Attendance.IN_PERSON, Attendance.REMOTE])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("request"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("cancel"), st.sampled_from(PEOPLE), attendances),
        st.tuples(
            st.just("switch"),
            st.sampled_from(PEOPLE),
            attendances,
            st.integers(min_value=2, max_value=5),
        ),
        st.tuples(
            st.just("details"),
            st.integers(min_value=0, max_value=6),
            st.integers(min_value=0, max_value=12).map(lambda n: n == 0),
        ),
    ),
    max_size=50,
)


def operation_of(step: tuple[object, ...], revision: int, now: datetime) -> Operation:
    kind = step[0]
    if kind == "request":
        who = str(step[1])
        return lambda seats: seats.request_seat(who)
    if kind == "cancel":
        who, attendance = str(step[1]), Attendance(str(step[2]))
        return lambda seats: seats.cancel(who, attendance, now)
    if kind == "switch":
        who, attendance, version = str(step[1]), Attendance(str(step[2])), int(str(step[3]))
        return lambda seats: seats.switch(who, attendance, version, now)
    return details(int(str(step[1])), revision, bool(step[2]), now)


@settings(max_examples=300, deadline=None)
@given(steps=steps, late=st.lists(st.booleans(), min_size=50, max_size=50))
def test_a_ledger_decides_as_the_whole_lists_do(
    steps: list[tuple[object, ...]], late: list[bool]
) -> None:
    book, seats = RecordBook(), SeatInventory("seminar")
    for number, step in enumerate(steps, start=1):
        operation = operation_of(step, number, LATE if late[number - 1] else EARLY)
        assert book.decide(operation) == list(operation(seats)), f"step {number}: {step}"
        stored = book.lists()
        assert (stored.holders, stored.waiting, stored.pending) == (
            seats.holders,
            seats.waiting,
            seats.pending,
        ), f"step {number}: {step}"
        assert (stored.cancelled, stored.versions) == (seats.cancelled, seats.versions)
        assert (stored.capacity, stored.revision, stored.event_cancelled) == (
            seats.capacity,
            seats.revision,
            seats.event_cancelled,
        )
        counts = book.head.counts
        assert (counts.reserved, counts.waiting, counts.pending) == (
            len(seats.holders),
            len(seats.waiting),
            len(seats.pending),
        )


def test_a_request_reads_one_placement_however_many_registrants_there_are() -> None:
    for registrants in (10, 1000):
        book = RecordBook()
        book.decide(details(5, 1, False, EARLY))
        for n in range(registrants):
            book.decide(request(f"r{n}"))
        book.reads = 0
        assert book.decide(lambda seats: seats.request_seat("newcomer")) == [
            SeatWaitlisted("newcomer", registrants - 5 + 1)
        ]
        assert book.reads == 1


def test_promotion_passes_the_tickets_of_those_who_left_the_line() -> None:
    book = RecordBook()
    book.decide(details(1, 1, False, EARLY))
    for who in ("a", "b", "c", "d"):
        book.decide(request(who))
    book.decide(lambda seats: seats.cancel("b"))
    book.decide(lambda seats: seats.cancel("c"))
    book.decide(lambda seats: seats.cancel("a"))  # frees the seat: "d" is next, past two stale
    assert book.lists().holders == ["d"]
    assert book.head.counts.line_first == 4  # b's and c's tickets are never read again


def test_a_line_whose_count_disagrees_with_its_tickets_is_refused() -> None:
    counts = Counts(reserved=0, waiting=1, line_next=2)
    ledger = Ledger(counts, {}, {(Place.LINE, 1): None})
    seats = ledger.inventory(SeatInventory("seminar", capacity=1))
    with pytest.raises(CorruptLedgerError):
        seats.set_capacity(2)


def test_seat_holders_are_counted_never_listed() -> None:
    seats = Ledger(Counts(reserved=3), {}, {}).inventory(SeatInventory("seminar", capacity=5))
    assert (seats.reserved, seats.free) == (3, 2)
    with pytest.raises(NotImplementedError):
        list(seats.holders)

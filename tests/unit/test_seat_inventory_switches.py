"""Switching attendance in a ``SeatInventory``: versions make crossing messages harmless.

Examples first, then a property: any registrants' choices (an acceptance,
switches, perhaps a cancellation), delivered in any order with any
redeliveries, end in the state of each registrant's newest choice, and the
invariants of the seats hold after every step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from ilmo_capacity.domain import (
    Decision,
    SeatInventory,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    WaitlistLeft,
    needs_seat,
)
from ilmo_event_contracts import Attendance
from tests.unit.test_seat_inventory_properties import Replay, _check_invariants


class VersionedReplay(Replay):
    """A subscriber's replay that knows a seat or a place can be announced again.

    A registrant whose switch to remote was overtaken keeps their seat or
    place, announced again for the newer version: no second seat.
    """

    def apply(self, decision: Decision) -> None:
        match decision:
            case SeatReserved(registration_id=who, promoted=False) if who in self.holders:
                return
            case SeatWaitlisted(registration_id=who, position=position) if who in self.waiting:
                assert self.waiting.index(who) + 1 == position
                return
        super().apply(decision)


IN_PERSON, REMOTE = Attendance.IN_PERSON, Attendance.REMOTE
A, B, C = (str(uuid.UUID(int=n)) for n in (1, 2, 3))


def seats_with(capacity: int, *people: str) -> SeatInventory:
    seats = SeatInventory("seminar")
    seats.set_capacity(capacity)
    for person in people:
        seats.request_seat(person)
    return seats


def test_switching_to_remote_releases_the_seat_and_promotes_the_first_in_line() -> None:
    seats = seats_with(1, A, B)

    decisions = seats.switch(A, REMOTE, 2)

    assert decisions == [SeatReleased(A, 2), SeatReserved(B, promoted=True, attendance_version=1)]
    assert seats.holders == [B]
    assert seats.waiting == []


def test_switching_to_remote_leaves_the_waiting_list() -> None:
    seats = seats_with(1, A, B, C)

    assert seats.switch(B, REMOTE, 2) == [WaitlistLeft(B, 2)]
    assert seats.waiting == [C]


def test_switching_to_in_person_asks_for_a_seat_or_a_place_with_the_new_version() -> None:
    seats = seats_with(1)

    assert seats.switch(A, IN_PERSON, 2) == [SeatReserved(A, attendance_version=2)]
    assert seats.switch(B, IN_PERSON, 4) == [SeatWaitlisted(B, 1, 4)]


def test_a_promotion_carries_the_promoted_registrations_own_version() -> None:
    seats = seats_with(1, A)
    seats.switch(B, IN_PERSON, 3)

    decisions = seats.switch(A, REMOTE, 2)

    assert decisions == [SeatReleased(A, 2), SeatReserved(B, promoted=True, attendance_version=3)]


def test_a_repeated_or_older_switch_changes_nothing() -> None:
    seats = seats_with(2, A)
    assert seats.switch(A, REMOTE, 3) == [SeatReleased(A, 3)]

    assert seats.switch(A, REMOTE, 3) == []
    assert seats.switch(A, IN_PERSON, 2) == []  # overtaken by version 3
    assert seats.holders == []


def test_an_acceptance_arriving_after_a_switch_is_older_and_ignored() -> None:
    seats = seats_with(2)
    assert seats.switch(A, REMOTE, 2) == []  # nothing to give back, but version 2 is recorded

    assert seats.request_seat(A) == []
    assert seats.holders == []


def test_switches_after_a_cancellation_change_nothing() -> None:
    seats = seats_with(2, A)
    seats.cancel(A)

    assert seats.switch(A, IN_PERSON, 2) == []
    assert seats.switch(A, REMOTE, 3) == []


def test_cancelling_a_remote_registration_that_held_a_seat_before_frees_nothing_twice() -> None:
    seats = seats_with(1, A, B)
    seats.switch(A, REMOTE, 2)  # B promoted

    assert seats.cancel(A, REMOTE) == []
    assert seats.holders == [B]
    assert A in seats.cancelled


def test_cancelling_an_unknown_remote_registration_records_nothing() -> None:
    seats = seats_with(1)

    assert seats.cancel(A, REMOTE) == []
    assert not seats.knows(A)


def test_a_remote_cancellation_overtaking_switches_ends_in_the_newest_choice() -> None:
    # remote (v1) -> in person (v2) -> remote (v3) -> cancelled as remote;
    # the cancellation arrives first, then v2, then v3.
    seats = seats_with(1)
    assert seats.cancel(A, REMOTE) == []
    assert seats.switch(A, IN_PERSON, 2) == [SeatReserved(A, attendance_version=2)]
    assert seats.switch(A, REMOTE, 3) == [SeatReleased(A, 3)]
    assert seats.holders == []


def test_an_in_person_switch_overtaking_the_remote_one_announces_the_kept_seat_again() -> None:
    # in person (v1, seated) -> remote (v2) -> in person (v3); v3 arrives first.
    seats = seats_with(1, A, B)

    assert seats.switch(A, IN_PERSON, 3) == [SeatReserved(A, attendance_version=3)]
    assert seats.switch(B, IN_PERSON, 3) == [SeatWaitlisted(B, 1, 3)]
    assert seats.switch(A, REMOTE, 2) == []  # older than 3
    assert seats.holders == [A]


def test_switches_before_the_capacity_is_known_wait_in_pending() -> None:
    seats = SeatInventory("seminar")
    seats.request_seat(A)
    assert seats.switch(A, REMOTE, 2) == []
    assert seats.switch(B, IN_PERSON, 2) == []
    assert seats.pending == [B]

    assert seats.set_capacity(1) == [SeatReserved(B, attendance_version=2)]


# -------------------------------------------------------------- the property


@dataclass(frozen=True)
class Message:
    """One message capacity receives about a registrant."""

    kind: str  # "accepted", "switch" or "cancelled"
    who: str
    attendance: Attendance
    version: int


PEOPLE = [str(uuid.UUID(int=100 + n)) for n in range(8)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Message], dict[str, tuple[Attendance, bool]]]:
    """Every registrant's messages in some delivery order, with redeliveries; and the truth.

    The truth is each registrant's newest choice and whether they cancelled.
    """
    messages: list[Message] = []
    truth: dict[str, tuple[Attendance, bool]] = {}
    for who in draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=len(PEOPLE))):
        attendance = draw(st.sampled_from([IN_PERSON, REMOTE]))
        own = [Message("accepted", who, attendance, 1)]
        for version in range(2, 2 + draw(st.integers(min_value=0, max_value=4))):
            attendance = REMOTE if attendance is IN_PERSON else IN_PERSON
            own.append(Message("switch", who, attendance, version))
        cancelled = draw(st.booleans())
        if cancelled:
            own.append(Message("cancelled", who, attendance, own[-1].version))
        messages += own
        truth[who] = (attendance, cancelled)
    order = draw(st.permutations(messages))
    redeliveries = draw(st.lists(st.sampled_from(messages), max_size=8)) if messages else []
    delivered = list(order)
    for message in redeliveries:
        delivered.insert(draw(st.integers(min_value=0, max_value=len(delivered))), message)
    return delivered, truth


def deliver(seats: SeatInventory, message: Message) -> list[Decision]:
    """As the capacity service does: a remote acceptance never reaches the inventory."""
    match message.kind:
        case "accepted":
            return seats.request_seat(message.who) if needs_seat(message.attendance) else []
        case "switch":
            return seats.switch(message.who, message.attendance, message.version)
        case _:
            return seats.cancel(message.who, message.attendance)


@settings(max_examples=400, deadline=None)
@given(
    history=histories(),
    capacity=st.integers(min_value=0, max_value=4),
    capacity_first=st.booleans(),
)
def test_any_order_of_choices_ends_in_each_registrants_newest_choice(
    history: tuple[list[Message], dict[str, tuple[Attendance, bool]]],
    capacity: int,
    capacity_first: bool,
) -> None:
    delivered, truth = history
    seats = SeatInventory("seminar")
    replay = VersionedReplay()
    if capacity_first:
        seats.set_capacity(capacity)
    newest_decided: dict[str, int] = {}

    for message in delivered:
        holders_before = list(seats.holders)
        decisions = deliver(seats, message)
        for decision in decisions:
            replay.apply(decision)
            # Decisions about one registrant never go back to an older choice.
            assert decision.attendance_version >= newest_decided.get(decision.registration_id, 0)
            newest_decided[decision.registration_id] = decision.attendance_version
        _check_invariants(seats, holders_before, decisions)
        assert replay.holders == set(seats.holders)
        assert replay.waiting == seats.waiting
    if not capacity_first:
        for decision in seats.set_capacity(capacity):
            replay.apply(decision)
            newest_decided[decision.registration_id] = decision.attendance_version
        _check_invariants(seats, [], [])

    wanting = {who for who, (attendance, cancelled) in truth.items() if not cancelled}
    wanting = {who for who in wanting if truth[who][0] is IN_PERSON}
    assert set(seats.holders) | set(seats.waiting) == wanting
    assert len(seats.holders) == min(capacity, len(wanting))
    assert replay.holders == set(seats.holders)
    assert replay.waiting == seats.waiting
    # Everyone on site heard about their newest choice: the registration
    # service shows only answers to it (older versions are stale there).
    newest: dict[str, int] = {}
    for message in delivered:
        newest[message.who] = max(newest.get(message.who, 0), message.version)
    for who in wanting:
        assert newest_decided.get(who) == newest[who], f"{who}: no answer to their newest choice"

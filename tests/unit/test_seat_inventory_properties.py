"""Properties of a ``SeatInventory`` over any sequence of what can happen to an event.

Operations are requests, cancellations, capacity changes (event details at a
new revision) and redeliveries (an earlier operation exactly repeated, as
at-least-once delivery does). After every step the invariants must hold, and
the decisions emitted so far, replayed on their own by a subscriber, must give
the same seats and the same waiting list as the inventory's state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ilmo_capacity.domain import (
    Decision,
    SeatInventory,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    WaitlistLeft,
)

PEOPLE = [str(uuid.UUID(int=n + 1)) for n in range(16)]

Request = tuple[str, str]  # ("request", registration id)
Cancel = tuple[str, str]  # ("cancel", registration id)
Details = tuple[str, int]  # ("details", capacity); the revision is the step's number
Redeliver = tuple[str, int]  # ("redeliver", index into the operations applied so far)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("request"), st.sampled_from(PEOPLE)),  # requests are the bulk
        st.tuples(st.just("cancel"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("details"), st.integers(min_value=0, max_value=8)),
        st.tuples(st.just("redeliver"), st.integers(min_value=0, max_value=10_000)),
    ),
    max_size=60,
)


@dataclass
class Replay:
    """What a subscriber reconstructs from the seat events alone."""

    holders: set[str] = field(default_factory=set)
    waiting: list[str] = field(default_factory=list)
    reserved_events: int = 0
    released_events: int = 0

    def apply(self, decision: Decision) -> None:
        match decision:
            case SeatReserved(registration_id=who, promoted=promoted):
                assert who not in self.holders, f"{who} reserved a second seat"
                if promoted:
                    # Promotion is strictly first in line.
                    assert self.waiting[:1] == [who], "promotion out of order"
                    self.waiting.pop(0)
                else:
                    assert who not in self.waiting
                self.holders.add(who)
                self.reserved_events += 1
            case SeatWaitlisted(registration_id=who, position=position):
                assert who not in self.waiting
                assert who not in self.holders
                self.waiting.append(who)
                assert position == len(self.waiting), "announced position is not the real one"
            case SeatReleased(registration_id=who):
                self.holders.remove(who)
                self.released_events += 1
            case WaitlistLeft(registration_id=who):
                self.waiting.remove(who)


def apply(seats: SeatInventory, operation: tuple[str, object], revision: int) -> list[Decision]:
    kind, argument = operation
    if kind == "request":
        return seats.request_seat(str(argument))
    if kind == "cancel":
        return seats.cancel(str(argument))
    assert kind == "details"
    assert isinstance(argument, int)
    return seats.apply_details(argument, revision)


@settings(max_examples=400, deadline=None)
@given(operations=operations, capacity_first=st.booleans())
def test_seat_inventory_invariants_hold_after_every_step(
    operations: list[tuple[str, object]], capacity_first: bool
) -> None:
    seats = SeatInventory("seminar")
    replay = Replay()
    applied: list[tuple[tuple[str, object], int]] = []  # (operation, revision it carried)
    arrival: dict[str, int] = {}  # first request of each registration that was not pre-cancelled
    requested: set[str] = set()
    cancelled: set[str] = set()
    if capacity_first:
        operations = [("details", 3), *operations]

    for step, operation in enumerate(operations, start=1):
        before = (list(seats.holders), list(seats.waiting), seats.capacity)
        kind, argument = operation
        if kind == "redeliver":
            if not applied:
                continue
            original, revision = applied[int(str(argument)) % len(applied)]
            snapshot = (
                list(seats.holders),
                list(seats.waiting),
                list(seats.pending),
                set(seats.cancelled),
                seats.capacity,
                seats.revision,
            )
            assert apply(seats, original, revision) == [], f"redelivered {original} decided again"
            assert snapshot == (
                list(seats.holders),
                list(seats.waiting),
                list(seats.pending),
                set(seats.cancelled),
                seats.capacity,
                seats.revision,
            ), f"redelivered {original} changed the state"
            continue

        decisions = apply(seats, operation, step)
        applied.append((operation, step))
        if kind == "request":
            who = str(argument)
            if who not in requested and who not in cancelled:
                arrival[who] = step
            requested.add(who)
        elif kind == "cancel":
            cancelled.add(str(argument))
        for decision in decisions:
            replay.apply(decision)

        holders_before, _, _ = before
        _check_invariants(seats, holders_before, decisions)

        # The events alone rebuild the state, in order.
        assert replay.holders == set(seats.holders)
        assert replay.waiting == seats.waiting
        assert replay.reserved_events - replay.released_events == seats.reserved
        # Nobody is lost: every live request is held, waiting or pending, exactly once.
        live = set(arrival) - cancelled
        assert sorted([*seats.holders, *seats.waiting, *seats.pending]) == sorted(live)
        # The waiting list and the pending requests keep arrival order.
        assert seats.waiting == sorted(seats.waiting, key=arrival.__getitem__)
        assert seats.pending == sorted(seats.pending, key=arrival.__getitem__)


def _check_invariants(
    seats: SeatInventory, holders_before: list[str], decisions: list[Decision]
) -> None:
    holders, waiting = seats.holders, seats.waiting
    assert len(set(holders)) == len(holders), "someone holds two seats"
    assert len(set(waiting)) == len(waiting), "someone waits twice"
    assert not set(holders) & set(waiting), "someone both holds a seat and waits"
    assert not (set(holders) | set(waiting) | set(seats.pending)) & seats.cancelled
    if seats.capacity is None:
        assert not holders, "a seat was reserved before the capacity was known"
        assert not waiting, "a place in line was given before the capacity was known"
        return
    reserved = [d for d in decisions if isinstance(d, SeatReserved)]
    if reserved:
        # A seat is only ever reserved within the capacity.
        assert len(holders) <= seats.capacity, "oversold"
    if len(holders) > seats.capacity:
        # Only a decrease puts holders over capacity, and then nobody new gets a seat.
        assert not reserved
        assert len(holders) <= len(holders_before)
    if waiting:
        assert len(holders) >= seats.capacity, "a seat stays free while someone waits"


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=0, max_value=10),
    people=st.integers(min_value=0, max_value=30),
    leavers=st.sets(st.integers(min_value=0, max_value=29), max_size=10),
)
def test_promotions_follow_the_order_people_arrived_in(
    capacity: int, people: int, leavers: set[int]
) -> None:
    seats = SeatInventory("seminar")
    seats.set_capacity(capacity)
    arrivals = [str(uuid.UUID(int=1000 + n)) for n in range(people)]
    for registration_id in arrivals:
        seats.request_seat(registration_id)
    for index in sorted(leavers):
        if index < people:
            seats.cancel(arrivals[index])
    staying = [r for i, r in enumerate(arrivals) if i not in leavers]
    # Whatever the cancellations, the seats go to the first ``capacity`` who stayed.
    assert seats.holders == staying[:capacity]
    assert seats.waiting == staying[capacity:]

"""The promotion cutoff and a cancelled event in the seat rules (``SeatInventory``), no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ilmo_capacity.domain import (
    EventTerms,
    SeatInventory,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    WaitlistLeft,
)
from ilmo_event_contracts import Attendance

STARTS_AT = datetime(2027, 1, 8, 7, 0, tzinfo=UTC)
CUTOFF = STARTS_AT - timedelta(minutes=120)  # the default cutoff: two hours before
BEFORE = CUTOFF - timedelta(milliseconds=1)


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def full_with_a_line(
    capacity: int = 1, waiting: int = 2, *, cutoff_minutes: int = 120
) -> tuple[SeatInventory, list[str], list[str]]:
    """An event whose seats are all held, with people waiting: (seats, holders, waiting)."""
    seats = SeatInventory("seminar")
    seats.apply_terms(
        EventTerms(capacity, 1, STARTS_AT, promotion_cutoff_minutes=cutoff_minutes), BEFORE
    )
    holders, line = ids(capacity), ids(waiting)
    for registration_id in [*holders, *line]:
        seats.request_seat(registration_id)
    assert (seats.holders, seats.waiting) == (holders, line)
    return seats, holders, line


def test_promotion_closes_exactly_at_the_cutoff() -> None:
    seats, _, _ = full_with_a_line()
    assert seats.promotion_closes_at == CUTOFF
    assert not seats.promotion_closed(BEFORE)
    assert seats.promotion_closed(CUTOFF)
    assert seats.promotion_closed(STARTS_AT + timedelta(hours=1))


def test_a_seat_freed_just_before_the_cutoff_goes_to_the_first_in_line() -> None:
    seats, [holder], [first, second] = full_with_a_line()
    assert seats.cancel(holder, now=BEFORE) == [
        SeatReleased(holder),
        SeatReserved(first, promoted=True),
    ]
    assert seats.waiting == [second]


def test_a_seat_freed_at_the_cutoff_stays_free_and_the_line_keeps_waiting() -> None:
    seats, [holder], line = full_with_a_line()
    assert seats.cancel(holder, now=CUTOFF) == [SeatReleased(holder)]
    assert (list(seats.holders), seats.waiting, seats.free) == ([], line, 1)
    # A later request does not jump the line for the free seat: it queues.
    [late] = ids(1)
    assert seats.request_seat(late) == [SeatWaitlisted(late, 3)]


def test_a_switch_to_remote_or_more_seats_after_the_cutoff_promote_nobody() -> None:
    seats, [holder], line = full_with_a_line()
    after = CUTOFF + timedelta(minutes=5)
    assert seats.switch(holder, Attendance.REMOTE, 2, now=after) == [SeatReleased(holder, 2)]
    assert seats.apply_terms(EventTerms(3, 2, STARTS_AT), after) == []
    assert (seats.free, seats.waiting) == (3, line)


def test_leaving_the_line_after_the_cutoff_still_works() -> None:
    seats, _, [first, second] = full_with_a_line()
    assert seats.cancel(first, now=CUTOFF) == [WaitlistLeft(first)]
    assert seats.waiting == [second]


def test_a_zero_cutoff_promotes_until_the_start() -> None:
    seats, [holder], [first, _] = full_with_a_line(cutoff_minutes=0)
    assert seats.promotion_closes_at == STARTS_AT
    assert seats.cancel(holder, now=STARTS_AT - timedelta(seconds=1)) == [
        SeatReleased(holder),
        SeatReserved(first, promoted=True),
    ]


def test_the_event_moved_later_opens_promotion_again_and_fills_the_seats_left_free() -> None:
    seats, [holder], [first, second] = full_with_a_line()
    assert seats.cancel(holder, now=CUTOFF) == [SeatReleased(holder)]
    moved = EventTerms(1, 2, STARTS_AT + timedelta(days=7))
    assert seats.apply_terms(moved, CUTOFF) == [SeatReserved(first, promoted=True)]
    assert seats.waiting == [second]


def test_a_changed_cutoff_counts_from_its_revision() -> None:
    seats, [holder], [first, _] = full_with_a_line()
    # Half an hour before the start, with a cutoff shortened to 15 minutes: still open.
    half_an_hour_before = STARTS_AT - timedelta(minutes=30)
    assert seats.apply_terms(EventTerms(1, 2, STARTS_AT, 15), half_an_hour_before) == []
    assert seats.cancel(holder, now=half_an_hour_before) == [
        SeatReleased(holder),
        SeatReserved(first, promoted=True),
    ]


def test_terms_without_a_start_keep_the_start_known_before() -> None:
    seats, _, _ = full_with_a_line()
    seats.apply_terms(EventTerms(1, 2), BEFORE)
    assert seats.promotion_closes_at == CUTOFF


def test_a_cancelled_event_promotes_nobody_and_seats_nobody_new() -> None:
    seats, [holder], [first, second] = full_with_a_line()
    cancelled = EventTerms(1, 2, STARTS_AT, cancelled=True)
    assert seats.apply_terms(cancelled, BEFORE) == []
    assert seats.promotion_closed(BEFORE)

    # The holder keeps the seat until they cancel; then it stays free.
    assert seats.holders == [holder]
    assert seats.cancel(holder, now=BEFORE) == [SeatReleased(holder)]
    assert seats.waiting == [first, second]
    # A request crossing the cancellation gets no decision, and changes nothing.
    [late] = ids(1)
    assert seats.request_seat(late) == []
    assert not seats.knows(late)
    # Nor does a switch to in person; leaving the line still works.
    [remote] = ids(1)
    assert seats.switch(remote, Attendance.IN_PERSON, 2, now=BEFORE) == []
    assert seats.cancel(first, now=BEFORE) == [WaitlistLeft(first)]


def test_a_cancellation_stays_whatever_revision_follows() -> None:
    seats, [holder], _ = full_with_a_line()
    seats.apply_terms(EventTerms(1, 2, STARTS_AT, cancelled=True), BEFORE)
    assert seats.apply_terms(EventTerms(5, 3, STARTS_AT), BEFORE) == []
    assert seats.event_cancelled
    assert seats.cancel(holder, now=BEFORE) == [SeatReleased(holder)]


def test_requests_waiting_for_the_capacity_are_not_decided_once_the_event_is_cancelled() -> None:
    seats = SeatInventory("seminar")
    [early] = ids(1)
    assert seats.request_seat(early) == []
    assert seats.apply_terms(EventTerms(10, 1, STARTS_AT, cancelled=True), BEFORE) == []
    assert (list(seats.holders), list(seats.waiting)) == ([], [])


def test_a_capacity_decrease_takes_no_seat_and_shows_how_many_are_over() -> None:
    seats, holders, line = full_with_a_line(capacity=3, waiting=1)
    assert seats.apply_terms(EventTerms(1, 2, STARTS_AT), BEFORE) == []
    assert seats.holders == holders
    assert (seats.over_capacity, seats.free) == (2, 0)
    # Freeing one of three held seats at capacity 1 frees no seat: nobody is promoted.
    assert seats.cancel(holders[0], now=BEFORE) == [SeatReleased(holders[0])]
    assert (seats.over_capacity, seats.free, seats.waiting) == (1, 0, line)


PEOPLE = [str(uuid.UUID(int=n + 1)) for n in range(12)]
# Each step: (what, who or capacity, minutes after an hour before the cutoff).
steps = st.lists(
    st.tuples(
        st.sampled_from(["request", "request", "cancel", "remote", "details"]),
        st.integers(min_value=0, max_value=len(PEOPLE) - 1),
        st.integers(min_value=0, max_value=120),
    ),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps)
def test_after_the_cutoff_nobody_is_promoted_and_nothing_is_oversold(
    steps: list[tuple[str, int, int]],
) -> None:
    seats = SeatInventory("seminar")
    seats.apply_terms(EventTerms(3, 1, STARTS_AT), BEFORE)
    revision, now = 1, CUTOFF - timedelta(hours=1)
    for kind, argument, minutes in sorted(steps, key=lambda step: step[2]):
        now = max(now, CUTOFF - timedelta(hours=1) + timedelta(minutes=minutes))
        who = PEOPLE[argument]
        if kind == "request":
            decisions = seats.request_seat(who)
        elif kind == "cancel":
            decisions = seats.cancel(who, now=now)
        elif kind == "remote":
            decisions = seats.switch(who, Attendance.REMOTE, seats.version_of(who) + 1, now=now)
        else:
            revision += 1
            decisions = seats.apply_terms(EventTerms(argument % 6, revision, STARTS_AT), now)
        promoted = [d for d in decisions if isinstance(d, SeatReserved) and d.promoted]
        if now >= CUTOFF:
            assert not promoted, f"promoted at {now}, after the cutoff"
        capacity = seats.capacity or 0
        if any(isinstance(d, SeatReserved) for d in decisions):
            assert seats.reserved <= capacity, "oversold"
        if now < CUTOFF and seats.waiting:
            assert seats.free == 0, "a seat stays free while someone waits, before the cutoff"

"""The seat rules of one event (``SeatInventory``), example by example (no I/O)."""

from __future__ import annotations

import uuid

import pytest

from ilmo_capacity.domain import (
    SeatInventory,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    WaitlistLeft,
)


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def inventory(capacity: int | None) -> SeatInventory:
    seats = SeatInventory("seminar")
    if capacity is not None:
        assert seats.set_capacity(capacity) == []
    return seats


def test_seats_are_given_in_arrival_order_until_full_then_the_waiting_list_fills_in_order() -> None:
    seats = inventory(2)
    a, b, c, d = ids(4)
    assert seats.request_seat(a) == [SeatReserved(a)]
    assert seats.request_seat(b) == [SeatReserved(b)]
    assert seats.request_seat(c) == [SeatWaitlisted(c, 1)]
    assert seats.request_seat(d) == [SeatWaitlisted(d, 2)]
    assert seats.holders == [a, b]
    assert seats.waiting == [c, d]
    assert (seats.reserved, seats.waitlisted) == (2, 2)
    assert seats.position_of(d) == 2
    assert seats.position_of(a) is None


def test_a_zero_capacity_event_waitlists_everyone() -> None:
    seats = inventory(0)
    a, b = ids(2)
    assert seats.request_seat(a) == [SeatWaitlisted(a, 1)]
    assert seats.request_seat(b) == [SeatWaitlisted(b, 2)]
    assert seats.holders == []


def test_a_repeated_request_decides_nothing_and_changes_nothing() -> None:
    seats = inventory(1)
    a, b = ids(2)
    seats.request_seat(a)
    seats.request_seat(b)
    assert seats.request_seat(a) == []
    assert seats.request_seat(b) == []
    assert seats.holders == [a]
    assert seats.waiting == [b]


def test_cancelling_a_seat_releases_it_and_promotes_the_first_in_line() -> None:
    seats = inventory(2)
    a, b, c, d = ids(4)
    for registration_id in (a, b, c, d):
        seats.request_seat(registration_id)
    assert seats.cancel(a) == [SeatReleased(a), SeatReserved(c, promoted=True)]
    assert seats.holders == [b, c]
    assert seats.waiting == [d]
    assert seats.position_of(d) == 1


def test_cancelling_a_seat_with_nobody_waiting_leaves_it_free_for_the_next_request() -> None:
    seats = inventory(1)
    a, b = ids(2)
    seats.request_seat(a)
    assert seats.cancel(a) == [SeatReleased(a)]
    assert seats.request_seat(b) == [SeatReserved(b)]


def test_leaving_the_waiting_list_moves_those_behind_up() -> None:
    seats = inventory(1)
    a, b, c, d = ids(4)
    for registration_id in (a, b, c, d):
        seats.request_seat(registration_id)
    assert seats.cancel(c) == [WaitlistLeft(c)]
    assert seats.waiting == [b, d]
    assert seats.position_of(d) == 2
    assert seats.holders == [a]


def test_a_repeated_cancellation_decides_nothing() -> None:
    seats = inventory(1)
    a, b = ids(2)
    seats.request_seat(a)
    seats.request_seat(b)
    seats.cancel(a)
    assert seats.cancel(a) == []
    assert seats.holders == [b]


def test_a_cancelled_registration_never_gets_a_seat_again() -> None:
    seats = inventory(1)
    [a] = ids(1)
    seats.request_seat(a)
    seats.cancel(a)
    assert seats.request_seat(a) == []  # e.g. the request redelivered after the cancellation
    assert seats.holders == []


def test_a_cancellation_that_overtakes_its_request_wins() -> None:
    seats = inventory(1)
    a, b = ids(2)
    assert seats.cancel(a) == []
    assert seats.request_seat(a) == []
    assert seats.holders == []
    assert seats.request_seat(b) == [SeatReserved(b)]


def test_requests_before_the_capacity_is_known_wait_and_are_decided_in_order() -> None:
    seats = SeatInventory("seminar")
    a, b, c, d = ids(4)
    for registration_id in (a, b, c, d):
        assert seats.request_seat(registration_id) == []
    assert seats.request_seat(b) == []  # a repeat while pending
    assert seats.cancel(c) == []  # cancelled before any decision: no event about it
    assert seats.pending == [a, b, d]
    assert seats.set_capacity(1) == [SeatReserved(a), SeatWaitlisted(b, 1), SeatWaitlisted(d, 2)]
    assert seats.pending == []
    assert seats.holders == [a]
    assert seats.waiting == [b, d]


def test_a_capacity_increase_promotes_as_many_as_fit_in_order() -> None:
    seats = inventory(1)
    a, b, c, d = ids(4)
    for registration_id in (a, b, c, d):
        seats.request_seat(registration_id)
    assert seats.set_capacity(3) == [SeatReserved(b, promoted=True), SeatReserved(c, promoted=True)]
    assert seats.holders == [a, b, c]
    assert seats.waiting == [d]
    assert seats.set_capacity(10) == [SeatReserved(d, promoted=True)]
    assert seats.waiting == []


def test_a_capacity_decrease_takes_no_seat_and_gives_no_new_one_until_below() -> None:
    seats = inventory(3)
    a, b, c, d, e = ids(5)
    for registration_id in (a, b, c):
        seats.request_seat(registration_id)
    assert seats.set_capacity(1) == []
    assert seats.holders == [a, b, c]  # over capacity, but nobody loses a seat
    assert seats.request_seat(d) == [SeatWaitlisted(d, 1)]
    assert seats.cancel(a) == [SeatReleased(a)]  # 2 holders, capacity 1: still no seat free
    assert seats.cancel(b) == [SeatReleased(b)]  # 1 holder: still full
    assert seats.waiting == [d]
    assert seats.cancel(c) == [SeatReleased(c), SeatReserved(d, promoted=True)]
    assert seats.request_seat(e) == [SeatWaitlisted(e, 1)]


def test_event_details_apply_only_newer_revisions() -> None:
    seats = SeatInventory("seminar")
    a, b, c = ids(3)
    for registration_id in (a, b, c):
        seats.request_seat(registration_id)
    assert seats.apply_details(capacity=1, revision=1) == [
        SeatReserved(a),
        SeatWaitlisted(b, 1),
        SeatWaitlisted(c, 2),
    ]
    assert seats.apply_details(capacity=3, revision=1) == []  # a redelivery of revision 1
    assert seats.apply_details(capacity=2, revision=3) == [SeatReserved(b, promoted=True)]
    assert seats.apply_details(capacity=3, revision=2) == []  # older than what was applied
    assert (seats.capacity, seats.revision) == (2, 3)


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        inventory(-1)

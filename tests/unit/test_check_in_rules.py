"""The door's rule (``attendance.decide_check_in``) and the attendance figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.attendance import (
    CheckInOutcome,
    SeatSituation,
    attendance_figures,
    decide_check_in,
)
from ilmo_registration.domain import (
    LinkState,
    RegistrationState,
    Seat,
    SeatState,
    Status,
    StreamLink,
)
from ilmo_registration.listing import ListingRow

EVENT = "seminar"
NINE = datetime(2026, 12, 4, 7, 2, tzinfo=UTC)


def state(
    attendance: Attendance = Attendance.IN_PERSON,
    seat: SeatState = SeatState.RESERVED,
    *,
    cancelled: bool = False,
    erased: bool = False,
    pending: bool = False,
    expired: bool = False,
) -> RegistrationState:
    return RegistrationState(
        event_id=EVENT,
        attendance=attendance,
        seat=Seat(state=seat),
        cancelled=cancelled,
        erased=erased,
        pending=pending,
        expired=expired,
    )


def test_a_seat_holder_is_checked_in_once() -> None:
    first = decide_check_in(state(), EVENT, None)
    assert (first.outcome, first.seat, first.records) == (
        CheckInOutcome.CHECKED_IN,
        SeatSituation.SEAT,
        True,
    )
    second = decide_check_in(state(), EVENT, NINE)
    assert (second.outcome, second.records) == (CheckInOutcome.ALREADY_CHECKED_IN, False)


@pytest.mark.parametrize(
    ("found", "event_id", "outcome"),
    [
        (None, EVENT, CheckInOutcome.NOT_REGISTERED),  # a code of nobody's
        (state(), "another-event", CheckInOutcome.NOT_REGISTERED),
        (state(erased=True), EVENT, CheckInOutcome.NOT_REGISTERED),
        (state(pending=True), EVENT, CheckInOutcome.NOT_REGISTERED),
        (state(expired=True), EVENT, CheckInOutcome.NOT_REGISTERED),
        (state(cancelled=True), EVENT, CheckInOutcome.CANCELLED),
    ],
)
def test_the_door_refuses_who_is_not_registered_here_or_cancelled(
    found: RegistrationState | None, event_id: str, outcome: CheckInOutcome
) -> None:
    decided = decide_check_in(found, event_id, None)
    assert decided.outcome is outcome
    assert not decided.records
    # "Check in anyway" is only for people without a seat: it lets none of these in.
    assert not decide_check_in(found, event_id, None, without_seat=True).records


def test_a_check_in_of_another_event_is_not_told_as_already_checked_in() -> None:
    assert decide_check_in(state(), "another-event", NINE).outcome is CheckInOutcome.NOT_REGISTERED


@pytest.mark.parametrize(
    ("found", "seat"),
    [
        (state(seat=SeatState.WAITLISTED), SeatSituation.WAITLISTED),
        (state(seat=SeatState.NONE), SeatSituation.UNDECIDED),
        (state(Attendance.REMOTE, SeatState.NONE), SeatSituation.REMOTE),
    ],
)
def test_someone_without_a_seat_is_amber_until_the_door_checks_them_in_anyway(
    found: RegistrationState, seat: SeatSituation
) -> None:
    asked = decide_check_in(found, EVENT, None)
    assert (asked.outcome, asked.seat, asked.records) == (CheckInOutcome.NO_SEAT, seat, False)
    anyway = decide_check_in(found, EVENT, None, without_seat=True)
    assert (anyway.outcome, anyway.seat, anyway.records) == (CheckInOutcome.CHECKED_IN, seat, True)


def row(
    n: int,
    status: Status,
    *,
    checked_in: bool = False,
    watched: bool = False,
    expired: bool = False,
) -> ListingRow:
    attendance = Attendance.REMOTE if status is Status.REMOTE else Attendance.IN_PERSON
    return ListingRow(
        registration_id=f"r{n}",
        first_name="A",
        last_name=str(n),
        email="",
        organisation=None,
        language=Language.FI,
        attendance=attendance,
        status=status,
        registered_at=NINE,
        expired=expired,
        checked_in_at=NINE if checked_in else None,
        watched_at=NINE if watched else None,
    )


def test_figures_count_who_came_who_watched_and_who_did_neither() -> None:
    figures = attendance_figures(
        [
            row(1, Status.SEAT_RESERVED, checked_in=True),
            row(2, Status.SEAT_RESERVED, checked_in=True, watched=True),
            row(3, Status.SEAT_RESERVED),  # a no-show on site
            row(4, Status.WAITLISTED, checked_in=True),  # let in without a seat
            row(5, Status.WAITLISTED, watched=True),
            row(6, Status.REMOTE, watched=True),
            row(7, Status.REMOTE),  # a remote no-show
            row(8, Status.CANCELLED),  # nobody's no-show
            row(9, Status.PENDING_CONFIRMATION, expired=True),
        ]
    )
    assert figures.seat_holders == 3
    assert (figures.checked_in, figures.checked_in_without_seat) == (3, 1)
    assert (figures.remote, figures.watched) == (2, 3)
    assert (figures.no_show_on_site, figures.no_show_remote) == (1, 1)


def test_a_stream_link_state_does_not_make_an_on_site_registrant_remote() -> None:
    on_site_with_link = RegistrationState(
        event_id=EVENT,
        attendance=Attendance.IN_PERSON,
        seat=Seat(state=SeatState.RESERVED),
        link=StreamLink(state=LinkState.PROVISIONED),
    )
    assert decide_check_in(on_site_with_link, EVENT, None).seat is SeatSituation.SEAT

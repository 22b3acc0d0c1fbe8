"""Registration rules without I/O: the window, duplicates, cancelling, and the status."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilmo_event_contracts import (
    Attendance,
    Language,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
    StreamLinkRevoked,
    WaitlistLeft,
)
from ilmo_registration.domain import (
    Cancellation,
    LinkState,
    Registrant,
    RegistrationState,
    RegistrationWindow,
    SeatState,
    Status,
    StatusReport,
    Switch,
    accept,
    apply_report,
    decide_cancellation,
    decide_switch,
    normalise_email,
    registration_window,
    switched,
)

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
REGISTRATION = uuid.UUID("6f0a7d4e-8a44-4a53-9d36-0d0c9f7c2a11")
EVENT = "ministry-seminar"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def waitlisted(position: int, minute: int = 0) -> SeatWaitlisted:
    return SeatWaitlisted(
        registration_id=REGISTRATION, event_id=EVENT, position=position, waitlisted_at=at(minute)
    )


def reserved(minute: int = 10, *, promoted: bool = False) -> SeatReserved:
    return SeatReserved(
        registration_id=REGISTRATION, event_id=EVENT, promoted=promoted, reserved_at=at(minute)
    )


def released(minute: int = 20) -> SeatReleased:
    return SeatReleased(registration_id=REGISTRATION, event_id=EVENT, released_at=at(minute))


def left(minute: int = 20) -> WaitlistLeft:
    return WaitlistLeft(registration_id=REGISTRATION, event_id=EVENT, left_at=at(minute))


def provisioned(url: str = "https://s.example.fi/w/1") -> StreamLinkProvisioned:
    return StreamLinkProvisioned(
        registration_id=REGISTRATION,
        event_id=EVENT,
        url=url,
        valid_from=T0,
        valid_until=at(240),
    )


def revoked() -> StreamLinkRevoked:
    return StreamLinkRevoked(registration_id=REGISTRATION, event_id=EVENT, revoked_at=at(30))


def fresh(attendance: Attendance = Attendance.IN_PERSON) -> RegistrationState:
    return RegistrationState(event_id=EVENT, attendance=attendance)


def run(state: RegistrationState, *reports: StatusReport) -> RegistrationState:
    for report in reports:
        state = apply_report(state, report) or state
    return state


# ---------------------------------------------------------------------- window


def test_registration_is_open_from_opening_until_just_before_closing() -> None:
    opens, closes = at(0), at(60)
    assert registration_window(opens, closes, at(-1)) is RegistrationWindow.NOT_YET_OPEN
    assert registration_window(opens, closes, opens) is RegistrationWindow.OPEN
    assert registration_window(opens, closes, at(59)) is RegistrationWindow.OPEN
    assert registration_window(opens, closes, closes) is RegistrationWindow.CLOSED
    assert registration_window(opens, closes, at(61)) is RegistrationWindow.CLOSED


# ------------------------------------------------------------------ duplicates


@pytest.mark.parametrize(
    "spelling",
    ["maija@example.fi", " Maija@Example.fi", "MAIJA@EXAMPLE.FI\t", "\n maija@example.FI  "],
)
def test_addresses_are_the_same_registrant_trimmed_and_case_insensitively(spelling: str) -> None:
    assert normalise_email(spelling) == "maija@example.fi"


def test_different_addresses_stay_different() -> None:
    assert normalise_email("maija.v@example.fi") != normalise_email("maijav@example.fi")


def test_accepting_yields_the_fact_without_the_needs() -> None:
    registrant = Registrant(
        first_name="Maija",
        last_name="Virtanen",
        email="maija@example.fi",
        organisation=None,
        attendance=Attendance.REMOTE,
        language=Language.FI,
        needs="Tekstitys",
    )
    accepted = accept(EVENT, registrant, T0, registration_id=REGISTRATION)
    assert accepted.registration_id == REGISTRATION
    assert accepted.registered_at == T0
    assert "needs" not in accepted.model_dump()
    assert (
        accept(EVENT, registrant, T0).registration_id
        != accept(EVENT, registrant, T0).registration_id
    )


# ------------------------------------------------------------------ cancelling


def test_cancelling_is_possible_until_the_event_starts() -> None:
    starts = at(60)
    assert decide_cancellation(False, starts, at(59)) is Cancellation.CANCEL
    assert decide_cancellation(False, starts, starts) is Cancellation.EVENT_STARTED
    assert decide_cancellation(False, starts, at(61)) is Cancellation.EVENT_STARTED


def test_cancelling_again_is_harmless_even_after_the_start() -> None:
    assert decide_cancellation(True, at(60), at(0)) is Cancellation.ALREADY_CANCELLED
    assert decide_cancellation(True, at(60), at(120)) is Cancellation.ALREADY_CANCELLED


# ---------------------------------------------------------------------- status


def test_an_in_person_registrant_follows_their_seat() -> None:
    state = fresh()
    assert state.status is Status.ACCEPTED
    state = run(state, waitlisted(3))
    assert (state.status, state.waitlist_position) == (Status.WAITLISTED, 3)
    state = run(state, waitlisted(1, minute=5))
    assert state.waitlist_position == 1
    state = run(state, reserved(promoted=True))
    assert (state.status, state.waitlist_position) == (Status.SEAT_RESERVED, None)
    assert state.seat.promoted is True


def test_a_remote_registrant_is_remote_once_their_link_is_issued() -> None:
    state = fresh(Attendance.REMOTE)
    assert state.status is Status.ACCEPTED
    state = run(state, provisioned())
    assert state.status is Status.REMOTE
    assert state.stream_link_provisioned
    assert state.link.url == "https://s.example.fi/w/1"


def test_an_in_person_registrant_with_a_link_keeps_the_seat_status() -> None:
    state = run(fresh(), waitlisted(2), provisioned())
    assert state.status is Status.WAITLISTED
    assert state.stream_link_provisioned


def test_repeats_change_nothing() -> None:
    state = run(fresh(), waitlisted(3))
    assert apply_report(state, waitlisted(3)) is None
    state = run(state, reserved())
    assert apply_report(state, reserved()) is None
    state = run(state, provisioned())
    assert apply_report(state, provisioned()) is None


def test_late_reports_do_not_move_the_state_backwards() -> None:
    reserved_state = run(fresh(), reserved(minute=10))
    assert apply_report(reserved_state, waitlisted(1, minute=5)) is None
    assert apply_report(reserved_state, waitlisted(1, minute=50)) is None
    moved = run(fresh(), waitlisted(1, minute=20))
    assert apply_report(moved, waitlisted(4, minute=10)) is None  # an older position
    gone = run(fresh(), left())
    assert apply_report(gone, waitlisted(2)) is None
    assert apply_report(gone, reserved()) is None
    no_link = run(fresh(Attendance.REMOTE), revoked())
    assert apply_report(no_link, provisioned()) is None
    assert no_link.status is Status.ACCEPTED


def test_nothing_changes_a_cancelled_registration() -> None:
    cancelled = RegistrationState(event_id=EVENT, attendance=Attendance.IN_PERSON, cancelled=True)
    for report in (waitlisted(1), reserved(), released(), left(), provisioned(), revoked()):
        assert apply_report(cancelled, report) is None
    assert cancelled.status is Status.CANCELLED
    was_seated = RegistrationState(event_id=EVENT, attendance=Attendance.IN_PERSON, cancelled=True)
    assert was_seated.waitlist_position is None


def test_reports_about_another_event_or_a_remote_seat_are_ignored() -> None:
    other = SeatReserved(registration_id=REGISTRATION, event_id="other-event", reserved_at=T0)
    assert apply_report(fresh(), other) is None
    assert apply_report(fresh(Attendance.REMOTE), reserved()) is None


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([waitlisted(2, minute=0), waitlisted(1, minute=5), reserved(10)])),
)
def test_any_arrival_order_ends_with_the_seat_reserved(order: tuple[StatusReport, ...]) -> None:
    state = run(fresh(), *order, provisioned())
    assert state.status is Status.SEAT_RESERVED
    assert state.waitlist_position is None
    assert state.stream_link_provisioned


_SEAT_ORDER = {
    SeatState.NONE: 0,
    SeatState.WAITLISTED: 1,
    SeatState.RESERVED: 2,
    SeatState.RELEASED: 3,
    SeatState.LEFT: 3,
}
_LINK_ORDER = {LinkState.NONE: 0, LinkState.PROVISIONED: 1, LinkState.REVOKED: 2}

reports = st.one_of(
    st.builds(waitlisted, st.integers(1, 5), st.integers(0, 30)),
    st.builds(reserved, st.integers(0, 30), promoted=st.booleans()),
    st.builds(released, st.integers(0, 30)),
    st.builds(left, st.integers(0, 30)),
    st.builds(
        provisioned, st.sampled_from(["https://s.example.fi/w/1", "https://s.example.fi/w/2"])
    ),
    st.builds(revoked),
)


@given(
    attendance=st.sampled_from(list(Attendance)),
    sequence=st.lists(reports, max_size=12),
    cancel_at=st.integers(0, 12),
)
def test_any_sequence_of_reports_only_moves_forwards_and_stops_at_cancellation(
    attendance: Attendance, sequence: list[StatusReport], cancel_at: int
) -> None:
    state = fresh(attendance)
    for index, report in enumerate(sequence):
        if index == cancel_at:
            state = RegistrationState(
                event_id=state.event_id,
                attendance=state.attendance,
                cancelled=True,
                seat=state.seat,
                link=state.link,
            )
        changed = apply_report(state, report)
        if changed is None:
            continue
        assert not state.cancelled
        assert _SEAT_ORDER[changed.seat.state] >= _SEAT_ORDER[state.seat.state]
        assert _LINK_ORDER[changed.link.state] >= _LINK_ORDER[state.link.state]
        assert apply_report(changed, report) is None  # the same report again: no change
        state = changed
    if state.cancelled:
        assert state.status is Status.CANCELLED
    elif attendance is Attendance.REMOTE:
        assert state.status in (Status.ACCEPTED, Status.REMOTE)
        assert state.seat.state is SeatState.NONE
    else:
        assert state.status in (Status.ACCEPTED, Status.WAITLISTED, Status.SEAT_RESERVED)
        assert (state.waitlist_position is not None) == (state.status is Status.WAITLISTED)


# ------------------------------------------------------- switching attendance

CLOSES, STARTS = at(60), at(120)


def active(attendance: Attendance = Attendance.IN_PERSON, **changes: object) -> RegistrationState:
    return replace(RegistrationState(EVENT, attendance), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "wanted", "now", "expected"),
    [
        (active(), Attendance.REMOTE, at(0), Switch.SWITCH),
        (active(), Attendance.REMOTE, at(119), Switch.SWITCH),  # after closing, before start
        (active(), Attendance.REMOTE, at(120), Switch.EVENT_STARTED),
        (active(Attendance.REMOTE), Attendance.IN_PERSON, at(59), Switch.SWITCH),
        (active(Attendance.REMOTE), Attendance.IN_PERSON, at(60), Switch.REGISTRATION_CLOSED),
        (active(), Attendance.IN_PERSON, at(500), Switch.UNCHANGED),  # no-op even when late
        (active(Attendance.REMOTE), Attendance.REMOTE, at(0), Switch.UNCHANGED),
        (active(cancelled=True), Attendance.REMOTE, at(0), Switch.CANCELLED),
        (active(pending=True), Attendance.REMOTE, at(0), Switch.PENDING),
        (active(erased=True, cancelled=True), Attendance.REMOTE, at(0), Switch.ERASED),
    ],
)
def test_decide_switch(
    state: RegistrationState, wanted: Attendance, now: datetime, expected: Switch
) -> None:
    assert decide_switch(state, wanted, CLOSES, STARTS, now) is expected


def test_a_switch_takes_the_next_version_and_starts_the_seat_afresh() -> None:
    state = apply_report(active(), reserved())
    assert state is not None
    assert state.status is Status.SEAT_RESERVED

    remote = switched(state, Attendance.REMOTE)
    back = switched(remote, Attendance.IN_PERSON)

    assert (remote.attendance_version, back.attendance_version) == (2, 3)
    assert back.status is Status.ACCEPTED  # until capacity answers version 3
    assert back.seat.state is SeatState.NONE


def test_seat_reports_about_an_older_attendance_version_are_stale() -> None:
    back = switched(switched(active(), Attendance.REMOTE), Attendance.IN_PERSON)  # version 3

    assert apply_report(back, reserved()) is None  # version 1, decided before the switches
    v2_released = SeatReleased(
        registration_id=REGISTRATION, event_id=EVENT, released_at=at(30), attendance_version=2
    )
    assert apply_report(back, v2_released) is None
    v3_waitlisted = SeatWaitlisted(
        registration_id=REGISTRATION,
        event_id=EVENT,
        position=2,
        waitlisted_at=at(31),
        attendance_version=3,
    )
    state = apply_report(back, v3_waitlisted)
    assert state is not None
    assert state.status is Status.WAITLISTED
    assert state.waitlist_position == 2


def test_a_kept_stream_link_shows_the_switched_remote_registrant_as_remote() -> None:
    link = StreamLinkProvisioned(
        registration_id=REGISTRATION,
        event_id=EVENT,
        url="https://stream.example/watch/t",
        valid_from=at(90),
        valid_until=at(300),
    )
    with_link = apply_report(active(), link)
    assert with_link is not None

    remote = switched(with_link, Attendance.REMOTE)
    assert remote.status is Status.REMOTE
    # The same link announced again for the switch changes nothing.
    again = link.model_copy(update={"attendance_version": 2})
    assert apply_report(remote, again) is None


@given(
    switches=st.integers(min_value=0, max_value=5),
    order=st.randoms(use_true_random=False),
)
def test_only_reports_of_the_newest_version_decide_the_seat(
    switches: int, order: random.Random
) -> None:
    state = active()
    for _ in range(switches):
        state = switched(
            state,
            Attendance.REMOTE if state.attendance is Attendance.IN_PERSON else Attendance.IN_PERSON,
        )
    reports: list[StatusReport] = [
        SeatReserved(
            registration_id=REGISTRATION,
            event_id=EVENT,
            reserved_at=at(version),
            attendance_version=version,
        )
        for version in range(1, state.attendance_version + 1)
    ]
    order.shuffle(reports)
    for report in reports:
        state = apply_report(state, report) or state
    expected = Status.SEAT_RESERVED if state.attendance is Attendance.IN_PERSON else Status.ACCEPTED
    assert state.status is expected

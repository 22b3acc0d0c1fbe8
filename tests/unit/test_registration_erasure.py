"""Erasure and retention rules without I/O: when erasing cancels, what retention says is due."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ilmo_event_contracts import Attendance, SeatReserved
from ilmo_event_contracts.events import MAX_RETENTION_DAYS, RETENTION_DAYS, EventContent
from ilmo_registration.domain import (
    Erasure,
    RegistrationState,
    apply_report,
    decide_erasure,
    erased_email_key,
    retention_due,
)
from ilmo_registration.schemas import EventCreate, EventPatch
from tests.support.registration import event_payload

ENDS = datetime(2026, 9, 11, 12, 0, tzinfo=UTC)
ACTIVE = RegistrationState("seminar", Attendance.IN_PERSON)


def test_an_active_registration_of_an_event_not_over_is_cancelled_as_it_is_erased() -> None:
    assert decide_erasure(ACTIVE, ENDS, ENDS - timedelta(days=3)) is Erasure.CANCEL_AND_ERASE
    # While the event runs too: the seat and the link are freed.
    assert decide_erasure(ACTIVE, ENDS, ENDS - timedelta(minutes=1)) is Erasure.CANCEL_AND_ERASE


def test_a_cancelled_registration_or_one_of_a_finished_event_is_only_erased() -> None:
    cancelled = RegistrationState("seminar", Attendance.IN_PERSON, cancelled=True)
    assert decide_erasure(cancelled, ENDS, ENDS - timedelta(days=3)) is Erasure.ERASE
    assert decide_erasure(ACTIVE, ENDS, ENDS) is Erasure.ERASE
    assert decide_erasure(ACTIVE, ENDS, ENDS + timedelta(days=90)) is Erasure.ERASE


def test_a_registration_never_confirmed_has_nothing_to_free_and_is_only_erased() -> None:
    for unconfirmed in (replace(ACTIVE, pending=True), replace(ACTIVE, expired=True)):
        assert decide_erasure(unconfirmed, ENDS, ENDS - timedelta(days=3)) is Erasure.ERASE


def test_erasing_twice_changes_nothing() -> None:
    erased = RegistrationState("seminar", Attendance.REMOTE, erased=True)
    for now in (ENDS - timedelta(days=1), ENDS + timedelta(days=1)):
        assert decide_erasure(erased, ENDS, now) is Erasure.ALREADY_ERASED


def test_an_erased_registration_takes_no_more_reports() -> None:
    erased = RegistrationState("seminar", Attendance.IN_PERSON, erased=True)
    report = SeatReserved(
        registration_id="6f0a7d4e-8a44-4a53-9d36-0d0c9f7c2a11",
        event_id="seminar",
        reserved_at=ENDS,
    )
    assert apply_report(erased, report) is None
    assert apply_report(ACTIVE, report) is not None


def test_the_email_key_of_an_erased_registration_is_unique_and_no_address() -> None:
    first, second = erased_email_key("a"), erased_email_key("b")
    assert first != second
    assert "@" not in first


@pytest.mark.parametrize(
    ("after_end", "days", "needs", "everything"),
    [
        (timedelta(minutes=-1), 90, False, False),
        (timedelta(0), 90, True, False),
        (timedelta(days=89, hours=23), 90, True, False),
        (timedelta(days=90), 90, True, True),
        (timedelta(0), 0, True, True),
    ],
)
def test_needs_go_when_the_event_ends_and_everything_after_its_retention(
    after_end: timedelta, days: int, needs: bool, everything: bool
) -> None:
    due = retention_due(ENDS, days, ENDS + after_end)
    assert (due.needs, due.personal_data) == (needs, everything)
    assert due.anything is (needs or everything)


def test_what_was_swept_is_not_due_again() -> None:
    later = ENDS + timedelta(days=200)
    assert not retention_due(ENDS, 90, later, personal_data_erased=True).anything
    swept_needs = retention_due(ENDS, 90, later, needs_erased=True)
    assert (swept_needs.needs, swept_needs.personal_data) == (False, True)
    assert not retention_due(ENDS, 90, ENDS + timedelta(days=1), needs_erased=True).anything


def test_retention_days_is_bounded_and_defaults_to_90() -> None:
    spec = EventCreate.model_validate(event_payload()).to_spec()
    assert spec.retention_days == RETENTION_DAYS == 90
    # An event stored before the field existed reads with the default.
    stored = spec.model_dump(exclude={"retention_days"})
    assert EventContent.model_validate(stored).retention_days == 90
    for wrong in (-1, MAX_RETENTION_DAYS + 1):
        with pytest.raises(ValidationError):
            EventPatch.model_validate({"retention_days": wrong})
    assert EventPatch.model_validate({"retention_days": 0}).retention_days == 0

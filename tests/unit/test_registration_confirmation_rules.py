"""Confirmation rules without I/O: pending, expiry, confirming, and repeat registrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import (
    Confirmation,
    ConfirmationPolicy,
    Registrant,
    RegistrationState,
    Repeat,
    Standing,
    Status,
    decide_confirmation,
    decide_repeat,
    is_expired,
    submit,
)

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(hours=24)
CLOSES = T0 + timedelta(days=7)
INTERVAL = timedelta(minutes=15)


def test_the_default_policy_is_a_day_to_confirm_and_a_quarter_hour_between_repeat_mails() -> None:
    policy = ConfirmationPolicy()
    assert policy.expires_at(T0) == EXPIRES
    assert policy.repeat_interval == INTERVAL


def test_a_submission_carries_the_contact_and_its_expiry() -> None:
    registrant = Registrant(
        "Åsa", "Öhman", "asa@example.fi", None, Attendance.REMOTE, Language.SV, needs="x"
    )
    submitted = submit("seminar", registrant, T0, EXPIRES)
    assert (submitted.submitted_at, submitted.expires_at) == (T0, EXPIRES)
    assert submitted.email == "asa@example.fi"
    assert "needs" not in submitted.model_dump()


def test_a_pending_registration_shows_as_pending_until_cancelled() -> None:
    pending = RegistrationState("seminar", Attendance.IN_PERSON, pending=True)
    assert pending.status is Status.PENDING_CONFIRMATION
    cancelled = RegistrationState("seminar", Attendance.IN_PERSON, cancelled=True, pending=True)
    assert cancelled.status is Status.CANCELLED


@pytest.mark.parametrize(
    ("standing", "now", "expired"),
    [
        (Standing.PENDING, EXPIRES - timedelta(milliseconds=1), False),
        (Standing.PENDING, EXPIRES, True),
        (Standing.EXPIRED, T0, True),
        (Standing.ACTIVE, EXPIRES + timedelta(days=1), False),
        (Standing.CANCELLED, EXPIRES + timedelta(days=1), False),
    ],
)
def test_only_an_unconfirmed_registration_expires(
    standing: Standing, now: datetime, expired: bool
) -> None:
    assert is_expired(standing, EXPIRES, now) is expired


@pytest.mark.parametrize(
    ("standing", "now", "decision"),
    [
        (Standing.PENDING, T0 + timedelta(hours=1), Confirmation.CONFIRM),
        (Standing.ACTIVE, T0 + timedelta(hours=1), Confirmation.DONE),
        (Standing.CANCELLED, T0 + timedelta(hours=1), Confirmation.DONE),
        # Confirming twice is harmless, even after the window closed.
        (Standing.ACTIVE, CLOSES + timedelta(days=1), Confirmation.DONE),
        (Standing.PENDING, EXPIRES, Confirmation.EXPIRED),
        (Standing.EXPIRED, T0, Confirmation.EXPIRED),
    ],
)
def test_what_following_the_confirmation_link_does(
    standing: Standing, now: datetime, decision: Confirmation
) -> None:
    assert decide_confirmation(standing, EXPIRES, CLOSES, now) is decision


def test_a_confirmation_after_registration_closed_is_refused_and_expiry_is_told_first() -> None:
    closes = T0 + timedelta(hours=1)
    assert decide_confirmation(Standing.PENDING, EXPIRES, closes, closes) is Confirmation.CLOSED
    assert decide_confirmation(Standing.PENDING, EXPIRES, closes, EXPIRES) is Confirmation.EXPIRED


@pytest.mark.parametrize(
    ("standing", "last_notified", "now", "decision"),
    [
        (Standing.PENDING, None, T0, Repeat.NOTIFY),
        (Standing.ACTIVE, None, T0, Repeat.NOTIFY),
        (Standing.ACTIVE, T0, T0 + INTERVAL - timedelta(seconds=1), Repeat.QUIET),
        (Standing.ACTIVE, T0, T0 + INTERVAL, Repeat.NOTIFY),
        (Standing.PENDING, T0, T0 + timedelta(minutes=1), Repeat.QUIET),
        # An expired holder blocks nobody, whatever it was told.
        (Standing.PENDING, T0, EXPIRES, Repeat.REPLACE),
        (Standing.EXPIRED, None, T0, Repeat.REPLACE),
        (Standing.CANCELLED, None, T0, Repeat.REPLACE),
    ],
)
def test_a_repeat_registration_tells_the_address_at_most_once_per_interval(
    standing: Standing, last_notified: datetime | None, now: datetime, decision: Repeat
) -> None:
    assert decide_repeat(standing, EXPIRES, last_notified, now, INTERVAL) is decision

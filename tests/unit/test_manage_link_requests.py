"""Asking for one's manage link again: the rule, the address's key, the form's field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

from ilmo_registration.domain import (
    ConfirmationPolicy,
    LinkRequest,
    Standing,
    decide_link_request,
)
from ilmo_registration.manage_link_api import ManageLinkRequest
from ilmo_registration.manage_link_pages import INVALID, MISSING, read_address
from ilmo_registration.rate_limits import address_hash_key, address_key
from ilmo_registration.registration_form import FieldError
from ilmo_registration.settings import RegistrationSettings

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(hours=24)
INTERVAL = timedelta(minutes=5)
SECRET = SecretStr("a-manage-link-secret-of-at-least-32-characters")


@pytest.mark.parametrize(
    ("standing", "expires_at", "last_requested", "now", "decision"),
    [
        # A live registration, never asked for: its link goes.
        (Standing.ACTIVE, None, None, T0, LinkRequest.SEND),
        (Standing.PENDING, EXPIRES, None, T0, LinkRequest.SEND),
        # Asked for within the interval: nothing more, whoever asks.
        (Standing.ACTIVE, None, T0, T0 + timedelta(minutes=4, seconds=59), LinkRequest.QUIET),
        (Standing.PENDING, EXPIRES, T0, T0 + timedelta(minutes=1), LinkRequest.QUIET),
        # Once the interval has passed, again.
        (Standing.ACTIVE, None, T0, T0 + INTERVAL, LinkRequest.SEND),
        # Nothing to send: a cancelled registration, an expired one.
        (Standing.CANCELLED, None, None, T0, LinkRequest.NONE),
        (Standing.EXPIRED, None, None, T0, LinkRequest.NONE),
        # Pending, but its time to confirm ran out (the sweep has not removed it yet).
        (Standing.PENDING, EXPIRES, None, EXPIRES, LinkRequest.NONE),
    ],
)
def test_a_live_registration_gets_its_link_at_most_once_per_interval(
    standing: Standing,
    expires_at: datetime | None,
    last_requested: datetime | None,
    now: datetime,
    decision: LinkRequest,
) -> None:
    assert decide_link_request(standing, expires_at, last_requested, now, INTERVAL) is decision


def test_the_default_link_interval_is_five_minutes_and_a_setting() -> None:
    assert ConfirmationPolicy().link_interval == INTERVAL
    settings = RegistrationSettings()
    assert settings.manage_link_mail_interval_minutes == 5
    assert (
        settings.rate_limit_manage_link_per_client,
        settings.rate_limit_manage_link_per_address,
    ) == ("10/minute", "3/hour")
    with pytest.raises(ValidationError):
        RegistrationSettings(rate_limit_manage_link_per_address="often")


def test_an_address_counts_under_a_keyed_hash_of_its_normal_form() -> None:
    key = address_hash_key(SECRET)
    assert key == address_hash_key(SECRET)  # every replica counts alike
    counted = address_key(key, "Maija.Meikalainen@Example.fi")
    assert counted == address_key(key, "  maija.meikalainen@example.fi ")
    assert "maija" not in counted
    assert counted != address_key(key, "matti@example.fi")
    # Another secret, another key: a list of addresses hashed without it matches nothing.
    other = address_hash_key(SecretStr("another-manage-link-secret-of-32-characters"))
    assert address_key(other, "maija.meikalainen@example.fi") != counted
    # Without a secret (tools and tests only), a random key of the process's own.
    assert address_hash_key(None) != address_hash_key(None)


def test_the_request_takes_an_address_and_perhaps_a_language_and_nothing_else() -> None:
    asked = ManageLinkRequest.model_validate({"email": " maija@example.fi ", "language": "sv"})
    assert (str(asked.email), asked.language) == ("maija@example.fi", "sv")
    assert ManageLinkRequest.model_validate({"email": "maija@example.fi"}).language is None
    for bad in (
        {"email": "maija.example.fi"},
        {"email": "maija@example.fi", "language": "de"},
        {"email": "maija@example.fi", "registration_id": "x"},
        {},
    ):
        with pytest.raises(ValidationError):
            ManageLinkRequest.model_validate(bad)


def test_the_forms_field_is_read_as_the_api_reads_it_or_says_what_to_fix() -> None:
    assert read_address(" maija@example.fi ") == "maija@example.fi"
    assert read_address("  ") == FieldError("email", MISSING)
    assert read_address("maija.example.fi") == FieldError("email", INVALID)

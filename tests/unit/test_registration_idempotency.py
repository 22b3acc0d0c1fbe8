"""The rules of Idempotency-Keys: what a key derives, seals, and finds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ilmo_registration.idempotency import (
    LEASE,
    Claim,
    ClaimState,
    InvalidIdempotencyKey,
    InvalidTag,
    KeyedRequest,
    Standing,
    decide,
    fingerprint,
    retry_after,
)

SECRET = b"a-secret-of-the-service-0123456789"
KEY = "7f1c2a9e-5b8d-4c3f-9e21-0a6d8b4f3c57"
BODY = {"email": "matti@example.fi", "attendance": "remote"}
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def request(key: str = KEY, body: dict[str, str] = BODY, event: str = "seminar") -> KeyedRequest:
    return KeyedRequest.of(SECRET, event, key, dict(body))


def claim(**changes: object) -> Claim:
    keyed = request()
    base = Claim(
        id=keyed.claim_id,
        event_id="seminar",
        fingerprint=keyed.fingerprint,
        registration_id="0f5e8a4c-1d2b-4e6f-8a9c-3b7d5e1f2a40",
        sealed_token=keyed.seal("the-token", "0f5e8a4c-1d2b-4e6f-8a9c-3b7d5e1f2a40"),
        state=ClaimState.PROCESSING,
        claimed_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "too-short", "x" * 256, "has a space in it, see", "ä" * 20])
def test_a_key_that_is_not_16_to_255_visible_ascii_characters_is_refused(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        request(key)


def test_the_claim_id_depends_on_event_and_key_and_does_not_reveal_the_key() -> None:
    assert request().claim_id == request().claim_id
    assert request().claim_id != request(event="other").claim_id
    assert request().claim_id != request(key=KEY.upper()).claim_id
    assert KEY not in request().claim_id
    assert request().claim_id != KeyedRequest.of(b"another-secret", "seminar", KEY, BODY).claim_id


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint("e", {"a": 1, "b": 2}) == fingerprint("e", {"b": 2, "a": 1})
    assert fingerprint("e", {"a": 1}) != fingerprint("e", {"a": 2})
    assert fingerprint("e", {"a": 1}) != fingerprint("f", {"a": 1})


def test_only_the_same_key_unseals_the_token_and_only_for_its_registration() -> None:
    stored = claim()
    assert request().unseal(stored) == "the-token"
    with pytest.raises(InvalidTag):
        request(key=KEY[::-1]).unseal(stored)
    with pytest.raises(InvalidTag):
        request().unseal(replace(stored, registration_id="another-registration"))


def test_sealing_twice_gives_different_ciphertexts() -> None:
    keyed = request()
    assert keyed.seal("t", "r") != keyed.seal("t", "r")


@pytest.mark.parametrize(
    ("stored", "at", "body", "standing"),
    [
        (claim(state=ClaimState.DONE, status="accepted"), NOW, BODY, Standing.REPLAY),
        (claim(), NOW + LEASE - timedelta(seconds=1), BODY, Standing.IN_PROGRESS),
        (claim(), NOW + LEASE, BODY, Standing.ABANDONED),
        (claim(state=ClaimState.DONE), NOW, {"email": "other@example.fi"}, Standing.MISMATCH),
        (claim(), NOW + timedelta(hours=24), {"email": "other@example.fi"}, Standing.EXPIRED),
    ],
)
def test_what_a_request_finds_under_its_key(
    stored: Claim, at: datetime, body: dict[str, str], standing: Standing
) -> None:
    assert decide(stored, request(body=body), at) is standing


def test_retry_after_is_what_is_left_of_the_lease_in_whole_seconds_at_least_one() -> None:
    assert retry_after(claim(), NOW) == int(LEASE.total_seconds())
    assert retry_after(claim(), NOW + LEASE - timedelta(milliseconds=200)) == 1
    assert retry_after(claim(), NOW + LEASE + timedelta(seconds=5)) == 1

"""The check-in code in the QR: round trip, forgery, and nothing personal in it."""

from __future__ import annotations

import uuid

import pytest

from ilmo_shared.check_in import check_in_code, registration_of
from ilmo_shared.manage_links import manage_link_token

SECRET = "a-test-secret-of-enough-length-0123456789"


def test_a_code_names_its_registration_and_only_the_secret_makes_one() -> None:
    registration_id = str(uuid.uuid4())
    code = check_in_code(SECRET, registration_id)
    assert registration_of(SECRET, code) == registration_id
    assert registration_of("another-secret-of-enough-length-012345", code) is None


@pytest.mark.parametrize(
    "scanned",
    ["", "IC1", "IC1.not-a-uuid.AAAAAAAAAAAAAAAAAAAAAA", "https://example.fi/", "IC1.x.y.z"],
)
def test_anything_else_a_camera_reads_is_no_code(scanned: str) -> None:
    assert registration_of(SECRET, scanned) is None


def test_a_tampered_code_or_another_registrations_mac_is_refused() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    prefix, _, mac = check_in_code(SECRET, first).split(".")
    assert registration_of(SECRET, f"{prefix}.{second}.{mac}") is None
    flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
    assert registration_of(SECRET, f"{prefix}.{first}.{flipped}") is None


def test_the_code_is_not_the_manage_link_token() -> None:
    registration_id = str(uuid.uuid4())
    assert manage_link_token(SECRET, registration_id) not in check_in_code(SECRET, registration_id)

"""The check-in code in a registrant's QR: which registration, signed, and nothing personal.

Notification prints the code (as a QR image) into seat confirmations and
reminders; the registration service's check-in page reads it back. Like the
manage link (``ilmo_shared.manage_links``), both derive it from the
registration id with the secret they already share
(``ILMO_MANAGE_LINK_SECRET``), under a context of its own, so nothing is
stored and nothing secret travels on the bus. A code cannot stand in for a
manage link or the other way round.

The code is ``IC1.<registration id>.<mac>``: the registration id is a random
UUID that says nothing about the person, and the MAC (128 bits of
HMAC-SHA256) makes a code for a registration nobody was given unforgeable.
It carries no event id: the page checks that the registration belongs to the
event at the door.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

PREFIX = "IC1"
_CONTEXT = b"ilmo/check-in/v1:"
# 16 bytes of the MAC, base64url without padding.
_MAC_LENGTH = 22


def _mac(secret: str, registration_id: str) -> str:
    digest = hmac.new(secret.encode(), _CONTEXT + registration_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()


def check_in_code(secret: str, registration_id: str) -> str:
    """The text of a registration's check-in QR code."""
    return f"{PREFIX}.{UUID(registration_id)}.{_mac(secret, str(UUID(registration_id)))}"


def registration_of(secret: str, code: str) -> str | None:
    """The registration id a scanned ``code`` names, or None if it is not a valid code.

    Any text is safe to pass (a camera reads whatever QR it sees); the MAC is
    compared in constant time.
    """
    parts = code.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[2]) != _MAC_LENGTH:
        return None
    try:
        registration_id = str(UUID(parts[1]))
    except ValueError:
        return None
    expected = _mac(secret, registration_id).encode()
    if not hmac.compare_digest(expected, parts[2].encode("utf-8", errors="replace")):
        return None
    return registration_id

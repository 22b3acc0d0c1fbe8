"""Manage links in emails: a token that lets the registrant view or cancel from a link.

The ``manage_token`` given in the 202 answer is random and stored only as a
hash, so it cannot be put in an email written later by another service, and
it must never travel on the event bus (every subscriber would be able to
cancel anyone). Instead the registration and notification services share a
secret (``ILMO_MANAGE_LINK_SECRET``) and both derive the same link token from
the registration id with HMAC-SHA256: unguessable without the secret, nothing
to store, and nothing sensitive on the bus.

The link in the "confirm your address" mail is derived the same way, from
the same secret under a context of its own (``confirmation_link_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_CONTEXT = b"ilmo/manage-link/v1:"
# The confirmation link's token is derived under its own context, so neither
# token can stand in for the other: a manage link cannot confirm an address,
# and a confirmation link cannot show or cancel a registration.
_CONFIRMATION_CONTEXT = b"ilmo/confirm-address/v1:"


def _token(secret: str, context: bytes, registration_id: str) -> str:
    digest = hmac.new(secret.encode(), context + registration_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def manage_link_token(secret: str, registration_id: str) -> str:
    """The link token for one registration (256 bits, URL-safe, no padding)."""
    return _token(secret, _CONTEXT, registration_id)


def confirmation_link_token(secret: str, registration_id: str) -> str:
    """The token of the "confirm your address" link: same secret, its own purpose."""
    return _token(secret, _CONFIRMATION_CONTEXT, registration_id)


def is_confirmation_link_token(secret: str, registration_id: str, token: str) -> bool:
    """Constant-time check of a confirmation link token (any text is safe to pass)."""
    expected = confirmation_link_token(secret, registration_id).encode()
    return hmac.compare_digest(expected, token.encode("utf-8", errors="replace"))


def confirmation_link(base_url: str, secret: str, registration_id: str) -> str:
    """The confirmation page address written into the "confirm your address" mail."""
    token = confirmation_link_token(secret, registration_id)
    return f"{base_url.rstrip('/')}/confirm/{registration_id}?token={token}"


def is_manage_link_token(secret: str, registration_id: str, token: str) -> bool:
    """Constant-time check of a link token; any text is safe to pass (bytes are compared)."""
    expected = manage_link_token(secret, registration_id).encode()
    return hmac.compare_digest(expected, token.encode("utf-8", errors="replace"))


def manage_link(base_url: str, secret: str, registration_id: str) -> str:
    """The manage page address written into emails."""
    token = manage_link_token(secret, registration_id)
    return f"{base_url.rstrip('/')}/manage/{registration_id}?token={token}"

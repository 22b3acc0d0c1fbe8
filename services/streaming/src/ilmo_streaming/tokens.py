"""Personal stream link tokens: a registration id signed with the service's secret.

A token is ``base64url(registration id (16 bytes) || tag (16 bytes))`` without
padding, 43 characters, where ``tag`` is the first 16 bytes of
``HMAC-SHA256(secret, b"ilmo/stream-link/v1:" + registration id bytes)``.

- Unguessable: making a working token for a registration takes the secret
  (a 128-bit tag); the token carries no personal data, only the random
  registration id, which alone grants nothing anywhere in Ilmo.
- Deterministic: the same registration always gets the same link, so "one
  link per registration, whatever is redelivered" holds by construction, and
  the token itself is never stored, only the registration's link state.
- Verified in constant time (``hmac.compare_digest``); anything that is not
  exactly a token this service made (other length, other alphabet, a
  non-canonical base64 spelling, a wrong tag) is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from uuid import UUID

CONTEXT = b"ilmo/stream-link/v1:"
HOLDER_CONTEXT = b"ilmo/stream-link/holder/v1:"
HOLDER_BYTES = 12  # 16 characters of base64url
TAG_BYTES = 16
TOKEN_LENGTH = 43  # base64url of 32 bytes, unpadded
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")


class LinkTokens:
    """Makes and checks the tokens of personal stream links with one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a stream link secret is required")
        self._key = secret.encode()

    def _mac(self, context: bytes, registration_id: UUID) -> bytes:
        return hmac.new(self._key, context + registration_id.bytes, hashlib.sha256).digest()

    def _tag(self, registration_id: UUID) -> bytes:
        return self._mac(CONTEXT, registration_id)[:TAG_BYTES]

    def token_for(self, registration_id: UUID) -> str:
        raw = registration_id.bytes + self._tag(registration_id)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def holder_of(self, registration_id: UUID) -> str:
        """The link's opaque label in signed playback URLs (``ilmo_streaming.playback``).

        Keyed and one-way, under its own context: it is neither the token
        (which opens the link) nor the registration id, so a playback URL
        seen in an origin's log or forwarded grants nothing beyond its own
        expiry and tells nobody whose it is, while the one who holds the
        secret can find the link it came from.
        """
        digest = self._mac(HOLDER_CONTEXT, registration_id)
        return base64.urlsafe_b64encode(digest[:HOLDER_BYTES]).decode("ascii")

    def registration_of(self, token: str) -> UUID | None:
        """The registration a token was made for, or None if this service did not make it."""
        if _TOKEN.fullmatch(token) is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=")
        except (binascii.Error, ValueError):
            return None
        # The last character carries two spare bits: only the canonical spelling counts.
        if len(raw) != 16 + TAG_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=") != (
            token.encode("ascii")
        ):
            return None
        registration_id = UUID(bytes=raw[:16])
        if not hmac.compare_digest(raw[16:], self._tag(registration_id)):
            return None
        return registration_id


def watch_url(base_url: str, token: str) -> str:
    """The personal link: ``{base_url}/watch/{token}``."""
    return f"{base_url.rstrip('/')}/watch/{token}"

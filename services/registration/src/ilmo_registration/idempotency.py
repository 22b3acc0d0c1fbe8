"""Idempotency keys for registering: a retried POST gets the first answer back.

A client on a network that drops answers sends an ``Idempotency-Key``
header (the IETF httpapi draft, as payment APIs use it). The first request
under a key claims it: before anything else is stored, the claim fixes the
registration's id and manage token. Every repeat with the same key and the
same body gets that id and token again, whether the first attempt finished,
crashed half-way, or is still running somewhere else.

Only a hash of the manage token is stored with the registration. The claim
keeps the token itself sealed (AES-GCM) under a key derived from the
Idempotency-Key and the service's secret: only the holder of the key can
unseal it, and someone who reads the database without the secret cannot.
The claim's id is derived the same way, under another label, so it does not
reveal the sealing key. A claim lives until the key expires, or until its
registration is erased.

Rules only, no I/O: the store is ``storage.idempotency``, the use case
``keyed_registration``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ilmo_registration.domain import Refused

# Long enough that two clients do not pick the same one by chance (a UUID
# has 36 characters); visible ASCII, as the draft's header is a string.
_KEY = re.compile(r"^[\x21-\x7e]{16,255}$")
_NONCE_BYTES = 12
# How long a claim stands for a request still running; after it a repeat
# takes the claim over (its first holder is presumed dead). Taking over is
# safe even if the first holder still runs: both store the same id.
LEASE = timedelta(seconds=10)


class InvalidIdempotencyKey(Refused):
    """The header is not a usable key: 16-255 visible ASCII characters (a UUID will do)."""


class IdempotencyKeyReused(Refused):
    """The key was used for a different request body."""


class RequestInProgress(Refused):
    """A request under this key is still running; ``retry_after`` seconds is worth waiting."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("request in progress")
        self.retry_after = retry_after


class ClaimState(StrEnum):
    PROCESSING = "processing"
    DONE = "done"


@dataclass(frozen=True)
class Claim:
    """What a key stands for: the request it was first used with, and its answer."""

    id: str
    event_id: str
    fingerprint: str
    registration_id: str
    sealed_token: str
    state: ClaimState
    claimed_at: datetime
    expires_at: datetime
    # The receipt's status once answered; None while processing.
    status: str | None = None


class Standing(StrEnum):
    """What a request finds under its key (``decide``)."""

    REPLAY = "replay"  # answered before: the same answer again
    IN_PROGRESS = "in_progress"  # another request holds it now: 409
    ABANDONED = "abandoned"  # its holder stopped without answering: take it over
    EXPIRED = "expired"  # a key past its time: free again
    MISMATCH = "mismatch"  # the key with another body: 422


@dataclass(frozen=True)
class KeyedRequest:
    """A registration request under an Idempotency-Key, with what is derived from the key."""

    claim_id: str
    fingerprint: str
    _seal_key: bytes

    @classmethod
    def of(cls, secret: bytes, event_id: str, key: str, body: dict[str, Any]) -> KeyedRequest:
        """Derive the claim id and the sealing key; refuse a key that is not usable."""
        if not _KEY.match(key):
            raise InvalidIdempotencyKey
        scope = f"{event_id}\0{key}".encode()
        claim_id = _derive(secret, b"idempotency-claim", scope).hex()
        seal_key = _derive(secret, b"idempotency-seal", scope)
        return cls(claim_id, fingerprint(event_id, body), seal_key)

    def seal(self, token: str, registration_id: str) -> str:
        """The manage token, encrypted for the holder of the key, bound to its registration."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._seal_key).encrypt(nonce, token.encode(), self._bound(registration_id))
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, claim: Claim) -> str:
        """The manage token the claim keeps; ``InvalidTag`` if it was not sealed with this key."""
        raw = base64.urlsafe_b64decode(claim.sealed_token.encode())
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        bound = self._bound(claim.registration_id)
        return AESGCM(self._seal_key).decrypt(nonce, sealed, bound).decode()

    def _bound(self, registration_id: str) -> bytes:
        return f"{self.claim_id}\0{registration_id}".encode()


def fingerprint(event_id: str, body: dict[str, Any]) -> str:
    """The request as a hash: the same event and body, whatever the JSON's key order."""
    canonical = json.dumps([event_id, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def decide(claim: Claim, request: KeyedRequest, now: datetime) -> Standing:
    """What a request finds in the claim already stored under its key."""
    if now >= claim.expires_at:
        return Standing.EXPIRED
    if not hmac.compare_digest(claim.fingerprint, request.fingerprint):
        return Standing.MISMATCH
    if claim.state is ClaimState.DONE:
        return Standing.REPLAY
    if now < claim.claimed_at + LEASE:
        return Standing.IN_PROGRESS
    return Standing.ABANDONED


def retry_after(claim: Claim, now: datetime) -> int:
    """Whole seconds until the claim's lease runs out, at least one."""
    remaining = (claim.claimed_at + LEASE - now).total_seconds()
    return max(1, int(remaining + 0.999))


def _derive(secret: bytes, label: bytes, scope: bytes) -> bytes:
    return hmac.new(secret, label + b"\0" + scope, hashlib.sha256).digest()


__all__ = [
    "LEASE",
    "Claim",
    "ClaimState",
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "InvalidTag",
    "KeyedRequest",
    "RequestInProgress",
    "Standing",
    "decide",
    "fingerprint",
    "retry_after",
]

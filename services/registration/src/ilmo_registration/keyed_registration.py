"""Registering under an Idempotency-Key: the use case (rules in ``idempotency``).

The order is what makes a retry safe at any point:

1. claim the key, fixing the registration's id and sealed manage token;
2. register with that id and token (``UseCases.register``), which stores
   the registration once, whoever tries;
3. record the answer on the claim.

A crash after 1 leaves a claim that a repeat takes over once its lease has
run out, and registers with the same id: if 2 had stored it, the address
is found held by that id, and that is the answer. A refusal (the event is
closed, the notice changed) stores nothing, and releases the key. Any
other failure leaves the claim as it is, for a repeat to take over: the
write may have been stored although it raised.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter

from ilmo_registration.domain import Refused, Registrant, Status
from ilmo_registration.idempotency import (
    Claim,
    ClaimState,
    IdempotencyKeyReused,
    InvalidTag,
    KeyedRequest,
    RequestInProgress,
    Standing,
    decide,
    retry_after,
)
from ilmo_registration.security import new_manage_token
from ilmo_registration.storage.idempotency import IdempotencyStore
from ilmo_registration.usecases import Identity, Receipt, UseCases
from ilmo_shared.storage import ConcurrentChangeError

KEYED = Counter(
    "ilmo_idempotent_registrations_total",
    "Registrations posted with an Idempotency-Key, by what the key found.",
    ["outcome"],
)
# A claim lost to a racing request is looked at again this often.
ATTEMPTS = 3

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class KeyedRegistration:
    """``UseCases.register`` made repeatable by a key; built in ``app``."""

    usecases: UseCases
    claims: IdempotencyStore
    secret: bytes
    lifetime: timedelta

    async def register(
        self,
        event_id: str,
        registrant: Registrant,
        notice_version: str,
        key: str,
        body: dict[str, Any],
    ) -> Receipt:
        """Register once per key and body; a repeat gets the first answer, token included."""
        request = KeyedRequest.of(self.secret, event_id, key, body)
        claim = await self._hold(request, event_id)
        if claim.state is ClaimState.DONE:
            KEYED.labels("replayed").inc()
            status = Status(claim.status or Status.ACCEPTED.value)
            return Receipt(claim.registration_id, request.unseal(claim), status)
        identity = Identity(claim.registration_id, request.unseal(claim))
        try:
            receipt = await self.usecases.register(
                event_id, registrant, notice_version, identity=identity
            )
        except Refused:
            await self.claims.release(claim)  # nothing stored: the key may be used again
            raise
        await self.claims.answered(claim, receipt.status.value)
        KEYED.labels("answered").inc()
        return receipt

    async def _hold(self, request: KeyedRequest, event_id: str) -> Claim:
        """The claim this request works under: new, taken over, or answered already."""
        for _ in range(ATTEMPTS):
            now = self.usecases.now()
            fresh = self._fresh(request, event_id, now)
            standing = await self.claims.claim(fresh)
            if standing is None:
                return fresh
            match decide(standing, request, now):
                case Standing.REPLAY:
                    return self._readable(standing, request)
                case Standing.MISMATCH:
                    KEYED.labels("mismatch").inc()
                    raise IdempotencyKeyReused
                case Standing.IN_PROGRESS:
                    KEYED.labels("in_progress").inc()
                    raise RequestInProgress(retry_after(standing, now))
                case Standing.ABANDONED:
                    taken = await self.claims.take_over(self._readable(standing, request), now)
                    if taken is not None:
                        KEYED.labels("taken_over").inc()
                        return taken
                case Standing.EXPIRED:
                    await self.claims.remove(standing)
        raise ConcurrentChangeError(request.claim_id)

    def _fresh(self, request: KeyedRequest, event_id: str, now: datetime) -> Claim:
        registration_id = str(uuid.uuid4())
        token, _ = new_manage_token()
        return Claim(
            id=request.claim_id,
            event_id=event_id,
            fingerprint=request.fingerprint,
            registration_id=registration_id,
            sealed_token=request.seal(token, registration_id),
            state=ClaimState.PROCESSING,
            claimed_at=now,
            expires_at=now + self.lifetime,
        )

    @staticmethod
    def _readable(claim: Claim, request: KeyedRequest) -> Claim:
        """The claim, once its token is shown to unseal with this request's key.

        The claim id and the sealing key come from the same key, so this
        fails only if the stored claim was altered: a fault, not a request
        to answer.
        """
        try:
            request.unseal(claim)
        except InvalidTag:
            log.error("idempotency_claim_unreadable")
            raise
        return claim

    async def remove_expired(self) -> int:
        """Remove the claims of keys past their time."""
        return await self.claims.remove_expired(self.usecases.now())

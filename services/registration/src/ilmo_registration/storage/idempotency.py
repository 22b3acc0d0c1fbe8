"""The claims of Idempotency-Keys (``ilmo_registration.idempotency``), one document each.

``idempotency_keys``: ``_id`` = the claim id derived from the event, the key
and the service's secret (never the key itself). A claim is taken by a
unique insert, so of two requests racing under one key exactly one claims
it, on MongoDB and FerretDB alike. Every later write is conditional on the
claim's ``claimed_at``, so a request that lost the claim to a take-over
changes nothing. Taking over is safe even where FerretDB v1 lets two
conditional updates both apply: both holders store the same registration.

Expired claims are removed by the sweep (``remove_expired``), which on
FerretDB v1 reads the collection: it holds a day of keyed registrations.
An erased registration's claim goes with it (``forget``), found by its
registration id, which FerretDB also answers by reading the collection:
erasures are rare.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_registration.idempotency import Claim, ClaimState
from ilmo_shared.storage import Document

IDEMPOTENCY_COLLECTION = "idempotency_keys"


class IdempotencyStore:
    """Claims of Idempotency-Keys: taken, answered, released, forgotten."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.claims: AsyncCollection[Document] = database[IDEMPOTENCY_COLLECTION]

    async def claim(self, claim: Claim) -> Claim | None:
        """Take the key for ``claim``: None if taken now, else the claim already standing."""
        try:
            await self.claims.insert_one(_document(claim))
        except DuplicateKeyError:
            standing = await self.claims.find_one({"_id": claim.id})
            # Released or removed between the insert and the read: take it next time.
            return _claim(standing) if standing is not None else _released(claim)
        return None

    async def take_over(self, claim: Claim, now: datetime) -> Claim | None:
        """Hold an abandoned claim from ``now``; None if another request took it first."""
        result = await self.claims.update_one(
            {"_id": claim.id, "claimed_at": claim.claimed_at, "state": ClaimState.PROCESSING},
            {"$set": {"claimed_at": now}},
        )
        if result.matched_count != 1:
            return None
        return Claim(**{**claim.__dict__, "claimed_at": now})

    async def answered(self, claim: Claim, status: str) -> None:
        """The request under ``claim`` was answered with ``status``: repeats get that answer."""
        await self.claims.update_one(
            {"_id": claim.id, "claimed_at": claim.claimed_at},
            {"$set": {"state": ClaimState.DONE.value, "status": status}},
        )

    async def release(self, claim: Claim) -> None:
        """The request was refused and stored nothing: the key is free for another try."""
        await self.claims.delete_one({"_id": claim.id, "claimed_at": claim.claimed_at})

    async def remove(self, claim: Claim) -> None:
        """An expired claim goes, unless someone claimed the key again meanwhile."""
        await self.claims.delete_one({"_id": claim.id, "expires_at": claim.expires_at})

    async def forget(self, registration_id: str) -> int:
        """Remove the claims of an erased registration: nobody gets its token again."""
        result = await self.claims.delete_many({"registration_id": registration_id})
        return result.deleted_count

    async def remove_expired(self, now: datetime) -> int:
        """Remove every claim past its time, and the sealed tokens with them."""
        result = await self.claims.delete_many({"expires_at": {"$lte": now}})
        return result.deleted_count


def _document(claim: Claim) -> dict[str, Any]:
    return {
        "_id": claim.id,
        "event_id": claim.event_id,
        "fingerprint": claim.fingerprint,
        "registration_id": claim.registration_id,
        "sealed_token": claim.sealed_token,
        "state": claim.state.value,
        "claimed_at": claim.claimed_at,
        "expires_at": claim.expires_at,
        "status": claim.status,
    }


def _claim(document: Document) -> Claim:
    return Claim(
        id=str(document["_id"]),
        event_id=document["event_id"],
        fingerprint=document["fingerprint"],
        registration_id=document["registration_id"],
        sealed_token=document["sealed_token"],
        state=ClaimState(document["state"]),
        claimed_at=document["claimed_at"],
        expires_at=document["expires_at"],
        status=document.get("status"),
    )


def _released(claim: Claim) -> Claim:
    """A stand-in for a claim that vanished: expired, so the caller claims again."""
    return Claim(**{**claim.__dict__, "expires_at": claim.claimed_at})

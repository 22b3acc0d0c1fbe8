"""Leases on documents, so that a service's replicas take turns writing one document.

FerretDB v1 applies an update as a read followed by a write, so two
processes that update one document at once can lose one of the updates,
conditional or not (``ilmo_shared.storage``). Inside one process
``DocumentLocks`` makes the writers of a document take turns. Between
replicas a lease does the same: before it writes, a process inserts
``{"_id": "<collection>/<document id>"}`` into the service's ``leases``
collection and deletes it when the write is done. An insert against a
unique ``_id`` is the one write FerretDB v1 makes atomic (SQLite's primary
key), so exactly one replica holds a document's lease at a time, and the
next holder's read sees the last holder's write.

A replica that dies while it holds a lease leaves it behind. Each lease
therefore carries an expiry; after it, another replica deletes it (naming
the holder's token, so that it never deletes a newer lease) and takes its
own. A write that runs longer than the lease is the one case where two
replicas could both write: the lease lasts 15 s by default, where a
held write takes a few milliseconds, and the clocks of the replicas must
agree to well within it (NTP). A replica that was given a name
(``ILMO_REPLICA_NAME``) gives back, at start, the leases its previous run
left, instead of letting them expire.

Why leases rather than partitions or insert-only records:
docs/architecture.md, "Replicas".
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from prometheus_client import Counter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from ilmo_shared.backoff import Backoff
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import ConcurrentChangeError, Document

log = structlog.get_logger(__name__)

LEASE_WAITS = Counter(
    "ilmo_lease_waits_total",
    "Writes that found their document's lease held by another replica and waited.",
)
LEASES_TAKEN_OVER = Counter(
    "ilmo_leases_taken_over_total",
    "Expired leases of another (dead) replica deleted and taken.",
)

LEASES = "leases"
# A held lease is asked for again after this, doubling up to the longest wait.
FIRST_WAIT_SECONDS = 0.002
LONGEST_WAIT_SECONDS = 0.05


class DocumentLeases:
    """The leases of one service's replicas, in the service's own database."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        holder: str = "",
        lifetime: timedelta = timedelta(seconds=15),
        patience: timedelta | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.collection = collection
        # A named replica's leases outlive its process only until it starts again.
        self.holder = holder or f"process-{secrets.token_hex(6)}"
        self._lifetime = lifetime
        # By default long enough to see a dead holder's lease expire and take it over.
        self._patience = (patience or lifetime + timedelta(seconds=5)).total_seconds()
        self._clock = clock

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        """Hold the lease on ``key`` while the body runs; give it back afterwards."""
        token = await self.take(key)
        try:
            yield
        finally:
            await self.give_back(key, token)

    async def take(self, key: str) -> str:
        """Insert the lease on ``key``; wait while another replica holds it.

        ConcurrentChangeError when it is still held after the patience (a
        lease that is not given back expires well before): the message is
        redelivered, the request answered 409.
        """
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._patience
        # Jittered, so that waiting replicas do not ask in step.
        backoff = Backoff(initial=FIRST_WAIT_SECONDS, cap=LONGEST_WAIT_SECONDS)
        waited = False
        while True:
            lease = {
                "_id": key,
                "token": token,
                "holder": self.holder,
                "expires_at": self._clock() + self._lifetime,
            }
            try:
                await self.collection.insert_one(lease)
            except DuplicateKeyError:
                pass
            else:
                return token
            if await self._expired_one_deleted(key):
                continue
            if time.monotonic() >= deadline:
                raise ConcurrentChangeError(f"the lease on {key} stayed with another replica")
            if not waited:
                LEASE_WAITS.inc()
                waited = True
            await asyncio.sleep(backoff.next_delay())

    async def _expired_one_deleted(self, key: str) -> bool:
        """Delete the lease on ``key`` if it has expired (or is gone); True if it may be taken."""
        current = await self.collection.find_one({"_id": key})
        if current is None:
            return True
        if current["expires_at"] > self._clock():
            return False
        await self.collection.delete_one({"_id": key, "token": current["token"]})
        LEASES_TAKEN_OVER.inc()
        log.warning("lease.expired_taken_over", lease=key, holder=current["holder"])
        return True

    async def give_back(self, key: str, token: str) -> None:
        """Delete the lease; if the database cannot be reached, it expires instead."""
        try:
            await self.collection.delete_one({"_id": key, "token": token})
        except PyMongoError as error:
            log.warning("lease.not_given_back", lease=key, error=type(error).__name__)

    async def give_back_previous(self) -> int:
        """At start: delete what this named replica's previous run still held; how many."""
        result = await self.collection.delete_many({"holder": self.holder})
        return int(result.deleted_count)

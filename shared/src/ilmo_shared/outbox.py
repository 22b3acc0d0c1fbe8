"""Transactional outbox: events stored with the state they describe, published by a relay.

A service never publishes straight after a write: a crash between the two
would lose the event. Instead the event is appended to an ``outbox`` array in
the same MongoDB document as the state change, in the same single-document
write (atomic on MongoDB and on FerretDB alike, no multi-document transaction
needed). The relay publishes pending entries with publisher confirms and only
then removes them from the document. A crash after publishing and before
removing republishes the same entry with the same envelope id, which
consumers deduplicate: at-least-once delivery, exactly-once effects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.contracts.envelope import Envelope
from ilmo_shared.contracts.events import IntegrationEvent
from ilmo_shared.logging import current_correlation_id
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.storage import DocumentLocks

OUTBOX_FIELD = "outbox"

RELAY_FAILURES = Counter(
    "ilmo_outbox_relay_failures_total", "Relay passes that stopped on an error and will retry."
)
RELAY_LAST_BATCH = Gauge(
    "ilmo_outbox_relay_last_batch_size", "Events published by the relay's last pass."
)

log = structlog.get_logger(__name__)


def outbox_entry(event: IntegrationEvent, *, source: str) -> dict[str, Any]:
    """An outbox entry for ``event``: its envelope (with its final id) and its JSON body.

    The envelope is fixed here, when the event is recorded, so that every
    republishing of the entry carries the same id and time. The correlation id
    of the work in progress is carried on.
    """
    envelope = Envelope.new(
        source=source,
        type=event.event_type,
        subject=event.subject(),
        dataschema=event.dataschema(),
        correlationid=current_correlation_id(),
    )
    return {
        "envelope": envelope.model_dump(mode="json"),
        "data": event.model_dump_json(),
    }


class OutboxRelay:
    """Publishes pending outbox entries of some collections, oldest documents first.

    It wakes when told (``notify``, right after a service stored an event) and
    otherwise polls, which is what picks up entries left behind by a crash or
    a broker outage. Several replicas may run relays over the same collection:
    they may both publish an entry, never lose one.
    """

    def __init__(
        self,
        publisher: EventPublisher,
        collections: Sequence[AsyncCollection[Mapping[str, Any]]],
        *,
        locks: DocumentLocks | None = None,
        poll_interval: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._publisher = publisher
        self._collections = list(collections)
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        # The service's own writers share these locks, so removing published
        # entries never races a write of the same document in this process.
        self._locks = locks if locks is not None else DocumentLocks()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Ask for a pass now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Finish with one last pass so that nothing stored is left waiting."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception):
            await self.publish_pending()

    async def publish_pending(self) -> int:
        """One pass over every collection; returns how many events were published."""
        published = 0
        for collection in self._collections:
            published += await self._drain(collection)
        RELAY_LAST_BATCH.set(published)
        return published

    async def _run(self) -> None:
        while True:
            try:
                published = await self.publish_pending()
            except Exception:
                RELAY_FAILURES.inc()
                log.warning("outbox_relay_pass_failed", exc_info=True)
                published = 0
            if published >= self._batch_size:
                continue  # more may be waiting; do not sleep on a backlog
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    async def _drain(self, collection: AsyncCollection[Mapping[str, Any]]) -> int:
        published = 0
        pending = collection.find(
            {f"{OUTBOX_FIELD}.0": {"$exists": True}},
            projection={OUTBOX_FIELD: 1},
            limit=self._batch_size,
        )
        async for document in pending:
            entries = list(document[OUTBOX_FIELD])
            for entry in entries:
                await self._publisher.publish(
                    Envelope.model_validate(entry["envelope"]), entry["data"].encode()
                )
            # $pullAll with the entries exactly as read: entries appended
            # meanwhile stay for the next pass. (FerretDB v1 does not apply
            # $pull with a query condition; exact-document removal works on
            # both FerretDB and MongoDB.)
            async with self._locks.hold(collection.name, document["_id"]):
                await collection.update_one(
                    {"_id": document["_id"]}, {"$pullAll": {OUTBOX_FIELD: entries}}
                )
            published += len(entries)
        return published

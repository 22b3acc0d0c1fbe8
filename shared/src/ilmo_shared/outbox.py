"""Transactional outbox: events stored with the state they describe, published by a relay.

A service never publishes straight after a write: a crash between the two
would lose the event. Instead the event is appended to an ``outbox`` array in
the same MongoDB document as the state change, in the same single-document
write (atomic on MongoDB and on FerretDB alike, no multi-document transaction
needed). The relay publishes pending entries with publisher confirms and only
then removes them from the document. A crash after publishing and before
removing republishes the same entry with the same envelope id, which
consumers deduplicate: at-least-once delivery, exactly-once effects.

A store gets an ``Outbox`` per collection from the relay
(``relay.outbox(collection, source=...)``): it makes the entries the store
writes, and once the write is done the store tells it which document now
holds entries and hands it the entries it wrote (``Outbox.written``,
``Outbox.inserted``), which wakes the relay: it publishes them without
reading the document back. Callers of a store never deal with the relay.

A fact usually has two forms, written together in that one write
(``Outbox.entries``): the internal event, for Ilmo's services on
``ilmo.internal``, and its integration form, for outside systems on
``ilmo.events``. An entry names its exchange (``exchange``); an entry
without one is internal, so entries written before there were two exchanges
still go where their readers are. The integration entry's envelope id is
derived from the internal one, so every republishing of either keeps its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from faststream.rabbit import RabbitExchange
from prometheus_client import Counter, Gauge
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts.envelope import Envelope
from ilmo_event_contracts.events import InternalEvent
from ilmo_event_contracts.integration import IntegrationEvent
from ilmo_shared.logging import current_correlation_id
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import EVENT_EXCHANGES, INTEGRATION_EXCHANGE, INTERNAL_EXCHANGE
from ilmo_shared.outbox_backlog import OutboxBacklog
from ilmo_shared.storage import OUTBOX_FIELD, DocumentLocks

__all__ = [
    "DEFAULT_FOLLOW_UP",
    "DEFAULT_SWEEP_INTERVAL",
    "EXCHANGE_FIELD",
    "OUTBOX_FIELD",
    "Outbox",
    "OutboxRelay",
    "integration_envelope_id",
    "outbox_entries",
    "outbox_entry",
]

# The entry's exchange; absent means ``ilmo.internal``.
EXCHANGE_FIELD = "exchange"
# Integration envelope ids are uuid5 of the internal envelope id in this namespace.
_INTEGRATION_IDS = uuid.UUID("5d1c7f7e-8a4b-4f8e-b5a2-2f0c9e6d3a41")

# How often the relay sweeps whole collections when nothing failed: the bound
# on the delay of entries no running process named (a crashed replica's).
DEFAULT_SWEEP_INTERVAL = 300.0
# How long after its start the relay sweeps once more: the bound on the delay
# of entries a killed predecessor sent and the database applied late.
DEFAULT_FOLLOW_UP = 30.0

RELAY_FAILURES = Counter(
    "ilmo_outbox_relay_failures_total", "Relay passes that stopped on an error and will retry."
)
RELAY_LAST_BATCH = Gauge(
    "ilmo_outbox_relay_last_batch_size", "Events published by the relay's last pass."
)

log = structlog.get_logger(__name__)


def outbox_entry(
    event: InternalEvent, *, source: str, envelope_id: str | None = None
) -> dict[str, Any]:
    """An outbox entry for the internal ``event``: its envelope (with its final id) and its body.

    The envelope is fixed here, when the event is recorded, so that every
    republishing of the entry carries the same id and time. An ``envelope_id``
    derived from what the event is about makes two processes that record the
    same fact publish it under one id, which consumers deduplicate. The
    correlation id of the work in progress is carried on.
    """
    envelope = Envelope.new(
        source=source,
        type=event.event_type,
        subject=event.subject(),
        dataschema=event.dataschema(),
        correlationid=current_correlation_id(),
        id=envelope_id,
    )
    return {
        "envelope": envelope.model_dump(mode="json"),
        "data": event.model_dump_json(),
    }


def integration_envelope_id(internal_envelope_id: str) -> str:
    """The envelope id of the integration form of the event whose envelope id is given."""
    return str(uuid.uuid5(_INTEGRATION_IDS, internal_envelope_id))


def outbox_entries(
    event: InternalEvent,
    integration: IntegrationEvent | None,
    *,
    source: str,
    envelope_id: str | None = None,
) -> list[dict[str, Any]]:
    """The entries recording one fact: the internal ``event``, then its ``integration`` form.

    The integration entry goes to ``ilmo.events``; its envelope has the
    internal one's source, time and correlation id, and an id derived from
    the internal id. Without an integration form (a draft event) only the
    internal entry is made.
    """
    internal = outbox_entry(event, source=source, envelope_id=envelope_id)
    if integration is None:
        return [internal]
    envelope = Envelope.model_validate(internal["envelope"]).model_copy(
        update={
            "id": integration_envelope_id(internal["envelope"]["id"]),
            "type": integration.event_type,
            "subject": integration.subject(),
            "dataschema": integration.dataschema(),
        }
    )
    return [
        internal,
        {
            "envelope": envelope.model_dump(mode="json"),
            "data": integration.model_dump_json(),
            EXCHANGE_FIELD: INTEGRATION_EXCHANGE.name,
        },
    ]


class Outbox:
    """One collection's outbox: the entries its store writes, and the wake-up once written."""

    def __init__(self, collection: str, source: str, relay: OutboxRelay) -> None:
        self.collection = collection
        self.source = source
        self._relay = relay

    def entries(
        self,
        event: InternalEvent,
        integration: IntegrationEvent | None,
        *,
        envelope_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The entries of one fact in both forms, to be written with the state it describes."""
        return outbox_entries(event, integration, source=self.source, envelope_id=envelope_id)

    def written(
        self, document_id: object = None, entries: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """The document ``document_id`` now holds entries: publish them soon.

        ``entries`` are the ones this write added, exactly as written: the
        relay publishes them as handed, without reading the document back,
        and removes exactly them. Without them the relay reads the document
        by ``_id``; without an id it sweeps the collection. Either finds
        them too.
        """
        if document_id is None:
            self._relay.wake()
        else:
            self._relay.wake(self.collection, document_id, entries)

    def inserted(self, document: Mapping[str, Any]) -> None:
        """``document`` was just inserted as it is: publish its outbox as written (``written``)."""
        self.written(document["_id"], document[OUTBOX_FIELD])


class OutboxRelay:
    """Publishes pending outbox entries of some collections.

    A service that has just stored an event names the document and hands
    the entries it wrote (``wake(collection, document_id, entries)``): the
    next pass publishes those as handed and removes exactly them, with no
    read at all. A document named without its entries is read by ``_id``.
    Sweeps over whole collections find everything else, and on FerretDB v1
    every sweep reads every document of a collection, so they run only when
    something may have been missed:

    - at start: entries a previous process of the service wrote and never
      saw confirmed (it crashed, or the broker was away when it stopped);
    - once more ``follow_up`` seconds after start: a write that a killed
      process had sent may be applied by the database after the start
      sweep read the collection (it waited for a lock, or in a queue), and
      nobody names it. The database finishes a command whose client died;
      ``follow_up`` bounds how late that may be;
    - after a failed pass: entries whose publishing or removal failed, and
      whatever was named and not done;
    - after a bare ``wake()``: a writer that cannot say which document;
    - every ``sweep_interval`` seconds (minutes by default): what no process
      named, i.e. a crashed replica's entries, or a write that failed
      ambiguously (it raised, but was stored). This interval is the bound
      on their delay.

    Named wakes cover everything a running process writes, so a sweep is not
    needed per write; a sweep per write once made the relay the bottleneck.
    Several replicas may run relays over the same collection: they may both
    publish an entry, never lose one.
    """

    def __init__(
        self,
        publisher: EventPublisher,
        collections: Sequence[AsyncCollection[Mapping[str, Any]]] = (),
        *,
        locks: DocumentLocks | None = None,
        poll_interval: float = 1.0,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        follow_up: float = DEFAULT_FOLLOW_UP,
        batch_size: int = 200,
    ) -> None:
        self._publisher = publisher
        self._collections = list(collections)
        self._poll_interval = poll_interval
        self._sweep_interval = sweep_interval
        self._batch_size = batch_size
        # The service's own writers share these locks, so removing published
        # entries never races a write of the same document in this process.
        self._locks = locks if locks is not None else DocumentLocks()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Documents named by wake(), in the order they were written (a dict
        # keeps insertion order), each with the entries handed for it, or
        # None: read the document back.
        self._named: dict[str, dict[Any, list[Mapping[str, Any]] | None]] = {
            c.name: {} for c in self._collections
        }
        # What each outbox holds as far as the passes have read it (the backlog gauges).
        self._backlogs = {c.name: OutboxBacklog(c.name) for c in self._collections}
        self._sweep_due = True
        self._last_sweep = 0.0
        self._follow_up = follow_up
        # When the sweep after start is due; None once a sweep started after it.
        self._follow_up_at: float | None = None

    def outbox(self, collection: AsyncCollection[Mapping[str, Any]], *, source: str) -> Outbox:
        """Relay ``collection`` too, and give its store the ``Outbox`` it writes through.

        ``source`` is the CloudEvents source of the events the store records.
        """
        if collection.name not in self._named:
            self._collections.append(collection)
            self._named[collection.name] = {}
            self._backlogs[collection.name] = OutboxBacklog(collection.name)
        return Outbox(collection.name, source, self)

    @property
    def locks(self) -> DocumentLocks:
        """The locks the relay takes per document; the stores of its process share them."""
        return self._locks

    def wake(
        self,
        collection: str | None = None,
        document_id: Any = None,
        entries: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Ask for a pass now; naming the document spares a sweep, handing its entries a read.

        A document named twice before a pass has both writes' entries
        published in the order written; if either write handed none, it is
        read back, which finds them all.
        """
        if collection is None or collection not in self._named:
            self._sweep_due = True
        else:
            named = self._named[collection]
            earlier = named.get(document_id, [])
            if entries is None or earlier is None:
                named[document_id] = None
            else:
                named[document_id] = [*earlier, *entries]
        self._wake.set()

    def start(self) -> None:
        self._follow_up_at = time.monotonic() + self._follow_up
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
        """One sweep over every collection; returns how many events were published."""
        self._sweep_due = False
        self._last_sweep = time.monotonic()
        if self._follow_up_at is not None and self._last_sweep >= self._follow_up_at:
            self._follow_up_at = None
        for named in self._named.values():
            named.clear()  # the sweep finds them too
        published = 0
        for collection in self._collections:
            published += await self._sweep(collection)
        RELAY_LAST_BATCH.set(published)
        return published

    async def publish_named(self) -> int:
        """Publish what was handed, and what the documents named without entries hold."""
        published = 0
        for collection in self._collections:
            named = self._named[collection.name]
            while named:
                batch = list(named.items())[: self._batch_size]
                for document_id, _ in batch:
                    del named[document_id]
                documents = await self._documents(collection, batch)
                self._backlogs[collection.name].seen(documents)
                published += await self._relay(collection, documents)
        RELAY_LAST_BATCH.set(published)
        return published

    async def _documents(
        self,
        collection: AsyncCollection[Mapping[str, Any]],
        batch: Sequence[tuple[Any, list[Mapping[str, Any]] | None]],
    ) -> list[Mapping[str, Any]]:
        """The named documents in the order named: as handed, or read by ``_id`` if still there."""
        unread = [document_id for document_id, entries in batch if entries is None]
        read = await asyncio.gather(
            *(collection.find_one({"_id": i}, projection={OUTBOX_FIELD: 1}) for i in unread)
        )
        by_name = dict(zip(unread, read, strict=True))
        documents: list[Mapping[str, Any]] = []
        for document_id, entries in batch:
            document = (
                by_name[document_id]
                if entries is None
                else {"_id": document_id, OUTBOX_FIELD: entries}
            )
            if document:
                documents.append(document)
        return documents

    async def _run(self) -> None:
        while True:
            try:
                if self._sweep_is_due():
                    published = await self.publish_pending()
                else:
                    published = await self.publish_named()
            except Exception:
                RELAY_FAILURES.inc()
                log.warning("outbox_relay_pass_failed", exc_info=True)
                self._sweep_due = True  # whatever was named and not done is found again
                published = 0
            if published >= self._batch_size:
                continue  # more may be waiting; do not sleep on a backlog
            if any(self._named.values()):
                continue  # named while this pass ran
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    def _sweep_is_due(self) -> bool:
        now = time.monotonic()
        return (
            self._sweep_due
            or now - self._last_sweep >= self._sweep_interval
            or (self._follow_up_at is not None and now >= self._follow_up_at)
        )

    async def _sweep(self, collection: AsyncCollection[Mapping[str, Any]]) -> int:
        pending = collection.find(
            {f"{OUTBOX_FIELD}.0": {"$exists": True}},
            projection={OUTBOX_FIELD: 1},
            limit=self._batch_size,
        )
        documents = [document async for document in pending]
        if len(documents) >= self._batch_size:
            self._sweep_due = True  # a full batch: there may be more behind it
        self._leave_to_the_sweep(collection.name, documents)
        self._backlogs[collection.name].seen(documents, whole=True)
        return await self._relay(collection, documents)

    def _leave_to_the_sweep(self, collection: str, documents: Sequence[Mapping[str, Any]]) -> None:
        """Forget handed entries that a sweep has just read: they are the sweep's to publish.

        A write that lands while a sweep reads (at start, or after a
        failure) is both found and handed; without this the named pass
        after the sweep would publish its entries a second time. (Were
        the sweep's pass to fail, the next sweep finds them again.) A name
        without entries is kept: its read comes after the sweep's removal.
        """
        named = self._named[collection]
        for document in documents:
            handed = named.get(document["_id"])
            if not handed:
                continue
            found = document.get(OUTBOX_FIELD) or []
            rest = [entry for entry in handed if entry not in found]
            if rest:
                named[document["_id"]] = rest
            else:
                del named[document["_id"]]

    async def _relay(
        self,
        collection: AsyncCollection[Mapping[str, Any]],
        documents: Sequence[Mapping[str, Any]],
    ) -> int:
        """Publish the documents' entries with confirms in flight, then remove them.

        Publishes are started in document and entry order on one channel, so
        the broker receives them in that order; their confirms are awaited
        together rather than one by one. Only a document whose every entry
        was confirmed has its entries removed; the others are published
        again by a later pass, under the same ids.
        """
        pending = [document for document in documents if document.get(OUTBOX_FIELD)]
        confirmations = [
            asyncio.gather(
                *(
                    self._publisher.publish(
                        Envelope.model_validate(entry["envelope"]),
                        entry["data"].encode(),
                        exchange=_exchange_of(entry),
                    )
                    for entry in document[OUTBOX_FIELD]
                )
            )
            for document in pending
        ]
        results = await asyncio.gather(*confirmations, return_exceptions=True)
        confirmed = [
            d for d, r in zip(pending, results, strict=True) if not isinstance(r, BaseException)
        ]
        await asyncio.gather(*(self._remove(collection, document) for document in confirmed))
        self._backlogs[collection.name].published(confirmed)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure
        return sum(len(document[OUTBOX_FIELD]) for document in confirmed)

    async def _remove(
        self, collection: AsyncCollection[Mapping[str, Any]], document: Mapping[str, Any]
    ) -> None:
        # $pullAll with the entries exactly as read: entries appended
        # meanwhile stay for the next pass. (FerretDB v1 does not apply
        # $pull with a query condition; exact-document removal works on
        # both FerretDB and MongoDB.)
        async with self._locks.hold(collection.name, document["_id"]):
            await collection.update_one(
                {"_id": document["_id"]}, {"$pullAll": {OUTBOX_FIELD: list(document[OUTBOX_FIELD])}}
            )


def _exchange_of(entry: Mapping[str, Any]) -> RabbitExchange:
    """Where an entry goes: the exchange it names, ``ilmo.internal`` if it names none."""
    name = entry.get(EXCHANGE_FIELD)
    if name is None:
        return INTERNAL_EXCHANGE
    return EVENT_EXCHANGES[name]

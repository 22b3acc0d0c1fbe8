"""Seat inventories in capacity's database: a small head per decision, records by ``_id``.

What a decision reads and writes does not grow with the event:

- the **head** of an event (``seat_documents.Head``): its terms (capacity,
  revision, start, promotion cutoff, cancellation), its counts (seats taken,
  waiting, pending) and the first and next ticket numbers of its waiting
  line and of its pending requests. Every decision inserts a new head as
  ``<event>@<version>``, with the outbox entries announcing the decision and
  the records it changed (``changes``) in the same document. ``(event_id,
  version)`` is unique, so that insert is an atomic compare-and-set: of two
  writers that decided from version ``v`` only one stores ``v + 1``; the
  other gets a duplicate-key error, reads again and decides again. The
  domain is idempotent on the registration id, so deciding again never
  takes a second seat;
- **placements** (``<event>/<registration>/<number>``): where one
  registration stands; every change is the next number, inserted, never
  updated;
- **tickets** (``<event>/line:<n>``, ``<event>/pending:<n>``): who took the
  n-th place of the waiting line. Promotion reads the first ticket by
  ``_id`` and its holder's placement; a ticket whose holder has moved on is
  stale and skipped (each one once: the head's first ticket number passes
  it).

A decision reads the head (kept in memory while fresh), the placement of the
registration it is about (one ``_id`` lookup per stored number, usually one
or two) and, to promote, a few tickets; ``placements.Ledger`` says which.
The records read or written are kept in memory with the head, for the next
decisions from it. It writes the head and then, in one ``insert_many``, its
changed records.

Crash windows. The head is the decision: once it is stored the decision and
its events are durable, and its ``changes`` say exactly which records it
made. Writing them afterwards can be interrupted (a crash, a lost
connection). So before anyone decides from a head read from the database, it
stores that head's changes again: duplicate ids mean they were there, and
the records are the same whoever writes them, since each is fully determined
by the committed heads before it. Only the latest head's changes can be
missing: its successor was decided from it, after they were stored. A
process that wrote a head keeps it in memory only once its changes are
stored; if storing them fails it forgets the head and the next decision
reads and repairs. A late writer (a process paused between the two inserts
while another went on) can only meet duplicate ids: records are inserted,
never updated, so nothing it writes can undo a later decision. A writer
that loses the head insert has written nothing at all.

Why inserts and not ``update_one({"_id": id, "version": v}, ...)``: on
FerretDB v1 an update is a read followed by a whole-document write matched by
``_id`` only, so that conditional update is not atomic (measured: ten
concurrent updates conditioned on the same version all matched in 49 of 50
trials), and the outbox relay's ``$pullAll`` on the same document can
overwrite a decision written between its read and its write (a decision and
its events lost in 65 of 200 trials). An insert against a unique index is
atomic on FerretDB and MongoDB alike. Nothing but the relay ever writes to a
head after it is inserted, and it cannot undo a decision.

Keeping the heads collection small (the relay sweeps it, and finding the
latest head reads it): superseded heads with nothing left to publish are
deleted once older than ``retention``. Until then their ids keep the
compare-and-set sound: a writer only inserts from a head it confirmed
current less than ``freshness`` ago (much shorter than ``retention``), so the
version it writes cannot have been taken and already deleted meanwhile.

Reads: the writer keeps the head it last wrote or read in memory and, while
that is fresh, decides from it directly (a stale one loses the insert and
reads again); otherwise it reads the latest head (a query on ``event_id``
over the heads kept). Decisions are serialized inside one process by a lock
per event (the subscriber handles several messages at once); the single
active consumer serializes them across replicas, and the unique version is
the last line of defence.

A head that announces decisions wakes the outbox relay (``Outbox.written``)
as soon as it is inserted; callers of the store never deal with the relay.
Snapshots stored before heads existed hold an event's whole state; the first
read of one turns it into records (``seat_documents.legacy_records``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ilmo_capacity.domain import Decision, SeatInventory, granted_beyond_capacity
from ilmo_capacity.metrics import WRITE_CONFLICTS
from ilmo_capacity.placements import Ledger, Placement, Ticket, TicketKey, Unloaded, whole
from ilmo_capacity.publication import seat_events
from ilmo_capacity.seat_documents import (
    Head,
    after,
    from_document,
    head_document,
    head_from_document,
    legacy_records,
    placement_document,
    placement_from_document,
    placement_id,
    snapshot_id,
    ticket_document,
    ticket_from_document,
    ticket_id,
    to_document,
)
from ilmo_event_contracts.integration import integration_form
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import LOST, Conflict, Document, DocumentLocks, until_won

__all__ = [
    "COLLECTION",
    "RECORDS",
    "CorruptInventoryError",
    "Operation",
    "Outcome",
    "SeatInventoryStore",
    "StoredInventory",
    "from_document",
    "snapshot_id",
    "to_document",
]

COLLECTION = "seat_inventories"  # the heads, with their outbox entries
RECORDS = "seat_placements"  # placements and tickets
DECISIONS = "seat_decisions"  # the lock namespace of decisions, one lock per event
CHANGES_FIELD = "changes"
DUPLICATE_KEY = 11000
# Rounds of reading records for one decision: usually one or two, one more per
# ``placements.READ_AHEAD`` tickets of the line walked; a bound against an
# operation that asks for something new every time it runs.
MAX_READS = 10_000

Operation = Callable[[SeatInventory], Sequence[Decision]]
Monotonic = Callable[[], float]

log = structlog.get_logger(__name__)


class CorruptInventoryError(RuntimeError):
    """The latest head of an event has no counts; deciding from it could oversell."""


@dataclass(frozen=True)
class StoredInventory:
    """An inventory as last stored, with the version it was stored at (0: never stored).

    From ``decide`` and ``latest`` the inventory's lists are answered from the
    records its decision read: its counts and terms are whole, but holders
    cannot be listed. ``load`` gives the whole lists.
    """

    inventory: SeatInventory
    version: int
    applied: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What ``decide`` did: the decisions it stored (none if nothing changed) and the result."""

    decisions: tuple[Decision, ...]
    stored: StoredInventory
    written: bool
    duplicate: bool = False
    conflicts: int = 0
    # Seats this write granted beyond the capacity in force (domain rule; must be 0).
    oversold: int = 0


@dataclass
class _Read:
    """Records read or written at the known head (None: looked for, not stored).

    They are the latest as of that head, so they serve every decision taken
    from it: a later writer elsewhere makes this process lose its next insert
    and forget them with the head.
    """

    placements: dict[str, Placement] = field(default_factory=dict)
    tickets: dict[TicketKey, Ticket | None] = field(default_factory=dict)

    def add(self, placements: list[Placement], tickets: list[Ticket], limit: int) -> None:
        if len(self.placements) + len(self.tickets) > limit:
            self.placements.clear()  # a bound on memory; records are read again when needed
            self.tickets.clear()
        self.placements.update((p.registration_id, p) for p in placements)
        self.tickets.update(((t.queue, t.number), t) for t in tickets)


@dataclass(frozen=True)
class _Known:
    """A stored head, the (monotonic) time it was last known to be the latest, its records."""

    head: Head
    confirmed_at: float
    read: _Read = field(default_factory=_Read)


def _counts_only(head: Head) -> StoredInventory:
    inventory = Ledger(head.counts, {}, {}).inventory(head.terms())
    return StoredInventory(inventory, head.version, head.applied)


class SeatInventoryStore:
    """Seat inventories: one small head per (event, version), outbox inside, records by ``_id``."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        outbox: Outbox,
        locks: DocumentLocks,
        clock: Clock = utc_now,
        monotonic: Monotonic = time.monotonic,
        max_attempts: int = 100,
        remembered_messages: int = 64,
        freshness: float = 5.0,
        retention: timedelta = timedelta(seconds=60),
        prune_every: int = 64,
        cached_events: int = 1000,
        cached_records: int = 4096,
    ) -> None:
        if retention.total_seconds() < 4 * freshness:
            raise ValueError("retention must be well above freshness, or versions could fork")
        self.inventories: AsyncCollection[Document] = database[COLLECTION]
        self.records: AsyncCollection[Document] = database[RECORDS]
        self._outbox = outbox
        self._clock = clock
        self._monotonic = monotonic
        self._max_attempts = max_attempts
        self._remembered_messages = remembered_messages
        self._freshness = freshness
        self._retention = retention
        self._prune_every = prune_every
        self._cached_events = cached_events
        self._cached_records = cached_records  # per event
        self._known: OrderedDict[str, _Known] = OrderedDict()
        # Heads whose records this process knows to be stored: not stored again
        # on every read (the first read of a large snapshot from before heads
        # stores thousands of records, longer than ``freshness``).
        self._completed: OrderedDict[str, None] = OrderedDict()
        # Shared with the outbox relay of this process: one lock per event for decisions.
        self._locks = locks

    async def create_indexes(self) -> None:
        await self.inventories.create_index(
            [("event_id", ASCENDING), ("version", ASCENDING)],
            unique=True,
            name="event_version",
        )

    # ------------------------------------------------------------ reading

    async def latest(self, event_id: str) -> StoredInventory | None:
        """The latest head of ``event_id`` (counts and terms), read from the database."""
        known = await self._read_latest(event_id)
        return None if known is None else _counts_only(known.head)

    async def load(self, event_id: str) -> StoredInventory | None:
        """The whole latest state of ``event_id``, with every list; None if unknown.

        Reads every record of the event (FerretDB v1 reads the whole records
        collection for this filter): for tests and inspection, never on the
        way of a decision.
        """
        known = await self._read_latest(event_id)
        if known is None:
            return None
        head = known.head
        latest: dict[str, Placement] = {}
        async for document in self.records.find({"event_id": event_id, "place": {"$exists": True}}):
            placement = placement_from_document(document)
            current = latest.get(placement.registration_id)
            if current is None or current.number < placement.number:
                latest[placement.registration_id] = placement
        inventory = whole(head.terms(), latest.values())
        return StoredInventory(inventory, head.version, head.applied)

    def _fresh(self, event_id: str) -> _Known | None:
        known = self._known.get(event_id)
        if known is None or self._monotonic() - known.confirmed_at >= self._freshness:
            return None
        self._known.move_to_end(event_id)
        return known

    def _remember(self, event_id: str, known: _Known) -> None:
        current = self._known.get(event_id)
        if current is not None and current.head.version > known.head.version:
            return  # a read that started before this process wrote a newer version
        self._known[event_id] = known
        self._known.move_to_end(event_id)
        while len(self._known) > self._cached_events:
            self._known.popitem(last=False)

    async def _read_latest(self, event_id: str) -> _Known | None:
        """The latest head, its records stored (again) so that deciding from it is sound."""
        asked_at = self._monotonic()
        document = await self.inventories.find_one(
            {"event_id": event_id},
            sort=[("version", DESCENDING)],
            projection={OUTBOX_FIELD: 0},
        )
        if document is None:
            return None
        if "holders" in document:  # stored before heads: the whole state in one snapshot
            head, changes = legacy_records(document)
        elif "reserved" in document:
            head, changes = head_from_document(document), list(document.get(CHANGES_FIELD, []))
        else:
            raise CorruptInventoryError(f"latest snapshot {document['_id']} has no seat state")
        if document["_id"] not in self._completed:
            await self._store_records(changes)
            self._complete(str(document["_id"]))
        known = _Known(head, asked_at)
        self._remember(event_id, known)
        return known

    async def latest_states(self) -> list[SeatInventory]:
        """The latest counts and terms of every event whose capacity is known.

        Reads the heads still kept (the latest of each event and those of the
        last ``retention``; FerretDB v1 reads the whole heads collection for
        this filter), without their outboxes and changes: for the seat
        gauges once at start, never on the way of a decision.
        """
        latest: dict[str, Mapping[str, Any]] = {}
        async for document in self.inventories.find(
            {}, projection={OUTBOX_FIELD: 0, CHANGES_FIELD: 0, "applied": 0}
        ):
            current = latest.get(str(document["event_id"]))
            if current is None or int(current["version"]) < int(document["version"]):
                latest[str(document["event_id"])] = document
        states = [self._state_of(document) for document in latest.values()]
        return [state for state in states if state is not None and state.capacity is not None]

    @staticmethod
    def _state_of(document: Mapping[str, Any]) -> SeatInventory | None:
        if "holders" in document:
            return from_document(document)
        if "reserved" not in document:
            return None  # shrunk before heads existed, and never the latest
        return _counts_only(head_from_document(document)).inventory

    # ------------------------------------------------------------ deciding

    async def decide(
        self, event_id: str, operation: Operation, *, message_id: str | None = None
    ) -> Outcome:
        """Apply ``operation`` to the latest state and store the result with its events.

        Nothing is written when the operation changes nothing (a repeat), or
        when ``message_id`` (the incoming envelope id) was already applied.
        On a write conflict the state is read again and the operation applied
        again, up to ``max_attempts`` times; then ConcurrentChangeError, and
        the message is tried again later through the queue. ``operation`` is
        also run again after each read of the records it asked for, so it
        must decide the same from the same state (every use case does).
        """
        # The head's unique insert decides between replicas; the lock spares
        # this process's own decisions the lost inserts.
        async with self._locks.hold(DECISIONS, event_id, between_replicas=False):
            outcome = await self._decide_serialized(event_id, operation, message_id)
        if outcome.written:
            await self._prune(event_id, outcome.stored.version)
        return outcome

    async def _decide_serialized(
        self, event_id: str, operation: Operation, message_id: str | None
    ) -> Outcome:
        async def lost(attempt: int) -> None:
            self._known.pop(event_id, None)
            WRITE_CONFLICTS.inc()
            log.debug("seat_inventory_write_conflict", event_id=event_id, attempt=attempt)
            # Let the winner's followers through before reading again.
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))  # noqa: S311

        return await until_won(
            partial(self._attempt, event_id, operation, message_id),
            what=f"event {event_id}",
            attempts=self._max_attempts,
            on_conflict=lost,
        )

    async def _attempt(
        self, event_id: str, operation: Operation, message_id: str | None, attempt: int
    ) -> Outcome | Literal[Conflict.LOST]:
        """One read-decide-insert; LOST when another writer got there first."""
        started = self._monotonic()
        known = self._fresh(event_id) or await self._read_latest(event_id)
        if known is None:
            known = _Known(Head(event_id), started)
        head = known.head
        if message_id is not None and message_id in head.applied:
            return Outcome((), _counts_only(head), written=False, duplicate=True, conflicts=attempt)

        inventory, decisions, ledger = await self._run(head, operation, known.read)
        applied = head.applied
        if message_id is not None:
            applied = (*applied, message_id)[-self._remembered_messages :]
        stored = after(inventory, ledger.counts, head.version + 1, applied)
        placements, tickets = ledger.new_placements(stored.version), ledger.new_tickets()
        if not decisions and not placements and not tickets and stored.state() == head.state():
            return Outcome((), _counts_only(head), written=False, conflicts=attempt)

        if self._monotonic() - known.confirmed_at >= self._freshness:
            return LOST  # decided from a state too old to insert from safely; read again
        now = self._clock()
        changes = [placement_document(event_id, p) for p in placements]
        changes += [ticket_document(event_id, t) for t in tickets]
        entries = [
            entry
            for event in seat_events(event_id, decisions, now)
            for entry in self._outbox.entries(event, integration_form(event))
        ]
        document = {
            "_id": snapshot_id(event_id, stored.version),
            **head_document(stored),
            "decided_at": now,
            CHANGES_FIELD: changes,
            OUTBOX_FIELD: entries,
        }
        sent_at = self._monotonic()
        try:
            await self.inventories.insert_one(document)
        except DuplicateKeyError:
            return LOST
        except Exception:
            # The write may or may not have happened: know nothing, read next time.
            self._known.pop(event_id, None)
            raise
        if entries:
            self._outbox.written(document["_id"], entries)
        known.read.add(placements, tickets, self._cached_records)
        await self._store_changes_of(event_id, _Known(stored, sent_at, known.read), changes)
        return Outcome(
            decisions,
            StoredInventory(inventory, stored.version, applied),
            written=True,
            conflicts=attempt,
            oversold=granted_beyond_capacity(ledger.seated(), inventory),
        )

    async def _store_changes_of(
        self, event_id: str, known: _Known, changes: list[dict[str, Any]]
    ) -> None:
        """The records of a stored decision; the head is remembered only once they are stored.

        A failure leaves the decision stored (its head is durable) and this
        process knowing nothing of the event: the next decision reads the
        head and stores its records first.
        """
        try:
            await self._store_records(changes)
        except Exception:
            self._known.pop(event_id, None)
            log.warning("seat_records_not_stored_yet", event_id=event_id, exc_info=True)
            return
        self._complete(snapshot_id(event_id, known.head.version))
        self._remember(event_id, known)

    def _complete(self, head_id: str) -> None:
        """The head's records are stored: records are never deleted, so they stay stored."""
        self._completed[head_id] = None
        while len(self._completed) > self._cached_events:
            self._completed.popitem(last=False)

    async def _store_records(self, records: list[dict[str, Any]]) -> None:
        """Insert ``records``; those already stored (duplicate ids) are the same and stay."""
        if not records:
            return
        try:
            await self.records.insert_many(records, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors) or not errors:
                raise

    async def _run(
        self, head: Head, operation: Operation, read: _Read
    ) -> tuple[SeatInventory, tuple[Decision, ...], Ledger]:
        """Run ``operation`` on the head, reading the records it asks for until it has them all."""
        for _ in range(MAX_READS):
            ledger = Ledger(head.counts, read.placements, read.tickets)
            inventory = ledger.inventory(head.terms())
            try:
                decisions = tuple(operation(inventory))
            except Unloaded as missing:
                await self._read_records(head.event_id, missing, read)
                continue
            return inventory, decisions, ledger
        raise RuntimeError(f"a decision on {head.event_id} kept asking for records to read")

    async def _read_records(self, event_id: str, missing: Unloaded, read: _Read) -> None:
        tickets = await asyncio.gather(*(self._ticket(event_id, key) for key in missing.tickets))
        for key, ticket in zip(missing.tickets, tickets, strict=True):
            read.tickets[key] = ticket
        # A ticket's holder is what the ledger asks next: read it at once.
        owners = [t.registration_id for t in tickets if t is not None]
        asked = dict.fromkeys([*missing.registrations, *owners])
        wanted = [r for r in asked if r not in read.placements]
        placements = await asyncio.gather(*(self._placement(event_id, r) for r in wanted))
        read.placements.update((p.registration_id, p) for p in placements)

    async def _ticket(self, event_id: str, key: TicketKey) -> Ticket | None:
        queue, number = key
        document = await self.records.find_one({"_id": ticket_id(event_id, queue, number)})
        return None if document is None else ticket_from_document(document)

    async def _placement(self, event_id: str, registration_id: str) -> Placement:
        """The latest placement: numbers 1, 2, … until one is not stored."""
        latest = Placement(registration_id)
        while True:
            number = latest.number + 1
            document = await self.records.find_one(
                {"_id": placement_id(event_id, registration_id, number)}
            )
            if document is None:
                return latest
            latest = placement_from_document(document)

    # ------------------------------------------------------------ tidying

    async def _prune(self, event_id: str, version: int) -> None:
        """Now and then delete superseded heads that are old and published (housekeeping)."""
        if version % self._prune_every:
            return
        try:
            await self.inventories.delete_many(
                {
                    "event_id": event_id,
                    "version": {"$lt": version},
                    "decided_at": {"$lt": self._clock() - self._retention},
                    f"{OUTBOX_FIELD}.0": {"$exists": False},
                }
            )
        except Exception:
            log.warning("seat_inventory_tidying_failed", event_id=event_id, exc_info=True)

"""Seat inventories in the capacity service's own database, written as versioned snapshots.

Every decision about an event's seats is stored as ONE new document: the
event's whole seat state after the decision, its ``version`` (one more than
the state it was decided from) and, in the same document, the outbox entries
announcing the decision. The document's ``_id`` is made of the event id and
the version, and ``(event_id, version)`` has a unique index, so writing
version ``v + 1`` is an atomic compare-and-set: of two writers that decided
from version ``v`` only one can insert it; the other gets a duplicate-key
error, reads the new state and decides again. The domain is idempotent on the
registration id, so deciding again never takes a second seat.

Why a new document per version rather than ``update_one({"_id": id,
"version": v}, ...)`` on one document per event: on FerretDB v1 an update is
a read followed by a whole-document write matched by ``_id`` only, so that
conditional update is not atomic (measured here: ten concurrent updates
conditioned on the same version all matched in 49 of 50 trials), and the
outbox relay's ``$pullAll`` on the same document can overwrite a decision
written between its read and its write (a decision and its events lost in 65
of 200 trials). An insert against a unique index is atomic on FerretDB and
MongoDB alike, and nothing but the relay and the shrinking below ever writes
to a snapshot after it is inserted; neither can undo a decision.

Keeping the collection small (the relay scans it on every pass, and FerretDB
v1 filters anything but ``_id`` by reading every document):

- once version ``v + 1`` is stored, snapshot ``v`` is superseded; a moment
  later (``shrink_after``, when the relay has normally published it) it is
  shrunk to its id, version, time and outbox (the state fields are removed);
- superseded snapshots with nothing left to publish are deleted once older
  than ``retention``. Until then their ids keep the compare-and-set sound: a
  writer only inserts from a state it confirmed current less than
  ``freshness`` ago (much shorter than ``retention``), so the version it
  writes cannot have been taken and already deleted meanwhile.

Reads: the writer keeps the state it last wrote or read in memory and, while
that is fresh, inserts from it directly (a stale one loses the insert and
reads again); otherwise it reads the latest snapshot. Decisions are
serialized inside one process by a lock per event (the subscriber handles
several messages at once); the single active consumer serializes them across
replicas, and the unique version is the last line of defence.

A snapshot that announces decisions wakes the outbox relay (``Outbox.written``)
as soon as it is inserted; callers of the store never deal with the relay.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_capacity.domain import Decision, SeatInventory, seats_granted_beyond_capacity
from ilmo_capacity.metrics import WRITE_CONFLICTS
from ilmo_capacity.publication import seat_events
from ilmo_event_contracts.events import PROMOTION_CUTOFF_MINUTES
from ilmo_event_contracts.integration import integration_form
from ilmo_shared.clock import Clock, to_millisecond, utc_now
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import LOST, Conflict, Document, DocumentLocks, until_won

COLLECTION = "seat_inventories"
DECISIONS = "seat_decisions"  # the lock namespace of decisions, one lock per event
STATE_FIELDS = (
    "capacity",
    "revision",
    "holders",
    "waiting",
    "pending",
    "cancelled",
    "versions",
    "applied",
    "starts_at",
    "promotion_cutoff_minutes",
    "event_cancelled",
)

Operation = Callable[[SeatInventory], Sequence[Decision]]
Monotonic = Callable[[], float]

log = structlog.get_logger(__name__)


class CorruptInventoryError(RuntimeError):
    """The latest snapshot of an event has no state; deciding from it could oversell."""


@dataclass(frozen=True)
class StoredInventory:
    """An inventory as last stored, with the version it was stored at (0: never stored)."""

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


@dataclass(frozen=True)
class _Known:
    """A stored state and the (monotonic) time it was last known to be the latest."""

    stored: StoredInventory
    confirmed_at: float


def snapshot_id(event_id: str, version: int) -> str:
    """One id per (event, version); the fixed-width version keeps it unambiguous."""
    return f"{event_id}@{version:012d}"


def to_document(inventory: SeatInventory) -> dict[str, Any]:
    """The domain state as stored fields (the cancelled set sorted, for stable documents)."""
    return {
        "event_id": inventory.event_id,
        "capacity": inventory.capacity,
        "revision": inventory.revision,
        "holders": list(inventory.holders),
        "waiting": list(inventory.waiting),
        "pending": list(inventory.pending),
        "cancelled": sorted(inventory.cancelled),
        # Only registrations that switched attendance; a snapshot written before
        # switching existed has none, and every registration in it is at version 1.
        "versions": dict(sorted(inventory.versions.items())),
        # What the promotion cutoff needs; a snapshot written before it existed
        # has none (no start known: promotion open, as it was then).
        "starts_at": None if inventory.starts_at is None else to_millisecond(inventory.starts_at),
        "promotion_cutoff_minutes": inventory.promotion_cutoff_minutes,
        "event_cancelled": inventory.event_cancelled,
    }


def from_document(document: Mapping[str, Any]) -> SeatInventory:
    capacity = document.get("capacity")
    return SeatInventory(
        event_id=str(document["event_id"]),
        capacity=None if capacity is None else int(capacity),
        revision=int(document.get("revision", 0)),
        holders=[str(r) for r in document.get("holders", [])],
        waiting=[str(r) for r in document.get("waiting", [])],
        pending=[str(r) for r in document.get("pending", [])],
        cancelled={str(r) for r in document.get("cancelled", [])},
        versions={str(r): int(v) for r, v in (document.get("versions") or {}).items()},
        starts_at=document.get("starts_at"),
        promotion_cutoff_minutes=int(
            document.get("promotion_cutoff_minutes", PROMOTION_CUTOFF_MINUTES)
        ),
        event_cancelled=bool(document.get("event_cancelled", False)),
    )


class SeatInventoryStore:
    """Seat inventories, one snapshot document per (event, version), outbox inside."""

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
        shrink_after: float = 1.0,
        cached_events: int = 1000,
    ) -> None:
        if retention.total_seconds() < 4 * freshness:
            raise ValueError("retention must be well above freshness, or versions could fork")
        self.inventories: AsyncCollection[Document] = database[COLLECTION]
        self._outbox = outbox
        self._clock = clock
        self._monotonic = monotonic
        self._max_attempts = max_attempts
        self._remembered_messages = remembered_messages
        self._freshness = freshness
        self._retention = retention
        self._prune_every = prune_every
        self._shrink_after = shrink_after
        self._cached_events = cached_events
        # Superseded snapshots waiting to be shrunk: (event id, version, superseded at).
        self._superseded: deque[tuple[str, int, float]] = deque(maxlen=100_000)
        self._known: OrderedDict[str, _Known] = OrderedDict()
        # Shared with the outbox relay of this process: decisions hold one
        # lock per event, shrinking one per snapshot document.
        self._locks = locks

    async def create_indexes(self) -> None:
        await self.inventories.create_index(
            [("event_id", ASCENDING), ("version", ASCENDING)],
            unique=True,
            name="event_version",
        )

    # ------------------------------------------------------------ reading

    async def load(self, event_id: str) -> StoredInventory | None:
        """The latest stored state of ``event_id``, read from the database; None if unknown."""
        known = await self._read_latest(event_id)
        return None if known is None else known.stored

    def _fresh(self, event_id: str) -> _Known | None:
        known = self._known.get(event_id)
        if known is None or self._monotonic() - known.confirmed_at >= self._freshness:
            return None
        self._known.move_to_end(event_id)
        return known

    def _remember(self, event_id: str, known: _Known) -> None:
        current = self._known.get(event_id)
        if current is not None and current.stored.version > known.stored.version:
            return  # a read that started before this process wrote a newer version
        self._known[event_id] = known
        self._known.move_to_end(event_id)
        while len(self._known) > self._cached_events:
            self._known.popitem(last=False)

    async def _read_latest(self, event_id: str) -> _Known | None:
        asked_at = self._monotonic()
        document = await self.inventories.find_one(
            {"event_id": event_id},
            sort=[("version", DESCENDING)],
            projection={OUTBOX_FIELD: 0},
        )
        if document is None:
            return None
        if document.get("superseded") or "holders" not in document:
            raise CorruptInventoryError(f"latest snapshot {document['_id']} has no seat state")
        stored = StoredInventory(
            inventory=from_document(document),
            version=int(document["version"]),
            applied=tuple(str(i) for i in document.get("applied", [])),
        )
        known = _Known(stored, asked_at)
        self._remember(event_id, known)
        return known

    async def latest_states(self) -> list[SeatInventory]:
        """The latest stored state of every event whose capacity is known.

        Reads every snapshot that still has its state (FerretDB v1 reads the
        whole collection for this filter): for the seat gauges once at
        start, never on the way of a decision.
        """
        latest: dict[str, Mapping[str, Any]] = {}
        async for document in self.inventories.find(
            {"superseded": {"$exists": False}},
            projection={OUTBOX_FIELD: 0, "applied": 0, "cancelled": 0, "versions": 0},
        ):
            if "holders" not in document:
                continue
            current = latest.get(str(document["event_id"]))
            if current is None or int(current["version"]) < int(document["version"]):
                latest[str(document["event_id"])] = document
        states = [from_document(document) for document in latest.values()]
        return [state for state in states if state.capacity is not None]

    # ------------------------------------------------------------ deciding

    async def decide(
        self, event_id: str, operation: Operation, *, message_id: str | None = None
    ) -> Outcome:
        """Apply ``operation`` to the latest state and store the result with its events.

        Nothing is written when the operation changes nothing (a repeat), or
        when ``message_id`` (the incoming envelope id) was already applied.
        On a write conflict the state is read again and the operation applied
        again, up to ``max_attempts`` times; then ConcurrentChangeError, and
        the message is tried again later through the queue.
        """
        async with self._locks.hold(DECISIONS, event_id):
            outcome = await self._decide_serialized(event_id, operation, message_id)
        if outcome.written:
            await self._tidy(event_id, outcome.stored.version)
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
            known = _Known(StoredInventory(SeatInventory(event_id), 0), started)
        stored = known.stored
        if message_id is not None and message_id in stored.applied:
            return Outcome((), stored, written=False, duplicate=True, conflicts=attempt)

        inventory = from_document(to_document(stored.inventory))  # never mutate what is cached
        before = to_document(inventory)
        holders_before = frozenset(inventory.holders)
        decisions = tuple(operation(inventory))
        state = to_document(inventory)
        if not decisions and state == before:
            return Outcome((), stored, written=False, conflicts=attempt)

        if self._monotonic() - known.confirmed_at >= self._freshness:
            return LOST  # decided from a state too old to insert from safely; read again
        version = stored.version + 1
        applied = list(stored.applied)
        if message_id is not None:
            applied = [*applied, message_id][-self._remembered_messages :]
        now = self._clock()
        entries = [
            entry
            for event in seat_events(event_id, decisions, now)
            for entry in self._outbox.entries(event, integration_form(event))
        ]
        document = {
            "_id": snapshot_id(event_id, version),
            **state,
            "version": version,
            "applied": applied,
            "decided_at": now,
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
        result = StoredInventory(inventory, version, tuple(applied))
        self._remember(event_id, _Known(result, sent_at))
        return Outcome(
            decisions,
            result,
            written=True,
            conflicts=attempt,
            oversold=seats_granted_beyond_capacity(holders_before, inventory),
        )

    # ------------------------------------------------------------ tidying

    async def _tidy(self, event_id: str, version: int) -> None:
        """Shrink snapshots superseded a while ago; now and then delete old published ones.

        Both are housekeeping: a failure is logged and left for a later time.
        On FerretDB v1 shrinking and the relay's removal of published entries
        both rewrite the whole document; if they overlapped, entries just
        published would come back and go out again (same envelope ids:
        harmless, but wasted). In this process the shared document lock keeps
        them apart; waiting ``shrink_after`` makes it rare with the relays of
        other replicas too.
        """
        now = self._monotonic()
        if version > 1:
            self._superseded.append((event_id, version - 1, now))
        try:
            while self._superseded and now - self._superseded[0][2] >= self._shrink_after:
                old_event_id, old_version, _ = self._superseded.popleft()
                superseded_id = snapshot_id(old_event_id, old_version)
                async with self._locks.hold(self.inventories.name, superseded_id):
                    await self.inventories.update_one(
                        {"_id": superseded_id},
                        {
                            "$set": {"superseded": True},
                            "$unset": dict.fromkeys(STATE_FIELDS, ""),
                        },
                    )
            if version % self._prune_every == 0:
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

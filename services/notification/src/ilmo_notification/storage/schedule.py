"""``schedule`` (what is still to happen) and ``broadcasts`` (what became of each broadcast).

``schedule`` holds one document per broadcast still to happen, ``_id`` =
its key (``<event>:reminder:m1440``, ``<event>:thank_you``,
``<event>:event_changed:r7``, ``<event>:event_cancelled``,
``message:<message_id>``), with its ``due_at``. A broadcast that happened is
deleted from it, and its outcome kept in ``broadcasts`` under the same key.
So the due query reads the few broadcasts still ahead of all events, however
many mails exist: on FerretDB v1 a query on ``due_at`` reads the whole
collection, and this collection is tiny by construction (a handful of
entries per upcoming event).

``broadcasts`` records a broadcast as ``expanding`` before any of its mails
is recorded and ``done`` (with its recipients) after the last, so a pass
that died midway is finished by the next; the mails' own unique ids make the
repeat harmless. Two expansions of one broadcast (a repeat after a crash, or
two replicas at once) may read the roster at different moments; each mail
either recorded is sent, so ``done`` keeps the union of their recipients,
written under the record's lock (and lease between replicas).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import Audience, NotificationKind
from ilmo_notification.broadcasting import Broadcast, BroadcastState
from ilmo_notification.storage.documents import insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import Document, DocumentLocks

SCHEDULE = "schedule"
BROADCASTS = "broadcasts"


def broadcast_of(document: Mapping[str, Any]) -> Broadcast:
    return Broadcast(
        event_id=str(document["event_id"]),
        kind=NotificationKind(document["kind"]),
        occasion=str(document.get("occasion", "")),
        audience=Audience(document["audience"]),
        due_at=document["due_at"],
        details=dict(document.get("details") or {}),
    )


def _document_of(broadcast: Broadcast) -> dict[str, Any]:
    return {
        "event_id": broadcast.event_id,
        "kind": broadcast.kind.value,
        "occasion": broadcast.occasion,
        "audience": broadcast.audience.value,
        "due_at": broadcast.due_at,
        "details": dict(broadcast.details),
    }


class ScheduleStore:
    """The due list and the record of what each broadcast became."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        locks: DocumentLocks | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.entries: AsyncCollection[Document] = database[SCHEDULE]
        self.records: AsyncCollection[Document] = database[BROADCASTS]
        self._locks = locks if locks is not None else DocumentLocks()
        self._clock = clock

    async def create_indexes(self) -> None:
        # For MongoDB; FerretDB v1 scans either way, which the size of these allows.
        await self.entries.create_index([("due_at", ASCENDING)], name="due")
        await self.entries.create_index("event_id")
        await self.records.create_index("event_id")

    # ------------------------------------------------------------ the schedule

    async def put(self, broadcast: Broadcast) -> None:
        """Schedule (or move) a broadcast: one entry per key, the latest plan wins."""
        await self.entries.replace_one(
            {"_id": broadcast.key},
            {"_id": broadcast.key, **_document_of(broadcast), "updated_at": self._clock()},
            upsert=True,
        )

    async def add(self, broadcast: Broadcast) -> bool:
        """Schedule a broadcast unless it is already scheduled; False if it was."""
        return await insert_new(
            self.entries,
            {"_id": broadcast.key, **_document_of(broadcast), "updated_at": self._clock()},
        )

    async def remove(self, key: str) -> None:
        await self.entries.delete_one({"_id": key})

    async def of_event(self, event_id: str) -> list[Broadcast]:
        """An event's scheduled broadcasts (a scan of a tiny collection)."""
        cursor = self.entries.find({"event_id": event_id}, sort=[("due_at", ASCENDING)])
        return [broadcast_of(document) async for document in cursor]

    async def entry(self, key: str) -> Broadcast | None:
        document = await self.entries.find_one({"_id": key})
        return None if document is None else broadcast_of(document)

    async def due(self, now: datetime, limit: int = 100) -> list[Broadcast]:
        """Broadcasts whose time has come, earliest first."""
        cursor = self.entries.find(
            {"due_at": {"$lte": now}}, sort=[("due_at", ASCENDING)], limit=limit
        )
        return [broadcast_of(document) async for document in cursor]

    async def next_due_at(self) -> datetime | None:
        document = await self.entries.find_one(
            {}, projection={"due_at": 1}, sort=[("due_at", ASCENDING)]
        )
        return None if document is None else document["due_at"]

    # ------------------------------------------------------------ what became of them

    async def state_of(self, key: str) -> BroadcastState | None:
        document = await self.records.find_one({"_id": key}, projection={"state": 1})
        return None if document is None else BroadcastState(document["state"])

    async def record(self, key: str) -> Document | None:
        return await self.records.find_one({"_id": key})

    async def records_of_event(self, event_id: str) -> list[Document]:
        """What became of an event's broadcasts (a few per event, plus its messages)."""
        cursor = self.records.find(
            {"event_id": event_id}, projection={"recipients": 0}, sort=[("due_at", ASCENDING)]
        )
        return [document async for document in cursor]

    async def settle(self, key: str, delivery: Mapping[str, int]) -> None:
        """Keep a done broadcast's final delivery counts (every mail sent)."""
        await self.records.update_one({"_id": key}, {"$set": {"delivery": dict(delivery)}})

    async def begin(self, broadcast: Broadcast) -> BroadcastState:
        """Record that the broadcast is being expanded; the state it was already in, if any."""
        fresh = {
            "_id": broadcast.key,
            **_document_of(broadcast),
            "state": BroadcastState.EXPANDING.value,
            "started_at": self._clock(),
        }
        if await insert_new(self.records, fresh):
            return BroadcastState.EXPANDING
        state = await self.state_of(broadcast.key)
        return state or BroadcastState.EXPANDING

    async def finish(
        self,
        broadcast: Broadcast,
        state: BroadcastState,
        recipients: Sequence[str] = (),
    ) -> None:
        """Record the outcome, then take the broadcast off the schedule (in that order).

        ``done`` after an expansion that already finished keeps both's
        recipients (the module's docstring says why).
        """
        async with self._locks.hold(BROADCASTS, broadcast.key):
            if state is BroadcastState.DONE:
                recipients = await self._with_earlier_recipients(broadcast.key, recipients)
            await self.records.update_one(
                {"_id": broadcast.key},
                {
                    "$set": {
                        **_document_of(broadcast),
                        "state": state.value,
                        "recipients": list(recipients),
                        "recipient_count": len(recipients),
                        "finished_at": self._clock(),
                    }
                },
                upsert=True,
            )
        await self.remove(broadcast.key)

    async def _with_earlier_recipients(self, key: str, recipients: Sequence[str]) -> list[str]:
        """``recipients`` and those of an expansion of ``key`` recorded ``done`` before."""
        done = await self.records.find_one(
            {"_id": key, "state": BroadcastState.DONE.value}, projection={"recipients": 1}
        )
        if done is None:
            return list(recipients)
        fresh = set(recipients)
        earlier = [str(r) for r in done.get("recipients", []) if r not in fresh]
        return [*recipients, *earlier]

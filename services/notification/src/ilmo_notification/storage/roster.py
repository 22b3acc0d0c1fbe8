"""``roster``: each event's registrants as notification keeps them, in 256 documents per event.

``_id`` = ``<event_id>:<k>``, k = ``broadcasting.roster_chunk(registration)``,
holding ``members.<registration_id>``. Reading an event's audience is 256
``_id`` lookups, however large the mails collection grows (FerretDB v1 uses
only the ``_id`` index; a query on ``event_id`` would read every document).

One member changes with one ``$set`` (or ``$unset``) of its own field, after
reading it, under this store's ``DocumentLocks``: the read-decide-write is
serialized within the process. On MongoDB a ``$set`` of one field is atomic
and leaves the chunk's other members alone; on FerretDB v1 an update reads
and writes back the whole document, so two *processes* updating one chunk at
once could lose one's write: on FerretDB replicas take the chunk's lease
first (``ilmo_shared.leases``).
Each write is conditional on the member being as it was read, so on
MongoDB replicas that decide at once retry rather than lose a change.

What this process last wrote of a member is kept in memory (the most
recent members, a bounded number) and stands in for the read: a
registration's later steps (its seat, its stream link) cost one write each
instead of a read and a write. It is only a guess: the write is still
conditional on it, and a member changed elsewhere (another replica) fails
that condition, is dropped from memory and read again.

Each chunk holds about N/256 members, so its writes grow with the event
(FerretDB v1 rewrites the whole document): see docs/performance.md.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import Attendance
from ilmo_notification.broadcasting import ROSTER_CHUNKS, Member, Place, StreamLink, roster_chunk
from ilmo_shared.storage import ConcurrentChangeError, Document, DocumentLocks

ROSTER = "roster"
# Reads and conditional writes of one member before giving up (the message is redelivered).
_ATTEMPTS = 5
# Members whose last write this process remembers (about 1 KiB each): the window
# between a registration's first step and its later ones, bounded so memory stays flat.
_REMEMBERED = 5_000

# What a transition makes of a member (None: the member is removed).
Transition = Callable[[Member | None], Member | None]


def _document_of(member: Member) -> dict[str, Any]:
    link = member.link
    return {
        "attendance": member.attendance.value,
        "version": member.version,
        "place": None if member.place is None else member.place.value,
        "place_version": member.place_version,
        "place_at": member.place_at,
        "link": None
        if link is None
        else {"url": link.url, "valid_from": link.valid_from, "valid_until": link.valid_until},
        "accepted_at": member.accepted_at,
        "cancelled": member.cancelled,
    }


def _member_of(registration_id: str, document: Mapping[str, Any]) -> Member:
    link = document.get("link")
    place = document.get("place")
    return Member(
        registration_id=registration_id,
        attendance=Attendance(document["attendance"]),
        version=int(document.get("version", 1)),
        place=None if place is None else Place(place),
        place_version=int(document.get("place_version", 0)),
        place_at=document.get("place_at"),
        link=None if not link else StreamLink(link["url"], link["valid_from"], link["valid_until"]),
        accepted_at=document.get("accepted_at"),
        cancelled=bool(document.get("cancelled", False)),
    )


class RosterStore:
    """Who an event's registrants are, as far as audiences go."""

    def __init__(self, database: AsyncDatabase[Document], *, locks: DocumentLocks) -> None:
        self.collection: AsyncCollection[Document] = database[ROSTER]
        self._locks = locks
        # Registration id -> the member as this process last wrote it, most recent last.
        self._written: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def change(self, event_id: str, registration_id: str, transition: Transition) -> None:
        """Apply ``transition`` to one member: read it, decide, write its field only.

        The write is conditional on the member being as read, so on MongoDB
        two replicas deciding at once cannot lose one's change: the loser
        reads and decides again. (On FerretDB v1 the condition is checked and
        the document written back in two steps; the process's lock covers
        that, and between replicas its lease.)
        """
        chunk = f"{event_id}:{roster_chunk(registration_id)}"
        field = f"members.{registration_id}"
        async with self._locks.hold(ROSTER, chunk):
            for _ in range(_ATTEMPTS):
                kept = self._written.pop(registration_id, None)
                new_document = False
                if kept is None:
                    document = await self.collection.find_one({"_id": chunk}, projection={field: 1})
                    kept = ((document or {}).get("members") or {}).get(registration_id)
                    new_document = document is None
                before = None if kept is None else _member_of(registration_id, kept)
                after = transition(before)
                if after == before:
                    if kept is not None:
                        self._remember(registration_id, dict(kept))
                    return
                as_read: dict[str, Any] = {
                    "_id": chunk,
                    field: kept if kept else {"$exists": False},
                }
                if await self._write(as_read, field, event_id, after, new_document):
                    if after is not None:
                        self._remember(registration_id, _document_of(after))
                    return
        raise ConcurrentChangeError(f"roster {chunk} kept changing")

    def _remember(self, registration_id: str, kept: dict[str, Any]) -> None:
        self._written[registration_id] = kept
        while len(self._written) > _REMEMBERED:
            self._written.popitem(last=False)

    async def _write(
        self,
        as_read: Mapping[str, Any],
        field: str,
        event_id: str,
        after: Member | None,
        new_document: bool,
    ) -> bool:
        """One conditional write; False if the member changed since it was read."""
        if after is None:
            result = await self.collection.update_one(as_read, {"$unset": {field: ""}})
            return result.matched_count == 1
        update = {"$set": {field: _document_of(after), "event_id": event_id}}
        if new_document:
            try:
                await self.collection.update_one(as_read, update, upsert=True)
            except DuplicateKeyError:
                return False  # another writer created the chunk first
            return True
        result = await self.collection.update_one(as_read, update)
        return result.matched_count == 1

    async def members(self, event_id: str) -> list[Member]:
        """Every member of the event: one ``_id`` lookup per chunk."""
        documents = await asyncio.gather(
            *(self.collection.find_one({"_id": f"{event_id}:{k}"}) for k in range(ROSTER_CHUNKS))
        )
        return [
            _member_of(registration_id, kept)
            for document in documents
            if document is not None
            for registration_id, kept in (document.get("members") or {}).items()
        ]

    async def member(self, event_id: str, registration_id: str) -> Member | None:
        chunk = f"{event_id}:{roster_chunk(registration_id)}"
        field = f"members.{registration_id}"
        document = await self.collection.find_one({"_id": chunk}, projection={field: 1})
        kept = ((document or {}).get("members") or {}).get(registration_id)
        return None if kept is None else _member_of(registration_id, kept)

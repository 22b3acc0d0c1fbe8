"""``roster``: each event's registrants as notification keeps them, one document per member.

FerretDB v1 applies an update by reading the whole document and writing it
back, and uses only the ``_id`` index. The roster used to keep an event's
members nested in 256 documents, so each member's change rewrote about
N/256 members: FerretDB spent 2.2-2.8 ms of CPU per change at 2,000
members in one event and 8.4-8.7 ms at 20,000. A registration should cost
the same however large its event, so no document that a member's change
writes holds more than that member (measured since, FerretDB's CPU: about
1 ms a change at both sizes, 0.6 ms when remembered, 1.5 ms for a new
member):

- ``<event_id>:m:<registration_id>``: the member (the fields of
  ``Member``, ``event_id``, ``registration_id``, and ``entry``, the token
  of its index entry). Every change of the member writes this document only.
- ``<event_id>:ids<k>``, k = ``broadcasting.roster_chunk(registration_id)``
  (``ROSTER_CHUNKS`` per event): the index, ``ids.<registration_id>:
  <entry>``. An event's members are found by ``_id`` alone through it (a
  query on ``event_id`` would read the whole collection). It is written
  when a member appears and when it goes, not on the member's other
  changes, and holds ids only (about 20 at 20,000 members).

Reading an audience is an ``_id`` lookup per index document, then one per
member, ``_READS_AT_ONCE`` at a time: 4 s for 20,000 members (1.1 s when
they were nested), paid once per broadcast rather than per registration.
Not ``{"_id": {"$in": [...]}}``: FerretDB v1 answers it by reading the
whole collection, every event's members (2,000 of 5,000 documents in
batches of 100 cost it 3.8 s of CPU, against 0.36 s for 2,000 ``find_one``).

A member changes by a read, a decision (``transition``) and a write
conditional on the member being as read, so on MongoDB two replicas that
decide at once cannot lose a change: the loser reads and decides again.
The member's document is held (``DocumentLocks``, which on FerretDB also
takes its lease between replicas) for the whole read-decide-write; an
index document or old chunk is held only for its own write, taken while
holding the member's (always in that order, and one at a time, so no two
paths wait for each other). The crash windows leave nothing wrong:

- a new member is listed in the index before its document is created: a
  crash between leaves an id without a member, which readers skip;
- a removed member's document is deleted before its id leaves the index.
  The id leaves only if its entry is still the one the member was created
  with: a replica that created the member again meanwhile listed it anew.

What this process last wrote of a member is kept in memory (the most
recent members, a bounded number) and stands in for the read: a
registration's later steps (its seat, its stream link) cost one write each
instead of a read and a write. It is only a guess: the write is still
conditional on it, and a member changed elsewhere (another replica) fails
that condition, is dropped from memory and read again.

The layout before this one, still found in databases written by it: the
members nested in ``<event_id>:<k>``, k = ``roster_chunk(registration_id,
256)``, as ``members.<registration_id>``. A member without its own document
is read from there, and its next change moves it: listed, its own document
created, then taken out of the old chunk only if still as read (else that
move is undone and decided again). A member with its own document is never
read from an old chunk, but a crash mid-move leaves a stale copy there,
taken out before the member's own document is removed. So an audience also
reads the 256 old chunks (``_id`` lookups that find nothing for an event
written since). Replicas of the two layouts must not run at once: the old
one does not see what this one moved.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
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
# Chunks per event of the layout before members had their own documents.
_OLD_CHUNKS = 256
# Lookups in flight at once when reading many documents: enough to keep
# FerretDB busy (32 and 64 read 2,000 members equally fast here), and an
# audience of 20,000 is 64 tasks, not 20,000.
_READS_AT_ONCE = 64

# What a transition makes of a member (None: the member is removed).
Transition = Callable[[Member | None], Member | None]


def _member_key(event_id: str, registration_id: str) -> str:
    return f"{event_id}:m:{registration_id}"


def _index_key(event_id: str, chunk: int) -> str:
    # Not ``<event_id>:<k>``: an ``_id`` ending in ``:<number>`` is an old chunk's
    # (of an event whose id ends in ``:ids``, say).
    return f"{event_id}:ids{chunk}"


def _old_chunk_key(event_id: str, chunk: int) -> str:
    return f"{event_id}:{chunk}"


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


def _own_document(event_id: str, member: Member, entry: str) -> dict[str, Any]:
    """A member's own document, without its ``_id``."""
    return {
        "event_id": event_id,
        "registration_id": member.registration_id,
        "entry": entry,
        **_document_of(member),
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
        # Member document ``_id`` -> the document (without ``_id``) as this
        # process last wrote it, most recent last.
        self._written: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def change(self, event_id: str, registration_id: str, transition: Transition) -> None:
        """Apply ``transition`` to one member: read it, decide, write its own document.

        The write is conditional on the member being as read, so on MongoDB
        two replicas deciding at once cannot lose one's change: the loser
        reads and decides again. (On FerretDB v1 the condition is checked and
        the document written back in two steps; the process's lock covers
        that, and between replicas its lease.)
        """
        key = _member_key(event_id, registration_id)
        async with self._locks.hold(ROSTER, key):
            for _ in range(_ATTEMPTS):
                if await self._attempt(event_id, registration_id, transition):
                    return
        raise ConcurrentChangeError(f"roster {key} kept changing")

    async def _attempt(self, event_id: str, registration_id: str, transition: Transition) -> bool:
        """One read-decide-write; False if another writer got there first."""
        key = _member_key(event_id, registration_id)
        stored = self._written.pop(key, None)
        if stored is None:
            found = await self.collection.find_one({"_id": key}, projection={"_id": 0})
            stored = None if found is None else dict(found)
        old = None if stored is not None else await self._old_entry(event_id, registration_id)
        kept = stored if stored is not None else old
        before = None if kept is None else _member_of(registration_id, kept)
        after = transition(before)
        if after == before:
            if stored is not None:
                self._remember(key, stored)
            return True
        if stored is not None:
            return await self._rewrite(event_id, registration_id, stored, after)
        if after is not None:
            return await self._create(event_id, registration_id, after, old)
        # Removed, and it was only in its old chunk (``before`` was not None).
        return old is not None and await self._leave_old_chunk(event_id, registration_id, old)

    def _remember(self, key: str, document: dict[str, Any]) -> None:
        self._written[key] = document
        while len(self._written) > _REMEMBERED:
            self._written.popitem(last=False)

    async def _rewrite(
        self, event_id: str, registration_id: str, stored: dict[str, Any], after: Member | None
    ) -> bool:
        """The member's own document replaced (or removed) if still as read."""
        key = _member_key(event_id, registration_id)
        as_read = {"_id": key, **stored}
        if after is None:
            return await self._remove(event_id, registration_id, as_read)
        document = _own_document(event_id, after, str(stored.get("entry", "")))
        result = await self.collection.replace_one(as_read, document)
        if result.matched_count != 1:
            return False
        self._remember(key, document)
        return True

    async def _remove(
        self, event_id: str, registration_id: str, as_read: Mapping[str, Any]
    ) -> bool:
        """The member's document deleted if still as read, then its id out of the index."""
        # A stale copy left in the old chunk by a crashed move would be read
        # once the own document is gone: it goes first.
        await self._drop_old_copy(event_id, registration_id)
        result = await self.collection.delete_one(as_read)
        if result.deleted_count != 1:
            return False
        await self._unlist(event_id, registration_id, str(as_read.get("entry", "")))
        return True

    async def _create(
        self, event_id: str, registration_id: str, after: Member, old: dict[str, Any] | None
    ) -> bool:
        """The member listed, then its own document inserted; moved out of its old chunk if there.

        False if another writer created the document first (decide again on
        theirs), or the old entry changed since it was read.
        """
        key = _member_key(event_id, registration_id)
        # A new token per creation: the removal of an earlier incarnation of
        # the member, on another replica, leaves this listing alone.
        entry = secrets.token_hex(4)
        await self._list(event_id, registration_id, entry)
        document = _own_document(event_id, after, entry)
        try:
            await self.collection.insert_one({"_id": key, **document})
        except DuplicateKeyError:
            return False
        if old is not None and not await self._leave_old_chunk(event_id, registration_id, old):
            # Another replica removed the member meanwhile: this was decided
            # on a member that is gone. Undone, and decided again.
            await self.collection.delete_one({"_id": key, **document})
            return False
        self._remember(key, document)
        return True

    async def _list(self, event_id: str, registration_id: str, entry: str) -> None:
        """The member's id into its index document (created with its first id)."""
        index = _index_key(event_id, roster_chunk(registration_id))
        update = {"$set": {f"ids.{registration_id}": entry, "event_id": event_id}}
        async with self._locks.hold(ROSTER, index):
            try:
                await self.collection.update_one({"_id": index}, update, upsert=True)
            except DuplicateKeyError:
                # Another writer created the index document between this
                # upsert's look and its insert: it is there now.
                await self.collection.update_one({"_id": index}, update)

    async def _unlist(self, event_id: str, registration_id: str, entry: str) -> None:
        """The member's id out of its index document, if still listed with ``entry``."""
        index = _index_key(event_id, roster_chunk(registration_id))
        field = f"ids.{registration_id}"
        async with self._locks.hold(ROSTER, index):
            await self.collection.update_one({"_id": index, field: entry}, {"$unset": {field: ""}})

    async def _old_entry(self, event_id: str, registration_id: str) -> dict[str, Any] | None:
        """The member as the old layout kept it, nested in its chunk; None if not there."""
        chunk = _old_chunk_key(event_id, roster_chunk(registration_id, _OLD_CHUNKS))
        field = f"members.{registration_id}"
        document = await self.collection.find_one({"_id": chunk}, projection={field: 1})
        entry = ((document or {}).get("members") or {}).get(registration_id)
        return None if entry is None else dict(entry)

    async def _leave_old_chunk(
        self, event_id: str, registration_id: str, old: Mapping[str, Any]
    ) -> bool:
        """The member's old entry taken out of its chunk if still as read."""
        chunk = _old_chunk_key(event_id, roster_chunk(registration_id, _OLD_CHUNKS))
        field = f"members.{registration_id}"
        async with self._locks.hold(ROSTER, chunk):
            result = await self.collection.update_one(
                {"_id": chunk, field: old}, {"$unset": {field: ""}}
            )
        return result.matched_count == 1

    async def _drop_old_copy(self, event_id: str, registration_id: str) -> None:
        """Whatever the old chunk still holds of a member that has its own document."""
        chunk = _old_chunk_key(event_id, roster_chunk(registration_id, _OLD_CHUNKS))
        field = f"members.{registration_id}"
        async with self._locks.hold(ROSTER, chunk):
            # Matches nothing (and writes nothing) in an event without old chunks.
            await self.collection.update_one(
                {"_id": chunk, field: {"$exists": True}}, {"$unset": {field: ""}}
            )

    async def members(self, event_id: str) -> list[Member]:
        """Every member of the event: the index and old chunks, then each listed member's document.

        A listed id without its document (a member being created or
        removed, or a crash between the two writes) is skipped, unless its
        old chunk still holds it.
        """
        index_keys = [_index_key(event_id, k) for k in range(ROSTER_CHUNKS)]
        old_keys = [_old_chunk_key(event_id, k) for k in range(_OLD_CHUNKS)]
        found = await self._each(index_keys + old_keys)
        indexes, old_chunks = found[: len(index_keys)], found[len(index_keys) :]
        listed = [rid for index in indexes if index for rid in index.get("ids") or {}]
        old = {
            rid: entry
            for chunk in old_chunks
            if chunk
            for rid, entry in (chunk.get("members") or {}).items()
        }
        own = await self._each([_member_key(event_id, rid) for rid in listed])
        current = {rid: document for rid, document in zip(listed, own, strict=True) if document}
        return [_member_of(rid, kept) for rid, kept in {**old, **current}.items()]

    async def member(self, event_id: str, registration_id: str) -> Member | None:
        """One member: its own document, else its entry in its old chunk."""
        kept: Mapping[str, Any] | None = await self.collection.find_one(
            {"_id": _member_key(event_id, registration_id)}
        )
        if kept is None:
            kept = await self._old_entry(event_id, registration_id)
        return None if kept is None else _member_of(registration_id, kept)

    async def _each(self, keys: Sequence[str]) -> list[Document | None]:
        """The documents of ``keys`` in order (None where missing), ``_READS_AT_ONCE`` at a time."""
        found: list[Document | None] = [None] * len(keys)
        pending = iter(enumerate(keys))

        async def reader() -> None:
            for position, key in pending:
                found[position] = await self.collection.find_one({"_id": key})

        try:
            async with asyncio.TaskGroup() as readers:
                for _ in range(min(_READS_AT_ONCE, len(keys))):
                    readers.create_task(reader())
        except ExceptionGroup as failed:
            # The first failure as such (a PyMongoError, say), as a single read would raise it.
            raise failed.exceptions[0] from None
        return found

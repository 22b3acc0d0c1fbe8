"""The listing read model: an event's registrations in chunks of bounded size, read by ``_id``.

FerretDB v1 (SQLite) answers only an exact ``_id`` with its index; a query
on ``event_id`` reads and decodes every registration of every event
(docs/performance.md: 10.6 s for 10,000 of one event among 20,000). So the
console's list of an event's registrations is kept apart, in
``registration_listing``, spread over chunk documents read by ``_id``. A
chunk holds its rows as one zlib-compressed JSON value (``rows``:
registration id → compact row) and a version ``v``: FerretDB decodes one
binary value quickly, while the same rows as nested documents cost it
about 50 ms per chunk. A listing reads every chunk of the event,
concurrently, and ``listing.select`` searches, sorts and pages them in
memory.

Chunks come in generations of ``CHUNKS``: a new registration's row goes to
chunk ``registration id mod CHUNKS`` of the event's current generation,
and that chunk's ``_id`` is recorded in the registration itself
(``listing_chunk``, chosen by ``place`` before the registration is
stored), so every later row of it goes to the same chunk. Generation 0's
chunks are ``<event id>/<n>`` (the only ones before generations existed,
and still where a registration without ``listing_chunk`` is listed);
generation g's are ``<event id>/<g>/<n>``. A write that leaves a chunk of
the current generation with ``CHUNK_ROWS`` rows or more starts the next
generation (``<event id>/generations`` counts them, changed only under
the document's lock and lease). So no chunk grows with the event:
every write reads and writes at most about ``CHUNK_ROWS`` rows whether the
event has 2,000 registrations or 50,000. With one fixed set of chunks,
a new row's write cost 1.4 ms of FerretDB's and the service's CPU at
2,000 registrations and 4.7 ms at 20,000; in generations, 1.2 and 1.1 ms
(docs/performance.md, "Read models that do not grow with the event").

A process remembers each event's current generation; one that another
process has moved past notices when its own write lands in a full chunk
and reads the count again, so a chunk overfills by at most a few rows.
A process of the code before generations puts every row in generation 0,
so it must not run beside one of this code (docs/operations.md,
"Upgrading without losing messages").

``RegistrationStore`` puts a registration's row after every write that
changes what is listed (registering, confirming, expiring, cancelling,
switching, correcting, erasing, a seat or link report, a check-in at the
door, a first watch of the stream): the chunk is read,
changed and written back conditionally on its version (and serialized
within the process), so concurrent writers never lose a row. The process
keeps the chunks it last read or wrote (their version and packed rows, at
most ``KEPT_CHUNKS``) and writes the next row on top of its copy without
reading the chunk first: half of the listing's commands (docs/performance.md,
"Issue 18: the registration service"). A copy that another process made
stale fails the write's condition on ``v``; the chunk is then read and the
row written again, as before. A row carries
the registration document's revision and only a newer one replaces it, so
rows written out of order settle on the newest. The row is a second write,
after the registration's own: should the process die in between, that one
row is stale until the registration changes again or ``rebuild`` runs; a
put that fails marks the event's listing unbuilt (``forget``). An event
whose listing was never built (registrations taken before the read model
existed) or was forgotten is built from the registrations on its next
listing (``<event id>/built`` marks it built).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import Status
from ilmo_registration.listing import ListingRow
from ilmo_shared.storage import ConcurrentChangeError, Document, DocumentLocks

LISTING_COLLECTION = "registration_listing"
# Chunks of one generation: a listing of an event reads CHUNKS per generation.
CHUNKS = 32
# A chunk this full starts its event's next generation: the rows a write reads
# and writes back (about 4 kB compressed), whatever the size of the event.
CHUNK_ROWS = 64
_ATTEMPTS = 10
# Chunks kept in memory (version and packed rows): a few MB at most.
KEPT_CHUNKS = 4 * CHUNKS
# Events whose current generation this process remembers.
_REMEMBERED_EVENTS = 256


def chunk_id(event_id: str, registration_id: str, generation: int = 0) -> str:
    """The chunk of ``generation`` that a registration's row goes to."""
    return _chunk_key(event_id, generation, int(registration_id.replace("-", ""), 16) % CHUNKS)


def _chunk_key(event_id: str, generation: int, n: int) -> str:
    return f"{event_id}/{n}" if generation == 0 else f"{event_id}/{generation}/{n}"


def _generation_of(event_id: str, key: str) -> int:
    parts = key[len(event_id) + 1 :].split("/")
    return int(parts[0]) if len(parts) == 2 else 0


def _built_id(event_id: str) -> str:
    return f"{event_id}/built"


def _generations_id(event_id: str) -> str:
    return f"{event_id}/generations"


class RegistrationListing:
    """The rows of each event's registrations, by chunk (see the module's docstring)."""

    def __init__(self, database: AsyncDatabase[Document], locks: DocumentLocks | None = None):
        self.collection = database[LISTING_COLLECTION]
        self._locks = locks or DocumentLocks()
        # chunk id → (v, packed rows) as this process last read or wrote it;
        # the order is the age (least recently used first).
        self._kept: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        # event id → its current generation, as this process last saw it.
        self._current: OrderedDict[str, int] = OrderedDict()

    async def place(self, event_id: str, registration_id: str) -> str:
        """The chunk for a new registration's rows, to be recorded with it (``listing_chunk``)."""
        generation = self._current.get(event_id)
        if generation is None:
            generation = await self._read_current(event_id)
        return chunk_id(event_id, registration_id, generation)

    async def put(self, event_id: str, row: ListingRow, chunk: str | None = None) -> None:
        """Store ``row`` in ``chunk`` unless a row of a newer revision is there already.

        ``chunk`` is the one recorded with the registration (``place``);
        without one, the row is in generation 0.
        """
        key = chunk or chunk_id(event_id, row.registration_id)
        async with self._locks.hold(LISTING_COLLECTION, key):
            for _ in range(_ATTEMPTS):
                rows = await self._put_once(key, row)
                if rows is not None:
                    break
            else:
                raise ConcurrentChangeError(f"{LISTING_COLLECTION}/{key}")
        generation = _generation_of(event_id, key)
        # A full chunk of an older generation than the one this process
        # knows is current is just full; of the current one, it starts the next.
        if rows >= CHUNK_ROWS and generation >= self._current.get(event_id, 0):
            await self._start_next_generation(event_id, generation)

    async def _put_once(self, key: str, row: ListingRow) -> int | None:
        """One conditional write of the chunk (read first unless kept): its rows, None if it lost.

        The kept copy is taken out while it is used: a write that fails or
        raises leaves none, so the next attempt reads the chunk.
        """
        kept = self._kept.pop(key, None)
        if kept is None:
            chunk = await self.collection.find_one({"_id": key})
            kept = (int(chunk["v"]), bytes(chunk.get("rows") or _packed({}))) if chunk else None
        rows = _unpacked(kept[1]) if kept is not None else {}
        stored = rows.get(row.registration_id)
        if stored is not None and stored[-1] > row.revision:
            self._keep(key, kept)
            return len(rows)
        rows[row.registration_id] = _row_document(row)
        packed = _packed(rows)
        if kept is None:
            try:
                await self.collection.insert_one({"_id": key, "v": 1, "rows": packed})
            except DuplicateKeyError:
                return None
            self._keep(key, (1, bytes(packed)))
            return len(rows)
        version = kept[0]
        result = await self.collection.update_one(
            {"_id": key, "v": version}, {"$set": {"rows": packed}, "$inc": {"v": 1}}
        )
        if result.matched_count != 1:
            return None
        self._keep(key, (version + 1, bytes(packed)))
        return len(rows)

    def _keep(self, key: str, kept: tuple[int, bytes] | None) -> None:
        if kept is None:
            return
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_CHUNKS:
            self._kept.popitem(last=False)

    async def _read_current(self, event_id: str) -> int:
        counted = await self.collection.find_one({"_id": _generations_id(event_id)})
        generation = int(counted["current"]) if counted else 0
        self._remember(event_id, generation)
        return generation

    def _remember(self, event_id: str, generation: int) -> None:
        self._current[event_id] = generation
        self._current.move_to_end(event_id)
        while len(self._current) > _REMEMBERED_EVENTS:
            self._current.popitem(last=False)

    async def _start_next_generation(self, event_id: str, full: int) -> None:
        """Make the generation after ``full`` the event's current one, unless one is already.

        Under the count's lock and lease: on FerretDB v1 a conditional update
        is a read and then a write, and a count written back smaller would
        hide a generation's rows from the listing.
        """
        key = _generations_id(event_id)
        async with self._locks.hold(LISTING_COLLECTION, key):
            current = await self._read_current(event_id)
            if current > full:
                return
            await self._count(event_id, full + 1)
        self._remember(event_id, full + 1)

    async def _count(self, event_id: str, current: int) -> None:
        """Raise the event's current generation to ``current`` (the caller holds its lock).

        ``$max``, never ``$set``: a count lowered by a writer that read it
        earlier would hide a generation's rows (on MongoDB, without leases,
        two processes' counts may cross).
        """
        key = {"_id": _generations_id(event_id)}
        update = {"$max": {"current": current}}
        try:
            await self.collection.update_one(key, update, upsert=True)
        except DuplicateKeyError:
            # Another process created the count between this upsert's look and
            # its insert (MongoDB without leases): it is there now.
            await self.collection.update_one(key, update)

    async def rows(self, event_id: str) -> list[ListingRow] | None:
        """Every row of the event, in no order; None if its listing was never built."""
        built, counted = await asyncio.gather(
            self.collection.find_one({"_id": _built_id(event_id)}),
            self.collection.find_one({"_id": _generations_id(event_id)}),
        )
        if built is None:
            return None
        current = int(counted["current"]) if counted else 0
        found = await asyncio.gather(
            *(self.collection.find_one({"_id": key}) for key in _chunks(event_id, current))
        )
        return [
            _row(registration_id, stored)
            for chunk in found
            if chunk is not None and "rows" in chunk
            for registration_id, stored in _unpacked(chunk["rows"]).items()
        ]

    async def forget(self, event_id: str) -> None:
        """Mark the event's listing unbuilt: its next reading builds it from the registrations."""
        await self.collection.delete_one({"_id": _built_id(event_id)})

    async def rebuild(
        self,
        event_id: str,
        rows: Sequence[ListingRow],
        chunks: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the event's listing with ``rows`` (every registration of the event).

        ``chunks`` maps a registration id to the chunk recorded with it;
        a registration without one is in generation 0.
        """
        recorded = chunks or {}
        placed: dict[str, dict[str, list[Any]]] = {}
        for row in rows:
            key = recorded.get(row.registration_id) or chunk_id(event_id, row.registration_id)
            placed.setdefault(key, {})[row.registration_id] = _row_document(row)
        newest = max((_generation_of(event_id, key) for key in placed), default=0)
        async with self._locks.hold(LISTING_COLLECTION, _generations_id(event_id)):
            current = max(await self._read_current(event_id), newest)
            await self._count(event_id, current)
        self._remember(event_id, current)
        # Every chunk of every generation, so that none keeps a row of before.
        for key in _chunks(event_id, current):
            async with self._locks.hold(LISTING_COLLECTION, key):
                self._kept.pop(key, None)
                await self.collection.update_one(
                    {"_id": key},
                    {"$set": {"rows": _packed(placed.get(key, {}))}, "$inc": {"v": 1}},
                    upsert=True,
                )
        await self.collection.replace_one(
            {"_id": _built_id(event_id)}, {"built": True}, upsert=True
        )


def _chunks(event_id: str, current: int) -> list[str]:
    """The ids of every chunk of the event's generations up to ``current``."""
    return [
        _chunk_key(event_id, generation, n)
        for generation in range(current + 1)
        for n in range(CHUNKS)
    ]


def _packed(rows: dict[str, list[Any]]) -> Binary:
    return Binary(zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 1))


def _unpacked(packed: bytes) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = json.loads(zlib.decompress(packed))
    return rows


def _row_document(row: ListingRow) -> list[Any]:
    """The compact row: fields by position, the folded search text, the revision last."""
    return [
        row.first_name,
        row.last_name,
        row.email,
        row.organisation,
        row.language.value,
        row.attendance.value,
        row.status.value,
        row.registered_at.isoformat(),
        row.erased,
        row.expired,
        row.searched,
        _moment(row.checked_in_at),
        _moment(row.watched_at),
        row.revision,
    ]


def _row(registration_id: str, stored: list[Any]) -> ListingRow:
    first, last, email, organisation, language, attendance, status, at, erased, expired = stored[
        :10
    ]
    return ListingRow(
        registration_id=registration_id,
        first_name=first,
        last_name=last,
        email=email,
        organisation=organisation,
        language=Language(language),
        attendance=Attendance(attendance),
        status=Status(status),
        registered_at=datetime.fromisoformat(at),
        erased=bool(erased),
        expired=bool(expired),
        revision=int(stored[-1]),
        folded=stored[10],
        # Rows written before attendance was listed have 12 fields.
        checked_in_at=_at(stored[11]) if len(stored) > 12 else None,
        watched_at=_at(stored[12]) if len(stored) > 13 else None,
    )


def _moment(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _at(stored: str | None) -> datetime | None:
    return datetime.fromisoformat(stored) if stored is not None else None

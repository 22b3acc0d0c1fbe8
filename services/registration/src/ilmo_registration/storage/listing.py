"""The listing read model: an event's registrations in ``CHUNKS`` documents read by ``_id``.

FerretDB v1 (SQLite) answers only an exact ``_id`` with its index; a query
on ``event_id`` reads and decodes every registration of every event
(docs/performance.md: 10.6 s for 10,000 of one event among 20,000). So the
console's list of an event's registrations is kept apart, in
``registration_listing``: the event's rows are spread over ``CHUNKS``
documents, ``_id`` = ``<event id>/<n>``, where ``n`` is the registration id
modulo ``CHUNKS`` (no counter to keep, no single hot document). A chunk
holds its rows as one zlib-compressed JSON value (``rows``: registration id
→ compact row) and a version ``v``: FerretDB decodes one binary value
quickly, while the same rows as nested documents cost it about 50 ms per
chunk. A listing reads the ``CHUNKS`` documents by ``_id``, concurrently,
and ``listing.select`` searches, sorts and pages them in memory.

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
from collections.abc import Sequence
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
# 10,000 registrations make chunks of about 310 rows (~20 kB compressed).
CHUNKS = 32
_ATTEMPTS = 10
# Chunks kept in memory (version and packed rows): all of four events'.
# 10,000 registrations make ~20 kB per chunk, so at most a few MB.
KEPT_CHUNKS = 4 * CHUNKS


def chunk_id(event_id: str, registration_id: str) -> str:
    return f"{event_id}/{int(registration_id.replace('-', ''), 16) % CHUNKS}"


def _built_id(event_id: str) -> str:
    return f"{event_id}/built"


class RegistrationListing:
    """The rows of each event's registrations, by chunk (see the module's docstring)."""

    def __init__(self, database: AsyncDatabase[Document], locks: DocumentLocks | None = None):
        self.collection = database[LISTING_COLLECTION]
        self._locks = locks or DocumentLocks()
        # chunk id → (v, packed rows) as this process last read or wrote it;
        # the order is the age (least recently used first).
        self._kept: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    async def put(self, event_id: str, row: ListingRow) -> None:
        """Store ``row`` unless a row of a newer revision is there already."""
        key = chunk_id(event_id, row.registration_id)
        async with self._locks.hold(LISTING_COLLECTION, key):
            for _ in range(_ATTEMPTS):
                if await self._put_once(key, row):
                    return
        raise ConcurrentChangeError(f"{LISTING_COLLECTION}/{key}")

    async def _put_once(self, key: str, row: ListingRow) -> bool:
        """One conditional write of the chunk (read first unless kept); False if it lost.

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
            return True
        rows[row.registration_id] = _row_document(row)
        packed = _packed(rows)
        if kept is None:
            try:
                await self.collection.insert_one({"_id": key, "v": 1, "rows": packed})
            except DuplicateKeyError:
                return False
            self._keep(key, (1, bytes(packed)))
            return True
        version = kept[0]
        result = await self.collection.update_one(
            {"_id": key, "v": version}, {"$set": {"rows": packed}, "$inc": {"v": 1}}
        )
        if result.matched_count != 1:
            return False
        self._keep(key, (version + 1, bytes(packed)))
        return True

    def _keep(self, key: str, kept: tuple[int, bytes] | None) -> None:
        if kept is None:
            return
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_CHUNKS:
            self._kept.popitem(last=False)

    async def rows(self, event_id: str) -> list[ListingRow] | None:
        """Every row of the event, in no order; None if its listing was never built."""
        found = await asyncio.gather(
            self.collection.find_one({"_id": _built_id(event_id)}),
            *(self.collection.find_one({"_id": f"{event_id}/{n}"}) for n in range(CHUNKS)),
        )
        if found[0] is None:
            return None
        return [
            _row(registration_id, stored)
            for chunk in found[1:]
            if chunk is not None and "rows" in chunk
            for registration_id, stored in _unpacked(chunk["rows"]).items()
        ]

    async def forget(self, event_id: str) -> None:
        """Mark the event's listing unbuilt: its next reading builds it from the registrations."""
        await self.collection.delete_one({"_id": _built_id(event_id)})

    async def rebuild(self, event_id: str, rows: Sequence[ListingRow]) -> None:
        """Replace the event's listing with ``rows`` (every registration of the event)."""
        chunks: dict[str, dict[str, list[Any]]] = {f"{event_id}/{n}": {} for n in range(CHUNKS)}
        for row in rows:
            chunks[chunk_id(event_id, row.registration_id)][row.registration_id] = _row_document(
                row
            )
        for key, chunk_rows in chunks.items():
            async with self._locks.hold(LISTING_COLLECTION, key):
                self._kept.pop(key, None)
                await self.collection.update_one(
                    {"_id": key},
                    {"$set": {"rows": _packed(chunk_rows)}, "$inc": {"v": 1}},
                    upsert=True,
                )
        await self.collection.replace_one(
            {"_id": _built_id(event_id)}, {"built": True}, upsert=True
        )


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

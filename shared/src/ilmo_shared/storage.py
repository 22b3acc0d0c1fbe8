"""MongoDB access through PyMongo's asyncio API, one database per service.

``AsyncMongoClient`` is PyMongo's maintained asyncio client (Motor is
deprecated). The same URL format reaches MongoDB in production and FerretDB on
development machines; code here uses only what both support: single-document
atomic updates, unique indexes, no transactions, no change streams.

One more FerretDB v1 limit shapes the code: it applies an update by reading
the whole document and writing it back, so two concurrent updates of one
document can lose one of them (seen here: of ten concurrent conditional
``$push`` updates of one document, several reported a modification and one
survived). Every writer of a document inside one process, the outbox relay
included, therefore takes that document's ``DocumentLocks`` lock; conditional
updates guard against other processes where updates are atomic (MongoDB).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient

Document = Mapping[str, Any]


def connect(url: str, *, server_selection_timeout_ms: int = 5_000) -> AsyncMongoClient[Document]:
    """A client that returns timezone-aware datetimes (UTC) and fails fast when unreachable."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
        appname="ilmo",
    )


class DocumentLocks:
    """One asyncio lock per (collection, document id), forgotten when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, collection: str, document_id: object) -> AsyncIterator[None]:
        """Serialize the writes to one document within this process."""
        key = (collection, str(document_id))
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

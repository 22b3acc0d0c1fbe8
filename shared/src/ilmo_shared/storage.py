"""MongoDB access through PyMongo's asyncio API, one database per service.

``AsyncMongoClient`` is PyMongo's maintained asyncio client (Motor is
deprecated). The same URL format reaches MongoDB in production and FerretDB on
development machines; code here uses only what both support: single-document
atomic updates, unique indexes, no transactions, no change streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = Mapping[str, Any]


def connect(url: str, *, server_selection_timeout_ms: int = 5_000) -> AsyncMongoClient[Document]:
    """A client that returns timezone-aware datetimes (UTC) and fails fast when unreachable."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
        appname="ilmo",
    )


async def ping(database: AsyncDatabase[Document]) -> bool:
    """True when the database server answers a ping."""
    try:
        await database.command("ping")
    except Exception:
        return False
    return True

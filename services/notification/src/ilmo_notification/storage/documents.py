"""How every store of this service reads and records documents, the ways FerretDB v1 does well."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ilmo_shared.storage import Document


async def insert_new(collection: AsyncCollection[Document], document: Document) -> bool:
    """Record a fact under its unique ``_id``; False when it was already recorded.

    An insert is atomic on FerretDB v1 and MongoDB alike (an update is not on
    FerretDB v1), so a redelivered or duplicated message that records the
    same fact again changes nothing.
    """
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True


async def by_ids(
    collection: AsyncCollection[Document],
    ids: Iterable[str],
    projection: Mapping[str, Any] | None = None,
) -> dict[str, Mapping[str, Any]]:
    """The documents with these ``_id``s that exist, read one by one, concurrently.

    One ``_id`` lookup each rather than ``{"_id": {"$in": ids}}``: FerretDB v1
    answers an ``$in`` by reading the whole collection, an ``_id`` equality
    from its primary key (measured: about 1.4 s against a few milliseconds
    with 5,000 documents). On MongoDB both are index lookups.
    """
    unique = sorted(set(ids))
    documents = await asyncio.gather(
        *(collection.find_one({"_id": i}, projection=projection) for i in unique)
    )
    return {i: d for i, d in zip(unique, documents, strict=True) if d is not None}

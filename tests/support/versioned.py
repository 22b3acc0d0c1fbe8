"""A change for ``VersionedDocuments`` that shows lost writes: append one item to a list."""

from __future__ import annotations

from ilmo_shared.storage import Decide, Document, Keep, Write


def appending(item: str) -> Decide[int]:
    """Append ``item`` to the document's ``items``; answers how many there are then.

    Each writer appends its own item, so an update that another writer's
    overwrote shows as an item missing at the end.
    """

    def decide(document: Document | None) -> Keep[int] | Write[int]:
        items = [*(document or {}).get("items", []), item]
        return Write(len(items), {"items": items})

    return decide

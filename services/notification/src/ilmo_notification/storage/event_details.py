"""``event_details``: what the mails say about an event, one document per (event, revision).

Kept from ``event.published`` and ``event.updated``; the highest revision wins.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import EventDetails
from ilmo_notification.storage.documents import insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import Document

EVENT_DETAILS = "event_details"


class EventDetailsStore:
    """Every revision of the events' details that arrived."""

    def __init__(self, database: AsyncDatabase[Document], *, clock: Clock = utc_now) -> None:
        self.collection: AsyncCollection[Document] = database[EVENT_DETAILS]
        self._clock = clock

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("event_id", ASCENDING), ("revision", ASCENDING)], unique=True, name="event_revision"
        )

    async def remember(self, details: EventDetails) -> bool:
        """Keep one revision of an event's details; False when it was already kept."""
        return await insert_new(
            self.collection,
            {
                "_id": f"{details.event_id}@{details.revision:012d}",
                "event_id": details.event_id,
                "revision": details.revision,
                "details": details.model_dump(mode="json"),
                "stored_at": self._clock(),
            },
        )

    async def latest(self, event_id: str) -> EventDetails | None:
        """The event's highest revision (None: none has arrived)."""
        document = await self.collection.find_one({"event_id": event_id}, sort=[("revision", -1)])
        return None if document is None else EventDetails.model_validate(document["details"])

    async def latest_two(self, event_id: str) -> tuple[EventDetails | None, EventDetails | None]:
        """The event's highest revision and the one it replaced (None where there is none).

        What a change notice compares. Read after the revision at hand was
        kept (``remember``), whether or not this delivery kept it: a
        redelivery after a crash decides the same again.
        """
        cursor = self.collection.find({"event_id": event_id}, sort=[("revision", -1)], limit=2)
        found = [EventDetails.model_validate(document["details"]) async for document in cursor]
        return (
            found[0] if found else None,
            found[1] if len(found) > 1 else None,
        )

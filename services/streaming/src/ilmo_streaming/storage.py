"""Viewers in the streaming service's own database."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.storage import Document


class ViewerStore:
    """Registrants who may need a personal stream link, one document per registration."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.viewers: AsyncCollection[Document] = database["viewers"]

    async def create_indexes(self) -> None:
        await self.viewers.create_index("event_id")

    async def enrol(self, accepted: RegistrationAccepted) -> None:
        """Enrol a registrant once, whatever is redelivered."""
        await self.viewers.update_one(
            {"_id": str(accepted.registration_id)},
            {
                "$setOnInsert": {
                    "event_id": accepted.event_id,
                    "attendance": accepted.attendance.value,
                }
            },
            upsert=True,
        )

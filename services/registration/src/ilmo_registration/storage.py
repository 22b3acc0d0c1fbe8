"""Registrations in the service's own MongoDB database, each with its outbox."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.outbox import OUTBOX_FIELD, outbox_entry
from ilmo_shared.storage import Document


class RegistrationStore:
    """Stores a registration and its pending events in one document, in one write."""

    def __init__(self, database: AsyncDatabase[Document], *, source: str) -> None:
        self.registrations: AsyncCollection[Document] = database["registrations"]
        self._source = source

    async def create_indexes(self) -> None:
        await self.registrations.create_index(
            [("event_id", ASCENDING), ("registered_at", ASCENDING)]
        )

    async def add(self, accepted: RegistrationAccepted) -> None:
        """Durably store the registration together with its ``registration.accepted`` event."""
        document = {
            "_id": str(accepted.registration_id),
            "event_id": accepted.event_id,
            "attendance": accepted.attendance.value,
            "language": accepted.language.value,
            "first_name": accepted.first_name,
            "last_name": accepted.last_name,
            "email": accepted.email,
            "organisation": accepted.organisation,
            "registered_at": accepted.registered_at,
            "status": "accepted",
            OUTBOX_FIELD: [outbox_entry(accepted, source=self._source)],
        }
        await self.registrations.insert_one(document)

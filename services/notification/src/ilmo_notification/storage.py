"""Contact details in the notification service's own database.

The service keeps what it needs to write to a registrant, taken from
``registration.accepted``; it never asks the registration service.
"""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.storage import Document


class ContactStore:
    """One contact document per registration."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.contacts: AsyncCollection[Document] = database["contacts"]

    async def create_indexes(self) -> None:
        await self.contacts.create_index("event_id")

    async def remember(self, accepted: RegistrationAccepted) -> None:
        """Keep the registrant's contact details; a repeat of the same event is a no-op."""
        await self.contacts.update_one(
            {"_id": str(accepted.registration_id)},
            {
                "$setOnInsert": {
                    "event_id": accepted.event_id,
                    "email": accepted.email,
                    "first_name": accepted.first_name,
                    "last_name": accepted.last_name,
                    "language": accepted.language.value,
                }
            },
            upsert=True,
        )

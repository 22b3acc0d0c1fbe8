"""``contacts``: how to reach each registrant, one document per registration.

Kept from ``registration.accepted`` (``_id`` = registration id): the service
never asks the registration service.

On ``registration.erased`` the contact is replaced by a tombstone (``_id``,
event id, ``erased_at``): nothing of the person is left, and an
acceptance that arrives late (redelivered, or behind the erasure) finds the
``_id`` taken and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import Attendance, Language, RegistrationAccepted
from ilmo_notification.domain import Contact
from ilmo_notification.storage.documents import by_ids, insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import Document

CONTACTS = "contacts"
ERASED_AT = "erased_at"


def _contact(document: Mapping[str, Any]) -> Contact:
    return Contact(
        registration_id=str(document["_id"]),
        event_id=str(document["event_id"]),
        email=str(document["email"]),
        first_name=str(document["first_name"]),
        last_name=str(document["last_name"]),
        language=Language(document["language"]),
        attendance=Attendance(document["attendance"]),
    )


class ContactStore:
    """The registrants' contact details, this service's own copy."""

    def __init__(self, database: AsyncDatabase[Document], *, clock: Clock = utc_now) -> None:
        self.collection: AsyncCollection[Document] = database[CONTACTS]
        self._clock = clock

    async def create_indexes(self) -> None:
        await self.collection.create_index("event_id")

    async def remember(self, accepted: RegistrationAccepted) -> bool:
        """Keep how to reach the registrant; False when it was already kept."""
        return await insert_new(
            self.collection,
            {
                "_id": str(accepted.registration_id),
                "event_id": accepted.event_id,
                "email": str(accepted.email),
                "first_name": accepted.first_name,
                "last_name": accepted.last_name,
                "language": accepted.language.value,
                "attendance": accepted.attendance.value,
                "registered_at": accepted.registered_at,
                "stored_at": self._clock(),
            },
        )

    async def of(self, registration_ids: Iterable[str]) -> dict[str, Contact]:
        """The contacts of those registrations that have arrived (and are not erased), by id."""
        found = await by_ids(self.collection, registration_ids)
        return {
            document_id: _contact(document)
            for document_id, document in found.items()
            if ERASED_AT not in document
        }

    async def erase(self, registration_id: str, event_id: str, now: datetime) -> None:
        """Replace the contact by its tombstone (also when it has not arrived yet)."""
        await self.collection.replace_one(
            {"_id": registration_id},
            {"_id": registration_id, "event_id": event_id, ERASED_AT: now},
            upsert=True,
        )

    async def is_erased(self, registration_id: str) -> bool:
        """Whether the registration's personal data was erased (one ``_id`` lookup)."""
        document = await self.collection.find_one(
            {"_id": registration_id}, projection={ERASED_AT: 1}
        )
        return document is not None and ERASED_AT in document

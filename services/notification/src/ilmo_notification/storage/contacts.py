"""``contacts``: how to reach each registrant, one document per registration.

Kept from ``registration.submitted`` (a registration waiting for its address
to be confirmed) or ``registration.accepted``, whichever comes first (``_id``
= registration id): the service never asks the registration service. A
registration that expired unconfirmed is forgotten (``forget``).

On ``registration.details_changed`` the names and language are replaced,
if the change is newer than what the copy holds (``details_version``, 0
for the details of the registration itself): corrections that arrive late
or twice change nothing.

On ``registration.erased`` the contact is replaced by a tombstone (``_id``,
event id, ``erased_at``): nothing of the person is left, and an
acceptance or a correction that arrives late (redelivered, or behind the
erasure) finds the ``_id`` taken, or the tombstone, and stores nothing.
Corrections and erasures of one contact take its lock (``DocumentLocks``):
FerretDB v1 applies an update by reading and writing back the whole
document, which must never write a contact back over its tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import (
    Attendance,
    Language,
    RegistrationAccepted,
    RegistrationDetailsChanged,
    RegistrationSubmitted,
)
from ilmo_notification.domain import Contact, ContactCorrection, newer_details
from ilmo_notification.storage.documents import by_ids, insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import Document, DocumentLocks

CONTACTS = "contacts"
ERASED_AT = "erased_at"
DETAILS_VERSION = "details_version"
# A correction that lost to a concurrent one is decided again this often.
CORRECTION_ATTEMPTS = 5


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

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        clock: Clock = utc_now,
        locks: DocumentLocks | None = None,
    ) -> None:
        self.collection: AsyncCollection[Document] = database[CONTACTS]
        self._clock = clock
        self._locks = locks if locks is not None else DocumentLocks()

    async def create_indexes(self) -> None:
        await self.collection.create_index("event_id")

    async def remember(self, fact: RegistrationAccepted | RegistrationSubmitted) -> bool:
        """Keep how to reach the registrant; False when it was already kept.

        A confirmed registration's contact was kept from its submission; the
        acceptance carries the same details, so the first copy stands.
        """
        taken_at = (
            fact.submitted_at if isinstance(fact, RegistrationSubmitted) else fact.registered_at
        )
        return await insert_new(
            self.collection,
            {
                "_id": str(fact.registration_id),
                "event_id": fact.event_id,
                "email": str(fact.email),
                "first_name": fact.first_name,
                "last_name": fact.last_name,
                "language": fact.language.value,
                "attendance": fact.attendance.value,
                "registered_at": taken_at,
                "stored_at": self._clock(),
            },
        )

    async def correct(self, changed: RegistrationDetailsChanged) -> ContactCorrection:
        """Take the registrant's corrected names and language, if newer than the copy's.

        Conditional on the version read, so that of two corrections written
        at once the newer stands on MongoDB too; one that lost is decided
        again from what won.
        """
        registration_id = str(changed.registration_id)
        for _ in range(CORRECTION_ATTEMPTS):
            document = await self.collection.find_one(
                {"_id": registration_id}, projection={ERASED_AT: 1, DETAILS_VERSION: 1}
            )
            if document is None:
                return ContactCorrection.NOT_KEPT
            if ERASED_AT in document:
                return ContactCorrection.ERASED
            known = document.get(DETAILS_VERSION)
            if not newer_details(int(known or 0), changed.details_version):
                return ContactCorrection.STALE
            async with self._locks.hold(CONTACTS, registration_id):
                result = await self.collection.update_one(
                    {"_id": registration_id, ERASED_AT: None, DETAILS_VERSION: known},
                    {
                        "$set": {
                            "first_name": changed.first_name,
                            "last_name": changed.last_name,
                            "language": changed.language.value,
                            DETAILS_VERSION: changed.details_version,
                            "details_changed_at": changed.changed_at,
                        }
                    },
                )
            if result.matched_count == 1:
                return ContactCorrection.APPLIED
        return ContactCorrection.STALE

    async def forget(self, registration_id: str) -> bool:
        """Remove the contact of a registration that expired unconfirmed; False if none."""
        result = await self.collection.delete_one({"_id": registration_id})
        return result.deleted_count == 1

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
        async with self._locks.hold(CONTACTS, registration_id):
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

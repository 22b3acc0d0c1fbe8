"""Check-ins at the door: one document per registration checked in, ``_id`` = registration id.

Checking in is an insert: two door phones scanning the same code at the
same moment (or one scanning twice) make one insert succeed and the other
fail on the ``_id``, on FerretDB (whose updates are a read then a write)
as on MongoDB, across processes, without a lock. The document holds the
event, the time, how the person was found (``qr``/``search``), whether
they were let in without a seat, and, in the same write, the outbox
entries of ``attendance.checked_in`` and its integration form (ids and
times only), which the relay publishes like any other entry. The
registration document gets a copy of the time afterwards
(``RegistrationStore.mark_checked_in``) for the listing and the export.

An erasure keeps the check-in: it holds no personal data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import AttendanceCheckedIn, CheckInMethod
from ilmo_event_contracts.integration import integration_form
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import Document

CHECK_IN_COLLECTION = "check_ins"
# One check-in per registration, so one envelope id per registration.
_CHECK_IN_IDS = uuid.UUID("a4e1c9d2-6b3f-4f71-8e25-1d7c0b9a5e63")


@dataclass(frozen=True)
class CheckIn:
    registration_id: str
    event_id: str
    checked_in_at: datetime
    method: CheckInMethod
    without_seat: bool = False


class CheckInStore:
    """The check-ins, each inserted once with its event (see the module's docstring)."""

    def __init__(self, database: AsyncDatabase[Document], *, outbox: Outbox) -> None:
        self.check_ins: AsyncCollection[Document] = database[CHECK_IN_COLLECTION]
        self._outbox = outbox

    async def add(self, check_in: CheckIn) -> CheckIn | None:
        """Store the check-in with its event; None when stored, else the earlier check-in."""
        fact = AttendanceCheckedIn(
            registration_id=uuid.UUID(check_in.registration_id),
            event_id=check_in.event_id,
            checked_in_at=check_in.checked_in_at,
            method=check_in.method,
        )
        document = {
            "_id": check_in.registration_id,
            "event_id": check_in.event_id,
            "checked_in_at": check_in.checked_in_at,
            "method": check_in.method.value,
            "without_seat": check_in.without_seat,
            OUTBOX_FIELD: self._outbox.entries(
                fact,
                integration_form(fact),
                envelope_id=str(uuid.uuid5(_CHECK_IN_IDS, check_in.registration_id)),
            ),
        }
        try:
            await self.check_ins.insert_one(document)
        except DuplicateKeyError:
            earlier = await self.get(check_in.registration_id)
            # Gone between the insert and the read only if erased by hand: still "earlier".
            return earlier or check_in
        self._outbox.inserted(document)
        return None

    async def get(self, registration_id: str) -> CheckIn | None:
        document = await self.check_ins.find_one(
            {"_id": registration_id}, projection={OUTBOX_FIELD: 0}
        )
        if document is None:
            return None
        return CheckIn(
            registration_id=str(document["_id"]),
            event_id=str(document["event_id"]),
            checked_in_at=document["checked_in_at"],
            method=CheckInMethod(document["method"]),
            without_seat=bool(document.get("without_seat", False)),
        )

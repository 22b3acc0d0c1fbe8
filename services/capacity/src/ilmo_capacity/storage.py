"""Seat requests in the capacity service's own database."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.storage import Document


class SeatRequestStore:
    """Registrations the capacity service has heard of, one document per registration."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.requests: AsyncCollection[Document] = database["seat_requests"]

    async def create_indexes(self) -> None:
        await self.requests.create_index("event_id")

    async def record(self, accepted: RegistrationAccepted, event_id: str) -> None:
        """Record a registration once; a redelivery finds it already there and changes nothing."""
        await self.requests.update_one(
            {"_id": str(accepted.registration_id)},
            {
                "$setOnInsert": {
                    "event_id": accepted.event_id,
                    "attendance": accepted.attendance.value,
                    "accepted_event_id": event_id,
                    "received_at": datetime.now(UTC),
                }
            },
            upsert=True,
        )

"""HTTP entry points for web and mobile clients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from ilmo_registration.domain import Registrant, accept
from ilmo_registration.storage import RegistrationStore
from ilmo_shared.contracts import Attendance, Language
from ilmo_shared.outbox import OutboxRelay

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Organisation = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class RegistrationRequest(BaseModel):
    """What a client posts to register someone."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name
    last_name: Name
    email: EmailStr
    organisation: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None
    attendance: Attendance
    language: Language


class RegistrationReceipt(BaseModel):
    """The answer to an accepted registration."""

    id: str
    status: str = Field(examples=["accepted"])


def registration_router(store: RegistrationStore, relay: OutboxRelay) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registrations"])

    @router.post(
        "/events/{event_id}/registrations",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=RegistrationReceipt,
    )
    async def register(
        event_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")],
        request: RegistrationRequest,
    ) -> RegistrationReceipt:
        registrant = Registrant(
            first_name=request.first_name,
            last_name=request.last_name,
            email=str(request.email),
            organisation=request.organisation or None,
            attendance=request.attendance,
            language=request.language,
        )
        accepted = accept(event_id, registrant, datetime.now(UTC))
        await store.add(accepted)
        relay.notify()
        return RegistrationReceipt(id=str(accepted.registration_id), status="accepted")

    return router

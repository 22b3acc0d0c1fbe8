"""The capacity service's HTTP API for operators: the seat counts of an event.

Served on the operations listener only (``ServiceParts.operator_routers``).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ilmo_capacity import CATALOGUE
from ilmo_capacity.usecases import Seats
from ilmo_shared.http.problems import Problem, ProblemRoute, problem_responses
from ilmo_shared.i18n import _


class SeatCounts(BaseModel):
    """How many seats an event has, how many are held and how many people wait."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    capacity: int = Field(ge=0, description="In-person seats at the venue.")
    reserved: int = Field(
        ge=0,
        description="Seats held. Exceeds capacity only if the capacity was lowered "
        "below the seats already held; nobody loses a seat.",
    )
    waitlisted: int = Field(ge=0, description="People on the waiting list.")


def seats_router(use_cases: Seats) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["seats"], route_class=ProblemRoute)

    @router.get(
        "/events/{event_id}/seats",
        response_model=SeatCounts,
        responses=problem_responses(_404="Capacity has not heard of this event."),
        summary="Seats of an event",
    )
    async def seats(event_id: str) -> SeatCounts:
        inventory = await use_cases.of_event(event_id) if 0 < len(event_id) <= 100 else None
        if inventory is None or inventory.capacity is None:
            raise Problem(
                404,
                "event-not-found",
                _("Event not found"),
                _("No published event with this id is known to the capacity service."),
                catalogue=CATALOGUE,
            )
        return SeatCounts(
            event_id=event_id,
            capacity=inventory.capacity,
            reserved=inventory.reserved,
            waitlisted=inventory.waitlisted,
        )

    return router

"""The capacity service's HTTP API for operators: the seat counts of an event.

Served on the operations listener only (``ServiceParts.operator_routers``).
"""

from __future__ import annotations

from datetime import datetime

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
    over_capacity: int = Field(
        default=0,
        ge=0,
        description="Seats held beyond the capacity, after it was lowered (reserved - capacity, "
        "or 0). They stay with their holders.",
    )
    free: int = Field(
        default=0, ge=0, description="Seats nobody holds (capacity - reserved, or 0)."
    )
    promotion_closes_at: datetime | None = Field(
        default=None,
        description="From this moment a freed seat stays free instead of going to the first "
        "on the waiting list (the event's start minus its promotion cutoff); null while the "
        "start is not known.",
    )
    promotion_closed: bool = Field(
        default=False,
        description="Whether promotion has stopped: past promotion_closes_at, or the event "
        "was cancelled.",
    )


def seats_router(use_cases: Seats) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["seats"], route_class=ProblemRoute)

    @router.get(
        "/events/{event_id}/seats",
        response_model=SeatCounts,
        responses=problem_responses(_404="Capacity has not heard of this event."),
        summary="Seats of an event",
    )
    async def seats(event_id: str) -> SeatCounts:
        counts = await use_cases.counts(event_id) if 0 < len(event_id) <= 100 else None
        if counts is None:
            raise Problem(
                404,
                "event-not-found",
                _("Event not found"),
                _("No published event with this id is known to the capacity service."),
                catalogue=CATALOGUE,
            )
        return SeatCounts(
            event_id=event_id,
            capacity=counts.capacity,
            reserved=counts.reserved,
            waitlisted=counts.waitlisted,
            over_capacity=counts.over_capacity,
            free=counts.free,
            promotion_closes_at=counts.promotion_closes_at,
            promotion_closed=counts.promotion_closed,
        )

    return router

"""Seat decisions as the events other services and integrators read.

A decision and its event have the same name (``domain.SeatReserved`` becomes
``SeatReserved``): the event adds what the wire needs, the event id and the
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from ilmo_capacity import domain
from ilmo_capacity.domain import Decision
from ilmo_event_contracts import (
    InternalEvent,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    WaitlistLeft,
)


def seat_event(event_id: str, decision: Decision, at: datetime) -> InternalEvent:
    """The event announcing ``decision`` about a seat of ``event_id``, made at ``at``."""
    registration_id = UUID(decision.registration_id)
    match decision:
        case domain.SeatReserved(promoted=promoted, attendance_version=version):
            return SeatReserved(
                registration_id=registration_id,
                event_id=event_id,
                promoted=promoted,
                reserved_at=at,
                attendance_version=version,
            )
        case domain.SeatWaitlisted(position=position, attendance_version=version):
            return SeatWaitlisted(
                registration_id=registration_id,
                event_id=event_id,
                position=position,
                waitlisted_at=at,
                attendance_version=version,
            )
        case domain.SeatReleased(attendance_version=version):
            return SeatReleased(
                registration_id=registration_id,
                event_id=event_id,
                released_at=at,
                attendance_version=version,
            )
        case domain.WaitlistLeft(attendance_version=version):
            return WaitlistLeft(
                registration_id=registration_id,
                event_id=event_id,
                left_at=at,
                attendance_version=version,
            )


def seat_events(event_id: str, decisions: Sequence[Decision], at: datetime) -> list[InternalEvent]:
    return [seat_event(event_id, decision, at) for decision in decisions]


def decision_kind(decision: Decision) -> str:
    """A short label for metrics: the routing key of the event the decision becomes."""
    match decision:
        case domain.SeatReserved(promoted=True):
            return "seat.reserved.promoted"
        case domain.SeatReserved():
            return "seat.reserved"
        case domain.SeatWaitlisted():
            return "seat.waitlisted"
        case domain.SeatReleased():
            return "seat.released"
        case domain.WaitlistLeft():
            return "waitlist.left"

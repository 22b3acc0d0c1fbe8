"""Message handlers of the capacity service: each message as a call of a use case.

Handlers only read the message; what it does to the seats is ``usecases``.
The envelope id goes along, so that a redelivered message changes nothing.
"""

from __future__ import annotations

from ilmo_capacity.usecases import Seats
from ilmo_event_contracts import (
    Envelope,
    EventDetails,
    RegistrationAccepted,
    RegistrationCancelled,
)


async def event_details_changed(seats: Seats, event: EventDetails, envelope: Envelope) -> None:
    """``event.published`` / ``event.updated``: the in-person capacity, at a revision."""
    await seats.apply_details(
        event.event_id, event.in_person_capacity, event.revision, message_id=envelope.id
    )


async def registration_accepted(
    seats: Seats, event: RegistrationAccepted, envelope: Envelope
) -> None:
    """A registration asks for a seat (if it is in person)."""
    await seats.request_seat(
        event.event_id, str(event.registration_id), event.attendance, message_id=envelope.id
    )


async def registration_cancelled(
    seats: Seats, event: RegistrationCancelled, envelope: Envelope
) -> None:
    """A registration gives its seat or its place in line back (if it is in person)."""
    await seats.cancel(
        event.event_id, str(event.registration_id), event.attendance, message_id=envelope.id
    )

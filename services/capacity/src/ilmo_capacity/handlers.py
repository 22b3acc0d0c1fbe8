"""Message handlers of the capacity service: each message as a call of a use case.

Handlers only read the message; what it does to the seats is ``usecases``.
The envelope id goes along, so that a redelivered message changes nothing.
"""

from __future__ import annotations

from functools import partial

from ilmo_capacity.usecases import Seats
from ilmo_event_contracts import (
    Envelope,
    EventDetails,
    EventPublished,
    EventUpdated,
    RegistrationAccepted,
    RegistrationCancelled,
)
from ilmo_shared.messaging.subscription import Subscription


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


def seat_subscription(service: str, seats: Seats) -> Subscription:
    """``capacity.seat-decisions``: everything that changes an event's seats, in arrival order.

    One active consumer at a time (the others stand by): decisions about seats
    must not race between replicas. Inside the active one the store takes a
    lock per event, and the store's versioned writes are the last defence.
    """
    details = partial(event_details_changed, seats)
    return (
        Subscription(service, "seat-decisions", single_active_consumer=True)
        .on(EventPublished, details)
        .on(EventUpdated, details)
        .on(RegistrationAccepted, partial(registration_accepted, seats))
        .on(RegistrationCancelled, partial(registration_cancelled, seats))
    )

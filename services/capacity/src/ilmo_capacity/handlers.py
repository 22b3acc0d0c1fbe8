"""Message handlers of the capacity service: each message as a call of a use case.

Handlers only read the message; what it does to the seats is ``usecases``.
The envelope id goes along, so that a redelivered message changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from ilmo_capacity.domain import EventTerms
from ilmo_capacity.usecases import Seats
from ilmo_event_contracts import (
    Envelope,
    EventCancelled,
    EventDetails,
    EventPublished,
    EventUpdated,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    RegistrationErased,
)
from ilmo_shared.messaging.subscription import Subscription


def event_terms(event: EventDetails) -> EventTerms:
    """What capacity keeps of an event's details."""
    return EventTerms(
        capacity=event.in_person_capacity,
        revision=event.revision,
        starts_at=event.starts_at,
        promotion_cutoff_minutes=event.promotion_cutoff_minutes,
        cancelled=event.cancelled_at is not None,
    )


async def event_details_changed(seats: Seats, event: EventDetails, envelope: Envelope) -> None:
    """``event.published`` / ``event.updated`` / ``event.cancelled``: the event's seat terms.

    The in-person capacity, the start and the promotion cutoff, at a
    revision; ``event.cancelled`` carries the same details with
    ``cancelled_at`` set, and from then on nobody is promoted or seated.
    """
    await seats.apply_details(event.event_id, event_terms(event), message_id=envelope.id)


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
    """A registration gives its seat or its place in line back (if it has one)."""
    await seats.cancel(
        event.event_id, str(event.registration_id), event.attendance, message_id=envelope.id
    )


async def attendance_changed(
    seats: Seats, event: RegistrationAttendanceChanged, envelope: Envelope
) -> None:
    """A registrant switched: a seat (or a place in line) is asked for or given back."""
    await seats.switch(
        event.event_id,
        str(event.registration_id),
        event.attendance,
        event.attendance_version,
        message_id=envelope.id,
    )


# Drops a registration's messages from the service's dead-letter queue
# (``ilmo_shared.dead_letters.ParkedErasure.erase``).
EraseParked = Callable[[str], Awaitable[int]]


async def _nothing_parked(_registration_id: str) -> int:
    return 0


async def registration_erased(
    erase_parked: EraseParked, event: RegistrationErased, _envelope: Envelope
) -> None:
    """A registration was erased: only the messages parked here about it need to go.

    Capacity keeps registration ids, seat states and times, no personal
    data, and those are what statistics need. A registration that still
    held a seat was cancelled in the same write as its erasure, and that
    ``registration.cancelled`` (handled before this, same queue) freed it.
    """
    await erase_parked(str(event.registration_id))


def seat_subscription(
    service: str, seats: Seats, erase_parked: EraseParked = _nothing_parked
) -> Subscription:
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
        .on(EventCancelled, details)
        .on(RegistrationAccepted, partial(registration_accepted, seats))
        .on(RegistrationAttendanceChanged, partial(attendance_changed, seats))
        .on(RegistrationCancelled, partial(registration_cancelled, seats))
        .on(RegistrationErased, partial(registration_erased, erase_parked))
    )

"""Message handlers of the streaming service: each message as a call of a use case.

Handlers only read the message; what it does to links is ``usecases``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import structlog

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
    SeatReserved,
    SeatWaitlisted,
)
from ilmo_shared.messaging.subscription import Subscription
from ilmo_streaming.usecases import LinkKeeper

log = structlog.get_logger(__name__)

# Drops a registration's messages from the service's dead-letter queue
# (``ilmo_shared.dead_letters.ParkedErasure.erase``).
EraseParked = Callable[[str], Awaitable[int]]


async def _nothing_parked(_registration_id: str) -> int:
    return 0


async def event_details_changed(keeper: LinkKeeper, event: EventDetails, _: Envelope) -> None:
    """``event.published`` / ``event.updated`` / ``event.cancelled``: keep the newest details.

    Links waiting for the details are provisioned, unless the event was cancelled.
    """
    await keeper.apply_details(event)


async def registration_accepted(
    keeper: LinkKeeper, event: RegistrationAccepted, _: Envelope
) -> None:
    """A remote registrant gets a link; an in-person one only if waitlisted later."""
    await keeper.accept(event.registration_id, event.event_id, event.attendance)


async def seat_waitlisted(keeper: LinkKeeper, event: SeatWaitlisted, _: Envelope) -> None:
    """No seat yet: the registrant can follow the stream meanwhile."""
    await keeper.grant(event.registration_id, event.event_id, event.attendance_version)


async def attendance_changed(
    keeper: LinkKeeper, event: RegistrationAttendanceChanged, _: Envelope
) -> None:
    """To remote: a link, or the one they have announced again; to on site: the link is kept."""
    await keeper.switch(
        event.registration_id, event.event_id, event.attendance, event.attendance_version
    )


async def seat_reserved(_keeper: LinkKeeper, event: SeatReserved, _: Envelope) -> None:
    """A seat (perhaps after waiting): a link already provisioned is kept, so nothing changes."""
    log.debug("seat_reserved_link_kept", event_id=event.event_id, promoted=event.promoted)


async def registration_cancelled(
    keeper: LinkKeeper, event: RegistrationCancelled, _: Envelope
) -> None:
    """The link stops working; if it was not provisioned yet, it never will be."""
    await keeper.revoke(event.registration_id, event.event_id)


async def registration_erased(
    keeper: LinkKeeper, erase_parked: EraseParked, event: RegistrationErased, _: Envelope
) -> None:
    """The registration was erased: its link is revoked for good (the watch link answers 410).

    Streaming keeps no personal data of its own (the token is derived from
    the registration id and the secret, never stored): the revoked link is
    the tombstone. A registration cancelled as part of its erasure is
    revoked already, and this changes nothing. Then the service's parked
    messages about the registration go.
    """
    await keeper.revoke(event.registration_id, event.event_id)
    await erase_parked(str(event.registration_id))


def link_subscription(
    service: str, keeper: LinkKeeper, erase_parked: EraseParked = _nothing_parked
) -> Subscription:
    """``streaming.stream-links``: everything that gives or takes a link, on one queue.

    Competing consumers: transitions are per registration and conditional
    (atomic on MongoDB), so replicas need not take turns; within a process the
    document locks serialize them.
    """
    details = partial(event_details_changed, keeper)
    return (
        Subscription(service, "stream-links")
        .on(EventPublished, details)
        .on(EventUpdated, details)
        .on(EventCancelled, details)
        .on(RegistrationAccepted, partial(registration_accepted, keeper))
        .on(RegistrationAttendanceChanged, partial(attendance_changed, keeper))
        .on(SeatWaitlisted, partial(seat_waitlisted, keeper))
        .on(SeatReserved, partial(seat_reserved, keeper))
        .on(RegistrationCancelled, partial(registration_cancelled, keeper))
        .on(RegistrationErased, partial(registration_erased, keeper, erase_parked))
    )

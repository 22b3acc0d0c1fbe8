"""Message handlers of the notification service: each event to the use case it asks for.

Events that carry what a mail says (an event's details, a registrant's
contact) are kept; each event that asks for a mail becomes a ``MailRequest``
of one kind, with what the mail will say about it. The use cases
(``usecases.Notifications``) record them; the dispatcher sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ilmo_event_contracts import (
    Envelope,
    EventDetails,
    EventPublished,
    EventUpdated,
    InternalEvent,
    NotificationKind,
    RegistrationAccepted,
    RegistrationCancelled,
    RegistrationDetailsChanged,
    RegistrationErased,
    RegistrationExpired,
    RegistrationRepeated,
    RegistrationSubmitted,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
)
from ilmo_notification.domain import MailRequest, cause_of_version
from ilmo_notification.usecases import Notifications
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.messaging.subscription import Handler, Subscription

E = TypeVar("E", bound=InternalEvent)
# Drops a registration's messages from the service's dead-letter queue
# (``ilmo_shared.dead_letters.ParkedErasure.erase``).
EraseParked = Callable[[str], Awaitable[int]]


async def _nothing_parked(_registration_id: str) -> int:
    return 0


def seat_confirmed(event: SeatReserved) -> MailRequest:
    return MailRequest(
        str(event.registration_id),
        event.event_id,
        NotificationKind.SEAT_CONFIRMED,
        {"promoted": event.promoted, "reserved_at": event.reserved_at},
        cause_of_version(event.attendance_version),
    )


def waitlisted(event: SeatWaitlisted) -> MailRequest:
    return MailRequest(
        str(event.registration_id),
        event.event_id,
        NotificationKind.WAITLISTED,
        {"position": event.position, "waitlisted_at": event.waitlisted_at},
        cause_of_version(event.attendance_version),
    )


def stream_link(event: StreamLinkProvisioned) -> MailRequest:
    return MailRequest(
        str(event.registration_id),
        event.event_id,
        NotificationKind.STREAM_LINK,
        {"url": event.url, "valid_from": event.valid_from, "valid_until": event.valid_until},
        cause_of_version(event.attendance_version),
    )


def cancellation_confirmed(event: RegistrationCancelled) -> MailRequest:
    return MailRequest(
        str(event.registration_id),
        event.event_id,
        NotificationKind.CANCELLATION_CONFIRMED,
        # The attendance when cancelling: the contact's is the one registered with.
        {"cancelled_at": event.cancelled_at, "attendance": event.attendance.value},
    )


def email_subscription(
    service: str,
    notifications: Notifications,
    erase_parked: EraseParked = _nothing_parked,
    clock: Clock = utc_now,
) -> Subscription:
    """``<service>.emails``: everything that asks for a mail or is needed to write one.

    Competing consumers are fine here (no single active consumer): every
    use case only inserts on unique keys, which stays right under any
    interleaving and any number of replicas.
    """

    async def event_details_changed(event: EventDetails, _envelope: Envelope) -> None:
        await notifications.event_details_changed(event)

    async def registration_accepted(event: RegistrationAccepted, envelope: Envelope) -> None:
        await notifications.registration_accepted(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def registration_erased(event: RegistrationErased, _envelope: Envelope) -> None:
        # The database first, then the parked messages; a retry repeats both harmlessly.
        await notifications.registration_erased(event, clock())
        await erase_parked(str(event.registration_id))

    async def registration_submitted(event: RegistrationSubmitted, envelope: Envelope) -> None:
        await notifications.registration_submitted(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def registration_repeated(event: RegistrationRepeated, envelope: Envelope) -> None:
        await notifications.registration_repeated(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def registration_details_changed(
        event: RegistrationDetailsChanged, _envelope: Envelope
    ) -> None:
        await notifications.registration_details_changed(event)

    async def registration_expired(event: RegistrationExpired, _envelope: Envelope) -> None:
        await notifications.registration_expired(event)

    def asking_for(mail: Callable[[E], MailRequest]) -> Handler[E]:
        async def handle(event: E, envelope: Envelope) -> None:
            await notifications.ask_for(
                mail(event), cause=envelope.id, correlation_id=envelope.correlationid
            )

        return handle

    return (
        Subscription(service, "emails")
        .on(EventPublished, event_details_changed)
        .on(EventUpdated, event_details_changed)
        .on(RegistrationSubmitted, registration_submitted)
        .on(RegistrationRepeated, registration_repeated)
        .on(RegistrationExpired, registration_expired)
        .on(RegistrationDetailsChanged, registration_details_changed)
        .on(RegistrationAccepted, registration_accepted)
        .on(SeatReserved, asking_for(seat_confirmed))
        .on(SeatWaitlisted, asking_for(waitlisted))
        .on(StreamLinkProvisioned, asking_for(stream_link))
        .on(RegistrationCancelled, asking_for(cancellation_confirmed))
        .on(RegistrationErased, registration_erased)
    )

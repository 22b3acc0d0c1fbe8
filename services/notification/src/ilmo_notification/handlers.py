"""Message handlers of the notification service: each event to the use case it asks for.

Events that carry what a mail says (an event's details, a registrant's
contact) are kept; each event that asks for a mail becomes a ``MailRequest``
of one kind, with what the mail will say about it. The use cases
(``usecases.Notifications``) record them; the dispatcher sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ilmo_event_contracts import (
    Envelope,
    EventCancelled,
    EventDetails,
    EventPublished,
    EventUpdated,
    MessageRequested,
    NotificationKind,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    RegistrationDetailsChanged,
    RegistrationErased,
    RegistrationExpired,
    RegistrationManageLinkRequested,
    RegistrationRepeated,
    RegistrationSubmitted,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
    WaitlistLeft,
)
from ilmo_notification.domain import MailRequest, cause_of_version
from ilmo_notification.usecases import Broadcasts, Notifications
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.messaging.subscription import Subscription

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
    broadcasts: Broadcasts,
    erase_parked: EraseParked = _nothing_parked,
    clock: Clock = utc_now,
) -> Subscription:
    """``<service>.emails``: everything that asks for a mail or is needed to write one.

    Mail intents and kept facts are inserts on unique keys, right under any
    interleaving. The roster (``broadcasts``) is a read-then-write per member
    under the process's locks, which take a lease between replicas on
    FerretDB v1 (see ``storage.roster``); on MongoDB each write is one
    atomic write of the member's own document, conditional on it as read.
    """

    async def event_details_changed(event: EventDetails, _envelope: Envelope) -> None:
        await notifications.event_details_changed(event)
        await broadcasts.event_details_changed(event)

    async def event_cancelled(event: EventCancelled, _envelope: Envelope) -> None:
        await notifications.event_details_changed(event)
        await broadcasts.event_cancelled(event)

    async def registration_accepted(event: RegistrationAccepted, envelope: Envelope) -> None:
        # The contact first: kept just now, it is known not to be erased (no
        # read of it per step). Then the roster, before the receipt: a
        # broadcast expanded meanwhile finds the member.
        kept = await notifications.keep_contact(event)
        await broadcasts.registration_accepted(event, contact_kept=kept)
        await notifications.registration_accepted(
            event, cause=envelope.id, correlation_id=envelope.correlationid, contact_kept=kept
        )

    async def registration_erased(event: RegistrationErased, _envelope: Envelope) -> None:
        # The database first (the tombstone before the roster, so a late acceptance
        # finds it), then the parked messages; a retry repeats both harmlessly.
        await notifications.registration_erased(event, clock())
        await broadcasts.registration_gone(event)
        await erase_parked(str(event.registration_id))

    async def registration_cancelled(event: RegistrationCancelled, envelope: Envelope) -> None:
        await broadcasts.registration_cancelled(event)
        await notifications.ask_for(
            cancellation_confirmed(event), cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def seat_reserved(event: SeatReserved, envelope: Envelope) -> None:
        await broadcasts.seat_reserved(event)
        await notifications.ask_for(
            seat_confirmed(event), cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def seat_waitlisted(event: SeatWaitlisted, envelope: Envelope) -> None:
        await broadcasts.seat_waitlisted(event)
        await notifications.ask_for(
            waitlisted(event), cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def link_provisioned(event: StreamLinkProvisioned, envelope: Envelope) -> None:
        await broadcasts.link_provisioned(event)
        await notifications.ask_for(
            stream_link(event), cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def seat_released(event: SeatReleased, _envelope: Envelope) -> None:
        await broadcasts.seat_released(event)

    async def waitlist_left(event: WaitlistLeft, _envelope: Envelope) -> None:
        await broadcasts.waitlist_left(event)

    async def attendance_changed(event: RegistrationAttendanceChanged, _envelope: Envelope) -> None:
        await broadcasts.attendance_changed(event)

    async def message_requested(event: MessageRequested, _envelope: Envelope) -> None:
        await broadcasts.message_requested(event)

    async def registration_submitted(event: RegistrationSubmitted, envelope: Envelope) -> None:
        await notifications.registration_submitted(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def registration_repeated(event: RegistrationRepeated, envelope: Envelope) -> None:
        await notifications.registration_repeated(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def manage_link_requested(
        event: RegistrationManageLinkRequested, envelope: Envelope
    ) -> None:
        await notifications.manage_link_requested(
            event, cause=envelope.id, correlation_id=envelope.correlationid
        )

    async def registration_details_changed(
        event: RegistrationDetailsChanged, _envelope: Envelope
    ) -> None:
        await notifications.registration_details_changed(event)

    async def registration_expired(event: RegistrationExpired, _envelope: Envelope) -> None:
        await broadcasts.registration_gone(event)
        await notifications.registration_expired(event)

    return (
        Subscription(service, "emails")
        .on(EventPublished, event_details_changed)
        .on(EventUpdated, event_details_changed)
        .on(RegistrationSubmitted, registration_submitted)
        .on(RegistrationRepeated, registration_repeated)
        .on(RegistrationManageLinkRequested, manage_link_requested)
        .on(RegistrationExpired, registration_expired)
        .on(RegistrationDetailsChanged, registration_details_changed)
        .on(RegistrationAccepted, registration_accepted)
        .on(EventCancelled, event_cancelled)
        .on(SeatReserved, seat_reserved)
        .on(SeatWaitlisted, seat_waitlisted)
        .on(SeatReleased, seat_released)
        .on(WaitlistLeft, waitlist_left)
        .on(StreamLinkProvisioned, link_provisioned)
        .on(RegistrationAttendanceChanged, attendance_changed)
        .on(RegistrationCancelled, registration_cancelled)
        .on(RegistrationErased, registration_erased)
        .on(MessageRequested, message_requested)
    )

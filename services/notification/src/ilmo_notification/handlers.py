"""Message handlers of the notification service: they record, the dispatcher sends.

Each handler keeps what arrived (contact details, event details) and records
the intent to send one kind of mail to one registration, with an insert on the
(registration, kind) key, then wakes the dispatcher. None of them talks to the
mail server, so a message is acknowledged as soon as its facts are stored, and
a redelivered or duplicated message finds them already there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from ilmo_event_contracts import (
    Envelope,
    EventDetails,
    EventPublished,
    EventUpdated,
    NotificationKind,
    RegistrationAccepted,
    RegistrationCancelled,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
)
from ilmo_notification.metrics import MAIL_INTENTS
from ilmo_notification.storage import NotificationStore
from ilmo_shared.messaging.subscription import Subscription

Wake = Callable[[], None]

log = structlog.get_logger(__name__)


async def event_details_changed(
    store: NotificationStore, wake: Wake, event: EventDetails, _envelope: Envelope
) -> None:
    """``event.published`` / ``event.updated``: keep the revision; mails use the latest."""
    if await store.remember_event(event):
        log.info("event_details_stored", event_id=event.event_id, revision=event.revision)
        if await store.wake_event(event.event_id):
            wake()


async def registration_accepted(
    store: NotificationStore, wake: Wake, event: RegistrationAccepted, envelope: Envelope
) -> None:
    """Keep the contact (this service's own copy), then ask for the confirmation of receipt."""
    registration_id = str(event.registration_id)
    if await store.remember_contact(event):
        log.info("contact_stored", registration_id=registration_id, event_id=event.event_id)
    await _intent(
        store,
        wake,
        registration_id,
        event.event_id,
        NotificationKind.REGISTRATION_RECEIVED,
        {"attendance": event.attendance.value},
        envelope,
    )
    # Mails asked for before the contact arrived (a seat decided first).
    if await store.wake_registration(registration_id):
        wake()


async def seat_reserved(
    store: NotificationStore, wake: Wake, event: SeatReserved, envelope: Envelope
) -> None:
    await _intent(
        store,
        wake,
        str(event.registration_id),
        event.event_id,
        NotificationKind.SEAT_CONFIRMED,
        {"promoted": event.promoted, "reserved_at": event.reserved_at},
        envelope,
    )


async def seat_waitlisted(
    store: NotificationStore, wake: Wake, event: SeatWaitlisted, envelope: Envelope
) -> None:
    await _intent(
        store,
        wake,
        str(event.registration_id),
        event.event_id,
        NotificationKind.WAITLISTED,
        {"position": event.position, "waitlisted_at": event.waitlisted_at},
        envelope,
    )


async def stream_link_provisioned(
    store: NotificationStore, wake: Wake, event: StreamLinkProvisioned, envelope: Envelope
) -> None:
    await _intent(
        store,
        wake,
        str(event.registration_id),
        event.event_id,
        NotificationKind.STREAM_LINK,
        {"url": event.url, "valid_from": event.valid_from, "valid_until": event.valid_until},
        envelope,
    )


async def registration_cancelled(
    store: NotificationStore, wake: Wake, event: RegistrationCancelled, envelope: Envelope
) -> None:
    await _intent(
        store,
        wake,
        str(event.registration_id),
        event.event_id,
        NotificationKind.CANCELLATION_CONFIRMED,
        {"cancelled_at": event.cancelled_at},
        envelope,
    )


async def _intent(
    store: NotificationStore,
    wake: Wake,
    registration_id: str,
    event_id: str,
    kind: NotificationKind,
    details: Mapping[str, Any],
    envelope: Envelope,
) -> None:
    recorded = await store.record_intent(
        registration_id,
        event_id,
        kind,
        details,
        cause=envelope.id,
        correlation_id=envelope.correlationid,
    )
    MAIL_INTENTS.labels(kind.value, "recorded" if recorded else "duplicate").inc()
    log.debug(
        "mail_intent_recorded" if recorded else "mail_intent_already_recorded",
        registration_id=registration_id,
        kind=kind.value,
        envelope_id=envelope.id,
    )
    if recorded:
        wake()


def email_subscription(service: str, store: NotificationStore, wake: Wake) -> Subscription:
    """``<service>.emails``: everything that asks for a mail or is needed to write one.

    Competing consumers are fine here (no single active consumer): every
    handler only inserts on unique keys, which stays right under any
    interleaving and any number of replicas.
    """

    def bind(handler: Callable[[NotificationStore, Wake, Any, Envelope], Any]) -> Any:
        async def handle(event: Any, envelope: Envelope) -> None:
            await handler(store, wake, event, envelope)

        return handle

    return (
        Subscription(service, "emails")
        .on(EventPublished, bind(event_details_changed))
        .on(EventUpdated, bind(event_details_changed))
        .on(RegistrationAccepted, bind(registration_accepted))
        .on(SeatReserved, bind(seat_reserved))
        .on(SeatWaitlisted, bind(seat_waitlisted))
        .on(StreamLinkProvisioned, bind(stream_link_provisioned))
        .on(RegistrationCancelled, bind(registration_cancelled))
    )

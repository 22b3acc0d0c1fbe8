"""Events that drive the capacity service, the decisions it publishes, and a way to publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ilmo_event_contracts import (
    Attendance,
    Envelope,
    EventDetails,
    EventPublished,
    EventUpdated,
    InternalEvent,
    Language,
    LocalizedText,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    SeatReserved,
    SeatWaitlisted,
    Venue,
)
from ilmo_shared.logging import correlation_scope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.outbox import outbox_entry
from tests.support.producers import CountingPublisher

STARTS_AT = datetime(2026, 9, 18, 9, 0, tzinfo=UTC)


def new_event_id() -> str:
    return f"seminar-{uuid.uuid4().hex[:10]}"


def event_details(
    event_id: str,
    capacity: int,
    *,
    revision: int = 1,
    kind: type[EventDetails] | None = None,
) -> EventDetails:
    """``event.published`` for revision 1, ``event.updated`` after, unless ``kind`` says."""
    event_class = kind or (EventPublished if revision == 1 else EventUpdated)
    return event_class(
        event_id=event_id,
        revision=revision,
        title=LocalizedText(fi="Ministeriön seminaari", sv="Ministeriets seminarium"),
        starts_at=STARTS_AT,
        ends_at=STARTS_AT + timedelta(hours=3),
        timezone="Europe/Helsinki",
        venue=Venue(name="Ministeriön auditorio", address="Esimerkkikatu 1, Helsinki"),
        in_person_capacity=capacity,
        registration_opens_at=STARTS_AT - timedelta(days=30),
        registration_closes_at=STARTS_AT - timedelta(days=7),
        stream_url="https://stream.example.fi/seminar",
        published=True,
    )


def accepted(
    event_id: str,
    *,
    attendance: Attendance = Attendance.IN_PERSON,
    registration_id: uuid.UUID | None = None,
) -> RegistrationAccepted:
    return RegistrationAccepted(
        registration_id=registration_id or uuid.uuid4(),
        event_id=event_id,
        attendance=attendance,
        language=Language.FI,
        first_name="Matti",
        last_name="Meikäläinen",
        email="matti.meikalainen@example.fi",
        registered_at=datetime.now(UTC),
    )


def cancelled(
    registration: RegistrationAccepted,
) -> RegistrationCancelled:
    return RegistrationCancelled(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        attendance=registration.attendance,
        cancelled_at=datetime.now(UTC),
    )


def switched(
    registration: RegistrationAccepted, attendance: Attendance, attendance_version: int
) -> RegistrationAttendanceChanged:
    """The registrant's switch number ``attendance_version - 1`` to ``attendance``."""
    return RegistrationAttendanceChanged(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        attendance=attendance,
        attendance_version=attendance_version,
        changed_at=datetime.now(UTC),
    )


def reserved(registration: RegistrationAccepted, *, promoted: bool = False) -> SeatReserved:
    return SeatReserved(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        promoted=promoted,
        reserved_at=datetime.now(UTC),
    )


def waitlisted(registration: RegistrationAccepted, position: int = 1) -> SeatWaitlisted:
    return SeatWaitlisted(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        position=position,
        waitlisted_at=datetime.now(UTC),
    )


def envelope_for(event: InternalEvent, correlation_id: str | None = None) -> Envelope:
    """The envelope the producer's outbox would give ``event``."""
    with correlation_scope(correlation_id):
        entry = outbox_entry(event, source="ilmo/registration")
    return Envelope.model_validate(entry["envelope"])


async def publish(
    publisher: EventPublisher | CountingPublisher,
    event: InternalEvent,
    *,
    envelope: Envelope | None = None,
    times: int = 1,
) -> Envelope:
    """Publish ``event`` (``times`` times with the same envelope, as a redelivery would)."""
    envelope = envelope or envelope_for(event)
    for _ in range(times):
        await publisher.publish(envelope, event.model_dump_json().encode())
    return envelope

"""Integration events: what outside systems read on the ``ilmo.events`` topic exchange.

Each internal event (``ilmo_event_contracts.events``) that outside systems
may know about has an integration form here, with the same event type as
routing key, published by the same service in the same write as the internal
event. Integration events are their own contracts, with their own schemas
(``urn:ilmo:schema:integration:<type>:v<n>``) and versions: they carry ids,
event ids, attendance modes, languages, states, counts and times, and never a
name, an email address, an organisation, a registrant's needs, a manage or
watch link, an event's ``stream_url`` or a free-text failure reason. A field
is added only if it is none of these; ``tests/unit/test_integration_events.py``
walks every field against that list.

Drafts are not announced: ``event.published`` is sent when an event becomes
published (created published, or changed from a draft to published),
``event.updated`` for each change to a published event, and
``event.withdrawn`` when a published event goes back to being a draft. The
public catalogue (``GET /events/{event_id}`` of the registration service)
shows a published event's texts, venue and agenda.

Within a version changes are additive, so readers ignore fields they do not
know (``extra="ignore"``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ilmo_event_contracts import events
from ilmo_event_contracts.events import (
    Attendance,
    CheckInMethod,
    ErasureReason,
    InternalEvent,
    Language,
    NotificationKind,
)

# The durable topic exchange outside systems bind their queues to; routing key = event type.
INTEGRATION_EXCHANGE = "ilmo.events"


class IntegrationEvent(BaseModel):
    """Base of every integration event: immutable, tolerant of unknown fields when read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def dataschema(cls) -> str:
        """The URI of this event's JSON Schema, carried in the envelope."""
        return f"urn:ilmo:schema:integration:{cls.event_type}:v{cls.schema_version}"

    def subject(self) -> str | None:
        """The CloudEvents ``subject``: the id of the thing the event is about."""
        return None


# ------------------------------------------------------------------ catalogue


class CatalogueFact(IntegrationEvent):
    """About one event of the catalogue: its id is the CloudEvents ``subject``."""

    event_id: str = Field(min_length=1, max_length=100)
    revision: int = Field(ge=1, description="Grows by one with every change of the event.")

    def subject(self) -> str:
        return self.event_id


class EventSchedule(CatalogueFact):
    """The times and the seat count of a published event."""

    starts_at: datetime
    ends_at: datetime
    timezone: str = Field(description="The IANA time zone the event is shown in.")
    registration_opens_at: datetime
    registration_closes_at: datetime
    in_person_capacity: int = Field(ge=0, description="Seats at the venue.")


class EventPublished(EventSchedule):
    """An event became published: created published, or published after being a draft."""

    event_type: ClassVar[str] = "event.published"


class EventUpdated(EventSchedule):
    """A published event was changed (any of its details); carries its new schedule."""

    event_type: ClassVar[str] = "event.updated"


class EventWithdrawn(CatalogueFact):
    """A published event went back to being a draft: it is no longer in the public catalogue."""

    event_type: ClassVar[str] = "event.withdrawn"


class EventCancelled(CatalogueFact):
    """The organiser cancelled a published event: it will not take place."""

    event_type: ClassVar[str] = "event.cancelled"

    cancelled_at: datetime


# -------------------------------------------------------------- registrations


class RegistrationFact(IntegrationEvent):
    """About one registration: its id is the CloudEvents ``subject``."""

    registration_id: UUID
    event_id: str = Field(min_length=1, max_length=100)

    def subject(self) -> str:
        return str(self.registration_id)


class RegistrationAccepted(RegistrationFact):
    """A registration was accepted: how the registrant takes part, and in which language."""

    event_type: ClassVar[str] = "registration.accepted"

    attendance: Attendance
    language: Language
    registered_at: datetime


class RegistrationCancelled(RegistrationFact):
    """A registrant cancelled; their seat or waiting-list place and stream link go."""

    event_type: ClassVar[str] = "registration.cancelled"

    attendance: Attendance
    cancelled_at: datetime


class RegistrationAttendanceChanged(RegistrationFact):
    """A registrant switched between on site and remote (``attendance``, the new choice).

    ``attendance_version`` is 1 at acceptance and one more per switch; the
    seat and stream-link events that answer the switch carry the same number.
    """

    event_type: ClassVar[str] = "registration.attendance_changed"

    attendance: Attendance
    attendance_version: int = Field(ge=2)
    changed_at: datetime


class RegistrationErased(RegistrationFact):
    """The registration's personal data was erased (on request or at the end of retention).

    A system that keeps anything about the registration erases it too; the
    registration's id and counts stay valid for statistics.
    """

    event_type: ClassVar[str] = "registration.erased"

    erased_at: datetime
    # Not ``reason``: that name is kept for free text, which this is not.
    erasure_reason: ErasureReason


class SeatReserved(RegistrationFact):
    """A seat at the venue is held for the registration (``promoted``: from the waiting list)."""

    event_type: ClassVar[str] = "seat.reserved"

    promoted: bool = False
    reserved_at: datetime
    attendance_version: int = Field(
        default=1, ge=1, description="The attendance version this answers (1: acceptance)."
    )


class SeatWaitlisted(RegistrationFact):
    """The venue is full; the registration is on the waiting list at ``position`` (1 = next)."""

    event_type: ClassVar[str] = "seat.waitlisted"

    position: int = Field(ge=1)
    waitlisted_at: datetime
    attendance_version: int = Field(
        default=1, ge=1, description="The attendance version this answers (1: acceptance)."
    )


class SeatReleased(RegistrationFact):
    """A held seat was given back (the registrant cancelled or switched to remote)."""

    event_type: ClassVar[str] = "seat.released"

    released_at: datetime
    attendance_version: int = Field(
        default=1, ge=1, description="The attendance version this answers (1: acceptance)."
    )


class WaitlistLeft(RegistrationFact):
    """A waitlisted registrant cancelled (or switched to remote) and left the waiting list."""

    event_type: ClassVar[str] = "waitlist.left"

    left_at: datetime
    attendance_version: int = Field(
        default=1, ge=1, description="The attendance version this answers (1: acceptance)."
    )


class StreamLinkProvisioned(RegistrationFact):
    """The registrant got a personal stream link, usable from ``valid_from`` to ``valid_until``.

    The link itself is personal and stays inside Ilmo.
    """

    event_type: ClassVar[str] = "stream.link.provisioned"

    valid_from: datetime
    valid_until: datetime
    attendance_version: int = Field(
        default=1, ge=1, description="The attendance version this answers (1: acceptance)."
    )


class StreamLinkRevoked(RegistrationFact):
    """The registrant's personal stream link stopped working (they cancelled)."""

    event_type: ClassVar[str] = "stream.link.revoked"

    revoked_at: datetime


class AttendanceCheckedIn(RegistrationFact):
    """The registrant was checked in at the door (once per registration)."""

    event_type: ClassVar[str] = "attendance.checked_in"

    checked_in_at: datetime
    method: CheckInMethod


class StreamJoined(RegistrationFact):
    """The registrant first opened the stream through their personal link (once)."""

    event_type: ClassVar[str] = "stream.joined"

    joined_at: datetime


class NotificationSent(RegistrationFact):
    """An email of ``kind`` to the registrant was accepted by the mail server."""

    event_type: ClassVar[str] = "notification.sent"

    kind: NotificationKind
    sent_at: datetime
    attendance_version: int | None = Field(
        default=None,
        ge=1,
        description="For a seat, waiting-list or stream-link mail: the attendance version it "
        "answers (each switch of attendance gets its own); none for other kinds.",
    )


class MailFailure(StrEnum):
    """Why the last attempt at a mail failed: a category, never the server's text."""

    # The mail server could not be reached.
    CONNECTION = "connection"
    # The mail server refused for now, until the retry budget ran out.
    TRANSIENT = "transient"
    # The recipient was refused for good.
    PERMANENT = "permanent"
    # The mail could not be written.
    RENDER = "render"
    # A fault in Ilmo.
    INTERNAL = "internal"


class NotificationFailed(RegistrationFact):
    """An email of ``kind`` could not be sent; an operator looks into it."""

    event_type: ClassVar[str] = "notification.failed"

    kind: NotificationKind
    failure: MailFailure
    failed_at: datetime
    attendance_version: int | None = Field(
        default=None,
        ge=1,
        description="For a seat, waiting-list or stream-link mail: the attendance version it "
        "answers (each switch of attendance gets its own); none for other kinds.",
    )


INTEGRATION_EVENT_TYPES: dict[str, type[IntegrationEvent]] = {
    cls.event_type: cls
    for cls in (
        EventPublished,
        EventUpdated,
        EventWithdrawn,
        EventCancelled,
        RegistrationAccepted,
        RegistrationCancelled,
        RegistrationAttendanceChanged,
        RegistrationErased,
        SeatReserved,
        SeatWaitlisted,
        SeatReleased,
        WaitlistLeft,
        StreamLinkProvisioned,
        StreamLinkRevoked,
        AttendanceCheckedIn,
        StreamJoined,
        NotificationSent,
        NotificationFailed,
    )
}

# Internal events whose integration form is their own fields, minus the
# personal ones: ``integration_form`` makes it.
_SAME_FACT: dict[type[InternalEvent], type[IntegrationEvent]] = {
    events.RegistrationAccepted: RegistrationAccepted,
    events.RegistrationCancelled: RegistrationCancelled,
    events.RegistrationAttendanceChanged: RegistrationAttendanceChanged,
    events.RegistrationErased: RegistrationErased,
    events.SeatReserved: SeatReserved,
    events.SeatWaitlisted: SeatWaitlisted,
    events.SeatReleased: SeatReleased,
    events.WaitlistLeft: WaitlistLeft,
    events.StreamLinkProvisioned: StreamLinkProvisioned,
    events.StreamLinkRevoked: StreamLinkRevoked,
    events.NotificationSent: NotificationSent,
    events.AttendanceCheckedIn: AttendanceCheckedIn,
    events.StreamJoined: StreamJoined,
}

# Internal events whose integration form needs what the producer knows and
# the event does not say: whether the event was published before
# (registration's catalogue rule ``announcement``), the category of a mail
# failure (notification).
BUILT_BY_PRODUCER: frozenset[type[InternalEvent]] = frozenset(
    {
        events.EventPublished,
        events.EventUpdated,
        events.EventCancelled,
        events.NotificationFailed,
    }
)


# Internal events with no integration form at all. Outside systems learn of a
# registration when it is accepted: one waiting for its address to be
# confirmed, one that expired unconfirmed, a repeat registration of an
# address (which would tell who registered twice) or a request for a manage
# link (which would tell that an address is registered) is nothing they act
# on. A registrant's corrected details are personal data, and nothing else
# changed.
INTERNAL_ONLY: frozenset[type[InternalEvent]] = frozenset(
    {
        events.RegistrationSubmitted,
        events.RegistrationRepeated,
        events.RegistrationManageLinkRequested,
        events.RegistrationExpired,
        events.RegistrationDetailsChanged,
        # The organiser's text goes to registrants by mail; outside systems act on none of it.
        events.MessageRequested,
    }
)


def integration_form(event: InternalEvent) -> IntegrationEvent:
    """The integration event announcing the same fact as ``event``, without personal data.

    Only the fields the integration model declares are taken over. Raises
    ValueError for the types whose producer builds the integration form
    itself (``BUILT_BY_PRODUCER``).
    """
    integration_class = _SAME_FACT.get(type(event))
    if integration_class is None:
        raise ValueError(f"{event.event_type} has no integration form of its own fields")
    fields = event.model_dump(include=set(integration_class.model_fields))
    return integration_class.model_validate(fields)


def integration_event_class_for(event_type: str) -> type[IntegrationEvent] | None:
    """The integration event class registered for a routing key, or None if unknown."""
    return INTEGRATION_EVENT_TYPES.get(event_type)

"""Typed events published on the ``ilmo.events`` topic exchange.

Each class is one event type: its routing key is ``event_type`` (an
``<aggregate>.<past-tense-verb>`` name) and its ``schema_version`` is bumped
only by a breaking change, which is then published side by side with the old
version. Within a version changes are additive, so consumers ignore fields they
do not know (``extra="ignore"``) while producers never send fields that are not
in the schema.

Events carry the state a subscriber needs (event-carried state transfer): a
subscriber never has to call an Ilmo service back to understand an event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class Attendance(StrEnum):
    """How a registrant takes part: in a seat at the venue, or on the web stream."""

    IN_PERSON = "in_person"
    REMOTE = "remote"


class Language(StrEnum):
    """Languages the registrant can be served in."""

    FI = "fi"
    SV = "sv"
    EN = "en"


class IntegrationEvent(BaseModel):
    """Base of every event: immutable, tolerant of unknown fields when read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def dataschema(cls) -> str:
        """The URI of this event's JSON Schema, carried in the envelope."""
        return f"urn:ilmo:schema:{cls.event_type}:v{cls.schema_version}"

    def subject(self) -> str | None:
        """The CloudEvents ``subject``: the id of the thing the event is about."""
        return None


class RegistrationAccepted(IntegrationEvent):
    """A person's registration for an event was accepted and stored.

    Carries the contact details and choices the downstream services act on:
    capacity decides on a seat, notification writes to the person, streaming
    provisions a personal link.
    """

    event_type: ClassVar[str] = "registration.accepted"

    registration_id: UUID
    event_id: str = Field(min_length=1, max_length=100)
    attendance: Attendance
    language: Language
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    organisation: str | None = Field(default=None, max_length=200)
    registered_at: datetime

    def subject(self) -> str:
        return str(self.registration_id)


EVENT_TYPES: dict[str, type[IntegrationEvent]] = {
    cls.event_type: cls for cls in (RegistrationAccepted,)
}


def event_class_for(event_type: str) -> type[IntegrationEvent] | None:
    """The event class registered for a routing key, or None if unknown."""
    return EVENT_TYPES.get(event_type)

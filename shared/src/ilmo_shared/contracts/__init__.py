"""Event contracts: the envelope and the typed events that cross service boundaries."""

from ilmo_shared.contracts.envelope import Envelope, EnvelopeError
from ilmo_shared.contracts.events import (
    EVENT_TYPES,
    Attendance,
    IntegrationEvent,
    Language,
    RegistrationAccepted,
    event_class_for,
)

__all__ = [
    "EVENT_TYPES",
    "Attendance",
    "Envelope",
    "EnvelopeError",
    "IntegrationEvent",
    "Language",
    "RegistrationAccepted",
    "event_class_for",
]

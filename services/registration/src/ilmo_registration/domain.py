"""Registration rules, free of I/O.

Walking skeleton: a registration is a person's request to attend an event on
site or remotely; accepting it yields the ``registration.accepted`` fact the
other services act on. Deadlines, duplicates and the event catalogue's rules
come with the registration issue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ilmo_shared.contracts import Attendance, Language, RegistrationAccepted


@dataclass(frozen=True)
class Registrant:
    """Who registers and how they will take part."""

    first_name: str
    last_name: str
    email: str
    organisation: str | None
    attendance: Attendance
    language: Language


def accept(event_id: str, registrant: Registrant, now: datetime) -> RegistrationAccepted:
    """Accept a registration: a new id and the event that records the fact."""
    return RegistrationAccepted(
        registration_id=uuid.uuid4(),
        event_id=event_id,
        attendance=registrant.attendance,
        language=registrant.language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        email=registrant.email,
        organisation=registrant.organisation,
        registered_at=now,
    )

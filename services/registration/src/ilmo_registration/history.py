"""A registration's history: what happened to it and when, as the console shows it. No I/O.

Each write that changes a registration's state appends one entry to the
document's ``history`` in the same write (``storage.registrations``), so the
history can never disagree with the state. Entries hold a time and a change,
never personal data: an erased registration keeps its history.
Registrations stored before the history existed have none; the console then
shows what the document's own times say (registered, cancelled, erased).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ilmo_event_contracts import Attendance
from ilmo_registration.domain import LinkState, RegistrationState, SeatState


class Change(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SWITCHED_TO_IN_PERSON = "switched_to_in_person"
    SWITCHED_TO_REMOTE = "switched_to_remote"
    DETAILS_CORRECTED = "details_corrected"
    WAITLISTED = "waitlisted"
    SEAT_RESERVED = "seat_reserved"
    SEAT_RELEASED = "seat_released"
    WAITLIST_LEFT = "waitlist_left"
    LINK_PROVISIONED = "link_provisioned"
    LINK_REVOKED = "link_revoked"
    ERASED = "erased"


@dataclass(frozen=True)
class Entry:
    at: datetime
    change: Change


def switched_to(attendance: Attendance) -> Change:
    if attendance is Attendance.IN_PERSON:
        return Change.SWITCHED_TO_IN_PERSON
    return Change.SWITCHED_TO_REMOTE


_SEAT_CHANGES = {
    SeatState.WAITLISTED: Change.WAITLISTED,
    SeatState.RESERVED: Change.SEAT_RESERVED,
    SeatState.RELEASED: Change.SEAT_RELEASED,
    SeatState.LEFT: Change.WAITLIST_LEFT,
}
_LINK_CHANGES = {
    LinkState.PROVISIONED: Change.LINK_PROVISIONED,
    LinkState.REVOKED: Change.LINK_REVOKED,
}


def reported(before: RegistrationState, after: RegistrationState) -> list[Entry]:
    """What a seat or link report changed, in words of the history, at the reported times."""
    entries = []
    seat, link = after.seat, after.link
    if seat.state is not before.seat.state and seat.state in _SEAT_CHANGES and seat.changed_at:
        entries.append(Entry(seat.changed_at, _SEAT_CHANGES[seat.state]))
    if link.state is not before.link.state and link.state in _LINK_CHANGES and link.changed_at:
        entries.append(Entry(link.changed_at, _LINK_CHANGES[link.state]))
    return entries


def entry_document(at: datetime, change: Change) -> dict[str, Any]:
    return {"at": at, "change": change.value}


def entries_of(stored: list[dict[str, Any]] | None) -> list[Entry]:
    """The stored history, oldest first; entries of an unknown change are left out."""
    known = {change.value for change in Change}
    return [
        Entry(item["at"], Change(item["change"]))
        for item in stored or []
        if item.get("change") in known
    ]

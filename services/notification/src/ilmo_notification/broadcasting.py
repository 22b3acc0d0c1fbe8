"""Mails to an event's audience, as rules with no I/O: who is in it, what is due when.

A *broadcast* is one mail to many: a reminder, the change notice of one
revision, the cancellation notice, an organiser's message, the thank-you.
Each has a key (``broadcast_key``) that names it for good, so the schedule
holds at most one entry per broadcast and each recipient's mail id is
``<registration>:<kind>:<occasion>``: recording it is an insert on a unique
``_id``, so expanding a broadcast twice (after a crash midway, or a message
sent twice) gives each person one mail.

The *roster* is notification's own picture of an event's registrants
(``Member``), fed by the registration, seat and stream events, which may
arrive repeated and out of order. The transitions below keep it right under
both: attendance changes only for a newer ``attendance_version``; a place
(seat or waiting list) only for an answer at least as new as what is kept.

Invariants:

- a cancelled member, or one whose ``registration.accepted`` has not been
  seen, is in no audience;
- a broadcast due at ``due_at`` goes only to members accepted by then, so
  nobody who registers after a reminder's time gets a late one, and a
  broadcast expanded again later picks the same people (less the cancelled);
- a reminder found due once its event has started is ``missed``, not sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ilmo_event_contracts import Attendance, Audience, EventDetails, NotificationKind

# Index documents per event in the roster (``storage.roster``): a member's id
# is listed in the one a hash of the registration id chooses, so finding an
# audience starts with this many ``_id`` lookups. An index document is
# written once when a member appears and once when it goes, and FerretDB v1
# rewrites the whole document: at 20,000 members adding an id cost 1.8 ms of
# FerretDB's CPU with 256 documents (78 ids each) against 0.9 ms with 1024
# (20 each), for about 0.1 s more per audience read.
ROSTER_CHUNKS = 1024


class Place(StrEnum):
    """Where capacity put an in-person registrant."""

    SEAT = "seat"
    WAITING_LIST = "waiting_list"


class Role(StrEnum):
    """What a mail to the audience tells its reader about their own part (``details.role``)."""

    SEAT = "seat"
    WAITING_LIST = "waiting_list"
    REMOTE = "remote"
    # In person, with no answer about a seat yet.
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class StreamLink:
    url: str
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True)
class Member:
    """One registrant of an event as the roster keeps them."""

    registration_id: str
    attendance: Attendance
    # The attendance version ``attendance`` is from (1: the acceptance; 0: not known yet).
    version: int = 1
    place: Place | None = None
    # The attendance version capacity's latest answer (``place``) was for, and
    # when it decided it: they order its answers.
    place_version: int = 0
    place_at: datetime | None = None
    link: StreamLink | None = None
    # None until ``registration.accepted`` arrives (a seat may be decided first).
    accepted_at: datetime | None = None
    cancelled: bool = False

    @property
    def active(self) -> bool:
        return self.accepted_at is not None and not self.cancelled

    @property
    def role(self) -> Role:
        if self.attendance is Attendance.REMOTE:
            return Role.REMOTE
        if self.place is Place.SEAT:
            return Role.SEAT
        if self.place is Place.WAITING_LIST:
            return Role.WAITING_LIST
        return Role.UNDECIDED


def roster_chunk(registration_id: str, chunks: int = ROSTER_CHUNKS) -> int:
    """Which of the event's ``chunks`` roster documents lists the registration.

    Stable across processes; ``chunks`` other than ``ROSTER_CHUNKS`` finds
    where an earlier layout kept it.
    """
    digest = hashlib.sha256(registration_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % chunks


# ---------------------------------------------------------------- roster transitions


def accepted(
    member: Member | None, registration_id: str, attendance: Attendance, at: datetime
) -> Member:
    """``registration.accepted``: the member counts from now on.

    A switch of attendance that arrived first (a newer version) keeps its attendance.
    """
    if member is None:
        return Member(registration_id, attendance, accepted_at=at)
    if member.version > 1:
        return replace(member, accepted_at=member.accepted_at or at)
    return replace(member, attendance=attendance, version=1, accepted_at=member.accepted_at or at)


def attendance_changed(
    member: Member | None, registration_id: str, attendance: Attendance, version: int
) -> Member:
    """A switch: only a newer version changes attendance.

    The place is unknown again, unless capacity's answer to this very
    switch arrived first.
    """
    if member is None:
        return Member(registration_id, attendance, version=version)
    if version <= member.version:
        return member
    if member.place_version >= version:
        return replace(member, attendance=attendance, version=version)
    return replace(member, attendance=attendance, version=version, place=None, place_at=None)


def placed(
    member: Member | None,
    registration_id: str,
    place: Place | None,
    version: int,
    at: datetime,
    *,
    taking_away: Place | None = None,
) -> Member:
    """Capacity's answer for ``version``: a seat, a waiting-list place, or (released) none.

    An answer for an older version than the member's attendance, or than
    the place kept, is stale. Of two for the same version the later one
    (``at``) wins, so a seat held after a promotion is not undone by a late
    waiting-list answer. A release (``taking_away``) clears only the place it
    names. A seat or waiting-list place for a newer version than known says
    the registrant is in person at that version; a release says nothing
    about the attendance (the switch to remote tells it).
    """
    current = member or Member(registration_id, Attendance.IN_PERSON, version=0)
    if version < max(current.version, current.place_version):
        return current
    if version == current.place_version and current.place_at is not None and at < current.place_at:
        return current
    if taking_away is not None and current.place not in (taking_away, None):
        return current
    changed = replace(current, place=place, place_version=version, place_at=at)
    if place is not None and version > current.version:
        changed = replace(changed, attendance=Attendance.IN_PERSON, version=version)
    return changed


def linked(member: Member | None, registration_id: str, link: StreamLink) -> Member:
    """A personal stream link (re)issued: the latest one is the one mails carry."""
    if member is None:
        return Member(registration_id, Attendance.REMOTE, link=link)
    return replace(member, link=link)


def cancelled(member: Member | None, registration_id: str) -> Member:
    if member is None:
        return Member(registration_id, Attendance.IN_PERSON, cancelled=True)
    return replace(member, cancelled=True)


# ---------------------------------------------------------------- audiences


def in_audience(member: Member, audience: Audience) -> bool:
    """Whether an active member belongs to ``audience`` (see ``Audience``)."""
    if not member.active:
        return False
    match audience:
        case Audience.ALL:
            return True
        case Audience.ON_SITE:
            return member.attendance is Attendance.IN_PERSON and member.place is Place.SEAT
        case Audience.REMOTE:
            return member.attendance is Attendance.REMOTE
        case Audience.WAITING_LIST:
            return member.attendance is Attendance.IN_PERSON and member.place is Place.WAITING_LIST
        case Audience.STREAM:
            return member.attendance is Attendance.REMOTE or (member.place is Place.WAITING_LIST)
    return False  # pragma: no cover - every audience is matched above


def recipients(
    members: Iterable[Member], audience: Audience, accepted_by: datetime | None = None
) -> list[Member]:
    """The members a broadcast goes to, in a stable order.

    With ``accepted_by`` (the broadcast's due time) only those accepted by
    then: a reminder is not sent late to someone who registered after its time.
    """
    chosen = [
        member
        for member in members
        if in_audience(member, audience)
        and (accepted_by is None or (member.accepted_at and member.accepted_at <= accepted_by))
    ]
    return sorted(chosen, key=lambda member: member.registration_id)


def member_details(member: Member) -> dict[str, Any]:
    """What every audience mail says about its reader (``role``, ``stream_link``)."""
    link = member.link
    return {
        "role": member.role.value,
        "stream_link": None
        if link is None
        else {"url": link.url, "valid_from": link.valid_from, "valid_until": link.valid_until},
    }


# ---------------------------------------------------------------- the schedule


class BroadcastState(StrEnum):
    """Where a broadcast is: still to happen, or what became of it."""

    SCHEDULED = "scheduled"
    # Recipients being recorded (a crash here is finished by the next pass).
    EXPANDING = "expanding"
    DONE = "done"
    # A reminder found due after the event had started.
    MISSED = "missed"
    # The event was cancelled before it was due.
    DROPPED = "dropped"


FINAL_STATES = frozenset({BroadcastState.DONE, BroadcastState.MISSED, BroadcastState.DROPPED})


@dataclass(frozen=True)
class Broadcast:
    """One mail to an event's audience, due at ``due_at``."""

    event_id: str
    kind: NotificationKind
    occasion: str
    audience: Audience
    due_at: datetime
    details: Mapping[str, Any]

    @property
    def key(self) -> str:
        return broadcast_key(self.event_id, self.kind, self.occasion)


def broadcast_key(event_id: str, kind: NotificationKind, occasion: str = "") -> str:
    """The schedule's ``_id`` for a broadcast (and its record's once it happened)."""
    if kind is NotificationKind.ORGANISER_MESSAGE:
        return f"message:{occasion}"
    return f"{event_id}:{kind.value}:{occasion}" if occasion else f"{event_id}:{kind.value}"


def reminder_occasion(minutes_before: int) -> str:
    return f"m{minutes_before}"


def change_occasion(revision: int) -> str:
    return f"r{revision}"


def timed_broadcasts(event: EventDetails) -> list[Broadcast]:
    """The reminders and thank-you an event's details ask for, at the times they say.

    None for an event not published or cancelled. They move with the event:
    the caller reschedules them from each new revision.
    """
    if not event.published or event.cancelled_at is not None:
        return []
    planned = [
        Broadcast(
            event.event_id,
            NotificationKind.REMINDER,
            reminder_occasion(reminder.minutes_before),
            reminder.audience,
            event.starts_at - timedelta(minutes=reminder.minutes_before),
            {"minutes_before": reminder.minutes_before},
        )
        for reminder in event.reminders
    ]
    if event.thank_you_minutes_after is not None:
        planned.append(
            Broadcast(
                event.event_id,
                NotificationKind.THANK_YOU,
                "",
                Audience.ALL,
                event.ends_at + timedelta(minutes=event.thank_you_minutes_after),
                {},
            )
        )
    return planned


def worth_scheduling(broadcast: Broadcast, now: datetime, already: BroadcastState | None) -> bool:
    """Whether a timed broadcast goes (or stays) on the schedule.

    Not one that already happened (the change notice tells people what
    moved), nor one whose time has passed: a reminder planned late would
    reach people at the wrong moment.
    """
    if already in FINAL_STATES:
        return False
    return broadcast.due_at > now


class Change(StrEnum):
    """What a change notice says changed."""

    TIME = "time"
    VENUE = "venue"
    ARRIVAL_INSTRUCTIONS = "arrival_instructions"
    STREAM_URL = "stream_url"


def changes_between(previous: EventDetails, current: EventDetails) -> list[Change]:
    """What registrants need to hear about between two revisions (in a stable order)."""
    changes: list[Change] = []
    if (previous.starts_at, previous.ends_at) != (current.starts_at, current.ends_at):
        changes.append(Change.TIME)
    if (previous.venue.name, previous.venue.address) != (
        current.venue.name,
        current.venue.address,
    ):
        changes.append(Change.VENUE)
    if previous.venue.arrival_instructions != current.venue.arrival_instructions:
        changes.append(Change.ARRIVAL_INSTRUCTIONS)
    if previous.stream_url != current.stream_url:
        changes.append(Change.STREAM_URL)
    return changes


def change_notice(
    previous: EventDetails | None, current: EventDetails, now: datetime
) -> Broadcast | None:
    """The change notice ``current`` calls for, due now; None if nobody needs one.

    Only for a change of a published, not cancelled event (its registrants
    were told the previous details).
    """
    if previous is None or current.revision <= previous.revision:
        return None
    if not (previous.published and current.published) or current.cancelled_at is not None:
        return None
    changes = changes_between(previous, current)
    if not changes:
        return None
    name = previous.venue.name
    return Broadcast(
        current.event_id,
        NotificationKind.EVENT_CHANGED,
        change_occasion(current.revision),
        Audience.ALL,
        now,
        {
            "revision": current.revision,
            "changes": [change.value for change in changes],
            "previous": {
                "starts_at": previous.starts_at,
                "ends_at": previous.ends_at,
                "venue_name": {"fi": name.fi, "sv": name.sv, "en": name.en},
                "venue_address": previous.venue.address,
            },
        },
    )


def cancellation_notice(event: EventDetails, now: datetime) -> Broadcast:
    """Everyone active is told the event is cancelled, now."""
    return Broadcast(
        event.event_id,
        NotificationKind.EVENT_CANCELLED,
        "",
        Audience.ALL,
        now,
        {"cancelled_at": event.cancelled_at or now},
    )


def missed(broadcast_kind: NotificationKind, event: EventDetails | None, now: datetime) -> bool:
    """A reminder found due once its event has started is missed: it would only confuse."""
    return (
        broadcast_kind is NotificationKind.REMINDER and event is not None and now >= event.starts_at
    )


# Scheduled broadcasts that an event's cancellation drops (messages stay).
DROPPED_BY_CANCELLATION = frozenset(
    {NotificationKind.REMINDER, NotificationKind.THANK_YOU, NotificationKind.EVENT_CHANGED}
)

"""Personal stream links: who gets one, when it works, what a join attempt gets. No I/O.

Who gets a link:

- a registrant who will follow remotely (``attendance = remote`` on
  ``registration.accepted``);
- an in-person registrant put on the waiting list (``seat.waitlisted``), so
  they can follow the event meanwhile; promoted to a seat later
  (``seat.reserved``), they keep the link: they may still prefer to watch;
- nobody else: an in-person registrant with a seat never needs one;
- a registrant who switches to remote (``registration.attendance_changed``)
  gets one if they have none; a link they have is kept and announced again
  for the switch (``switch``), so that the mail for this switch says where
  to watch. Switching to on site keeps the link, as a promotion does.

Every choice of attendance has a version (1 at acceptance, one more per
switch); a link remembers the newest version it has seen, and a switch no
newer than that (a redelivery, or one overtaken by a later switch) changes
nothing. ``stream.link.provisioned`` carries the version it answers.

A cancellation (``registration.cancelled``) revokes the link, and a revoked
link stays revoked. A cancellation that arrives before the registration's
acceptance or waitlisting (messages cross: one queue, several handled at
once) leaves a tombstone, so that no link is provisioned for it later.

A link is provisioned (and ``stream.link.provisioned`` published) once the
event's details are known; a registrant who is entitled before they are
waits as ``PENDING``. Every operation is a transition of one registration's
``StreamLink`` that returns the new state and the facts to publish, or None
when it changes nothing, so redelivered messages and retried writes have no
second effect.

How a working link leads to the video is the event's choice
(``stream_playback``): to its ``stream_url`` itself (``Redirect``), or, for
a closed stream, through short-lived URLs signed for this one link
(``Play``, signed by ``ilmo_streaming.playback``), so that revoking the
link reaches the video within one URL lifetime.

When a link works is not fixed at provisioning: a join attempt is judged
against the event's details as they are then (``EventStream``), so an event
moved or given another window takes its links along.

A cancelled event (``event.cancelled``: its details with ``cancelled_at``)
stays cancelled: its links answer that it was cancelled (410), and no link
is provisioned or announced for it any more.

Attendance: a join that leads to the stream is recorded on the link (``join``):
the first join once, announced as ``stream.joined``; the last join, kept to
the minute (``LAST_JOIN_RESOLUTION``), so that a viewer reloading the page
does not cost a write per reload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import UUID

from ilmo_event_contracts import (
    FIRST_ATTENDANCE_VERSION,
    Attendance,
    EventDetails,
    LocalizedText,
    StreamPlayback,
)

# The last join is recorded again only when it is this much newer than the one stored.
LAST_JOIN_RESOLUTION = timedelta(minutes=1)


class LinkState(StrEnum):
    """Where one registration's link is. REVOKED is final."""

    PENDING = "pending"  # entitled, waiting for the event's details
    PROVISIONED = "provisioned"
    REVOKED = "revoked"  # a revoked link, or the tombstone of an early cancellation


@dataclass(frozen=True)
class EventStream:
    """What streaming keeps of an event: where the stream is, and when links work."""

    event_id: str
    revision: int
    stream_url: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    title: LocalizedText
    opens_minutes_before: int = 30
    closes_minutes_after: int = 120
    cancelled: bool = False
    playback: StreamPlayback = StreamPlayback.REDIRECT

    @classmethod
    def from_details(cls, details: EventDetails) -> EventStream:
        return cls(
            event_id=details.event_id,
            revision=details.revision,
            stream_url=details.stream_url,
            starts_at=details.starts_at,
            ends_at=details.ends_at,
            timezone=details.timezone,
            title=details.title,
            opens_minutes_before=details.stream_opens_minutes_before,
            closes_minutes_after=details.stream_closes_minutes_after,
            cancelled=details.cancelled_at is not None,
            playback=details.stream_playback,
        )

    @property
    def opens_at(self) -> datetime:
        """The first moment links work."""
        return self.starts_at - timedelta(minutes=self.opens_minutes_before)

    @property
    def closes_at(self) -> datetime:
        """The first moment links no longer work."""
        return self.ends_at + timedelta(minutes=self.closes_minutes_after)

    def supersedes(self, other: EventStream | None) -> bool:
        """Whether these details replace ``other`` (a newer revision; older ones are ignored)."""
        return other is None or self.revision > other.revision

    def after(self, other: EventStream | None) -> EventStream:
        """These details as they replace ``other``: a cancellation is never undone."""
        if other is not None and other.cancelled and not self.cancelled:
            return replace(self, cancelled=True)
        return self


@dataclass(frozen=True)
class StreamLink:
    """One registration's link: its state and when it got there. Never the token."""

    registration_id: UUID
    event_id: str
    state: LinkState
    changed_at: datetime
    provisioned_at: datetime | None = None
    revoked_at: datetime | None = None
    # The newest attendance version seen for the registration; provisioning announces it.
    attendance_version: int = FIRST_ATTENDANCE_VERSION
    # When the link first and last led to the stream (None: never).
    first_joined_at: datetime | None = None
    last_joined_at: datetime | None = None

    @property
    def issued(self) -> bool:
        """Whether a link was ever provisioned (and so announced) for this registration."""
        return self.provisioned_at is not None


@dataclass(frozen=True)
class Provisioned:
    """Announce the registration's link and the window it works in."""

    registration_id: UUID
    event_id: str
    valid_from: datetime
    valid_until: datetime
    attendance_version: int = FIRST_ATTENDANCE_VERSION


@dataclass(frozen=True)
class Revoked:
    """Announce that the registration's link stopped working."""

    registration_id: UUID
    event_id: str
    revoked_at: datetime


@dataclass(frozen=True)
class Joined:
    """Announce that the registrant first opened the stream through their link."""

    registration_id: UUID
    event_id: str
    joined_at: datetime


Fact = Provisioned | Revoked | Joined


@dataclass(frozen=True)
class Change:
    """A transition: the link's new state and the facts it makes known."""

    link: StreamLink
    facts: tuple[Fact, ...] = ()


def entitled_on_acceptance(attendance: Attendance) -> bool:
    """A remote registrant gets a link at once; an in-person one only if waitlisted."""
    return attendance is Attendance.REMOTE


def grant(
    current: StreamLink | None,
    registration_id: UUID,
    event_id: str,
    stream: EventStream | None,
    now: datetime,
    attendance_version: int = FIRST_ATTENDANCE_VERSION,
) -> Change | None:
    """The registrant is entitled to a link: provision it, or wait for the event's details.

    Repeating it (a redelivery, a remote registrant later waitlisted) changes
    nothing; after a cancellation it changes nothing either. A new link
    answers ``attendance_version`` (the acceptance, or the waiting-list
    place's version).
    """
    if current is None:
        if stream is not None and stream.cancelled:
            return None  # the event will not take place: no link, not even a pending one
        pending = StreamLink(
            registration_id,
            event_id,
            LinkState.PENDING,
            changed_at=now,
            attendance_version=attendance_version,
        )
        return _provision(pending, stream, now) or Change(pending)
    if current.state is LinkState.PENDING:
        return _provision(current, stream, now)
    return None


def switch(
    current: StreamLink | None,
    registration_id: UUID,
    event_id: str,
    attendance: Attendance,
    attendance_version: int,
    stream: EventStream | None,
    now: datetime,
) -> Change | None:
    """The registrant's choice number ``attendance_version`` is ``attendance``.

    To remote: a link is granted (``grant``), or, if one is provisioned
    already, announced again unchanged with this version, so that this
    switch gets its own mail. To on site: the link is kept; only the
    version is remembered. A version no newer than the link's (a redelivery,
    a switch overtaken by a later one) and anything after a revocation
    change nothing.
    """
    if current is not None and (
        current.state is LinkState.REVOKED or attendance_version <= current.attendance_version
    ):
        return None
    if attendance is Attendance.IN_PERSON:
        if current is None:
            return None  # no link to keep
        return Change(replace(current, attendance_version=attendance_version))
    if current is None:
        return grant(current, registration_id, event_id, stream, now, attendance_version)
    newer = replace(current, attendance_version=attendance_version)
    if current.state is LinkState.PENDING:
        return _provision(newer, stream, now) or Change(newer)
    if stream is not None and stream.cancelled:
        return Change(newer)  # no stream to announce for a cancelled event
    announced = replace(newer, changed_at=now)
    return Change(announced, (_provisioned(announced, current.provisioned_at, stream),))


def _provisioned(
    link: StreamLink, provisioned_at: datetime | None, stream: EventStream | None
) -> Provisioned:
    """The announcement of a provisioned link; its window as the details say, if known."""
    if stream is not None and stream.event_id == link.event_id:
        valid_from, valid_until = stream.opens_at, stream.closes_at
    else:  # cannot happen for a provisioned link (it needed the details), but stays total
        valid_from = valid_until = provisioned_at or link.changed_at
    return Provisioned(
        link.registration_id, link.event_id, valid_from, valid_until, link.attendance_version
    )


def provision(current: StreamLink | None, stream: EventStream, now: datetime) -> Change | None:
    """The event's details arrived: a pending link is provisioned; anything else is left alone."""
    if current is None or current.state is not LinkState.PENDING:
        return None
    return _provision(current, stream, now)


def _provision(link: StreamLink, stream: EventStream | None, now: datetime) -> Change | None:
    if stream is None or stream.event_id != link.event_id or stream.cancelled:
        return None
    provisioned = replace(link, state=LinkState.PROVISIONED, changed_at=now, provisioned_at=now)
    fact = Provisioned(
        link.registration_id,
        link.event_id,
        stream.opens_at,
        stream.closes_at,
        link.attendance_version,
    )
    return Change(provisioned, (fact,))


def revoke(
    current: StreamLink | None, registration_id: UUID, event_id: str, now: datetime
) -> Change | None:
    """The registration was cancelled: its link stops working, for good.

    Only a link that was provisioned is announced as revoked; a pending one,
    or a registration not seen yet, just becomes a tombstone.
    """
    if current is None:
        tombstone = StreamLink(
            registration_id, event_id, LinkState.REVOKED, changed_at=now, revoked_at=now
        )
        return Change(tombstone)
    if current.state is LinkState.REVOKED:
        return None
    revoked = replace(current, state=LinkState.REVOKED, changed_at=now, revoked_at=now)
    if not current.issued:
        return Change(revoked)
    return Change(revoked, (Revoked(current.registration_id, current.event_id, now),))


def join(current: StreamLink | None, now: datetime) -> Change | None:
    """The link just led its owner to the stream at ``now``: record the join.

    The first join is recorded once and announced (``Joined``); a join
    after it moves the last join on, if it is at least
    ``LAST_JOIN_RESOLUTION`` newer than the one stored, and announces
    nothing. Only a provisioned link can be joined.
    """
    if current is None or current.state is not LinkState.PROVISIONED:
        return None
    if current.first_joined_at is None:
        joined = replace(current, first_joined_at=now, last_joined_at=now)
        return Change(joined, (Joined(current.registration_id, current.event_id, now),))
    last = current.last_joined_at or current.first_joined_at
    if now - last < LAST_JOIN_RESOLUTION:
        return None
    return Change(replace(current, last_joined_at=now))


# ------------------------------------------------------------------ joining


class JoinOutcome(StrEnum):
    """What a join attempt got; also the label of the joins metric."""

    REDIRECTED = "redirected"
    # Got the stream as a signed playback URL (a closed stream).
    SIGNED = "signed"
    # A player renewed its signed playback URL (not a join of its own).
    RENEWED = "renewed"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_OPEN_YET = "not_open_yet"
    ENDED = "ended"


@dataclass(frozen=True)
class Redirect:
    """The link works now: send the viewer to the stream."""

    stream: EventStream
    outcome: JoinOutcome = JoinOutcome.REDIRECTED

    @property
    def url(self) -> str:
        return self.stream.stream_url


@dataclass(frozen=True)
class Play:
    """The link works now and the stream is closed: the viewer gets URLs signed for the link."""

    stream: EventStream
    registration_id: UUID
    outcome: JoinOutcome = JoinOutcome.SIGNED


@dataclass(frozen=True)
class Cancelled:
    """The event was cancelled: no link of it works any more."""

    stream: EventStream
    outcome: JoinOutcome = JoinOutcome.CANCELLED


@dataclass(frozen=True)
class Gone:
    """The link was revoked."""

    event_id: str
    outcome: JoinOutcome = JoinOutcome.REVOKED


@dataclass(frozen=True)
class Unknown:
    """No such link: never made here, tampered with, never provisioned, or unusable."""

    event_id: str | None = None
    outcome: JoinOutcome = JoinOutcome.UNKNOWN


@dataclass(frozen=True)
class NotOpenYet:
    """The link is valid but the stream opens only at ``stream.opens_at``."""

    stream: EventStream
    wait: timedelta
    outcome: JoinOutcome = JoinOutcome.NOT_OPEN_YET

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds until it opens, rounded up (at least 1)."""
        return max(1, math.ceil(self.wait.total_seconds()))


@dataclass(frozen=True)
class Ended:
    """The link was valid but its window closed at ``stream.closes_at``."""

    stream: EventStream
    outcome: JoinOutcome = JoinOutcome.ENDED


JoinDecision = Redirect | Play | Cancelled | Gone | Unknown | NotOpenYet | Ended


def decide_join(link: StreamLink | None, stream: EventStream | None, now: datetime) -> JoinDecision:
    """What a viewer opening their (authentic) link at ``now`` gets.

    The window is ``[opens_at, closes_at)``: open from ``opens_at`` on, closed
    from ``closes_at`` on. A link that was never provisioned (pending, or the
    tombstone of an early cancellation) is unknown rather than revoked: its
    owner never received it. A cancelled event says so to every link that
    was issued, revoked or not: that is the news its owner needs.
    """
    if link is None or not link.issued:
        return Unknown()
    if stream is not None and stream.event_id == link.event_id and stream.cancelled:
        return Cancelled(stream)
    if link.state is LinkState.REVOKED:
        return Gone(link.event_id)
    if stream is None or stream.event_id != link.event_id or not is_web_url(stream.stream_url):
        return Unknown(link.event_id)
    if now < stream.opens_at:
        return NotOpenYet(stream, stream.opens_at - now)
    if now >= stream.closes_at:
        return Ended(stream)
    if stream.playback is StreamPlayback.SIGNED_HLS:
        return Play(stream, link.registration_id)
    return Redirect(stream)


def is_web_url(url: str) -> bool:
    """Only http(s) addresses with a host are redirected to."""
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and bool(parts.netloc)

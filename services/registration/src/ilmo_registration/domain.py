"""Registration rules, free of I/O; the current time is always passed in.

- A registration is taken only while the event's registration window is open.
- One registration per email address and event: addresses are compared
  trimmed and case-insensitively (``normalise_email``).
- An event may ask registrants to confirm their address (``email_confirmation``,
  on by default): the registration is then ``pending_confirmation`` until the
  link in the mail is followed, and only then accepted, counting from then
  (``decide_confirmation``). Unconfirmed, it expires after
  ``ConfirmationPolicy.expires_after`` and blocks nobody any more.
- Registering an address that is already registered or pending is answered
  like a new registration; nothing new is stored, and the address is told
  instead, at most once per ``ConfirmationPolicy.repeat_interval``
  (``decide_repeat``), so that nobody learns who registered and nobody can
  bomb an address with mails.
- Someone who lost their manage link may ask for it again by address: the
  registration that holds the address (pending or accepted) gets its link
  by mail, at most once per ``ConfirmationPolicy.link_interval``
  (``decide_link_request``), and the asker is answered the same whether or
  not there is one, so that nobody learns who registered.
- Cancelling is possible until the event starts, also after registration
  has closed; cancelling twice changes nothing.
- An accepted registration may switch attendance, as often as the registrant
  likes: to on site while registration is open (seats are decided until
  then), to remote until the event starts (``decide_switch``). Each switch
  is the registration's next attendance version (1 at acceptance); switching
  to what one has already changes nothing. Cancelled, erased and unconfirmed
  registrations cannot switch.
- A registrant corrects their details (GDPR Art. 16: names, organisation,
  language, needs) until the event ends, unless the registration was
  cancelled or erased; never the address, which was confirmed. New needs
  need the consent to process them, as at registration (``decide_correction``).
- Erasing a registration (on request, or when the event's retention runs
  out) keeps a tombstone for statistics and drops everything that identifies
  the person; one that still holds a seat or a link is cancelled in the same
  write, so the seat goes to the waiting list (``decide_erasure``). An erased
  registration never changes again, and its manage link answers 410.
- The retention sweep erases ``needs`` once an event has ended and the
  whole registration ``retention_days`` after it ended (``retention_due``).
- What a registrant sees (``RegistrationState.status``) is derived from what
  the other services reported: capacity (``seat.*``, ``waitlist.left``) and
  streaming (``stream.link.*``). Reports may arrive repeatedly and out of
  order; ``apply_report`` moves each part of the state only forwards, and a
  cancelled registration never changes again. A seat report answers one
  attendance version: a switch starts the seat afresh, and a report about
  an older version is stale and ignored.

What the use cases refuse is said here too (``Refused`` and its kinds), in
the words of the domain; the JSON API answers each with problem details, the
manage pages with an HTML page.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import TypeVar

from ilmo_event_contracts import (
    FIRST_ATTENDANCE_VERSION,
    Attendance,
    Language,
    LocalizedText,
    RegistrationAccepted,
    RegistrationSubmitted,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
    StreamLinkRevoked,
    WaitlistLeft,
)
from ilmo_registration.catalogue import Violation

_T = TypeVar("_T")

StatusReport = (
    SeatReserved
    | SeatWaitlisted
    | SeatReleased
    | WaitlistLeft
    | StreamLinkProvisioned
    | StreamLinkRevoked
)
STATUS_REPORTS: tuple[type[StatusReport], ...] = (
    SeatReserved,
    SeatWaitlisted,
    SeatReleased,
    WaitlistLeft,
    StreamLinkProvisioned,
    StreamLinkRevoked,
)


# -------------------------------------------------------------------- refusals


class Refused(Exception):  # noqa: N818 (a use case's answer, not a fault)
    """A use case refused what it was asked; nothing was changed."""


class NotFound(Refused):
    """No such event or registration, or not one the asker may see (a wrong token)."""


class InvalidEvent(Refused):
    """The event as given (or as a change would leave it) breaks these rules."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("invalid event")
        self.violations = list(violations)


class EventExists(Refused):
    """An event with this id is already in the catalogue."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


class NoFreeEventId(Refused):
    """Every id generated for a new event was taken; trying again will likely do."""


class RegistrationClosed(Refused):
    """Registration is not open: it opens at ``opens_at``, or closed at ``closed_at``."""

    def __init__(
        self, *, opens_at: datetime | None = None, closed_at: datetime | None = None
    ) -> None:
        super().__init__("registration closed")
        self.opens_at = opens_at
        self.closed_at = closed_at


class ConfirmationExpired(Refused):
    """The registration was not confirmed in time: it is gone, the person may register again."""


class EventStarted(Refused):
    """The event has started: a registration can no longer be cancelled (or switched to remote).

    ``action`` says what was refused, in the words of the answer.
    """

    def __init__(self, action: str = "cancelled") -> None:
        super().__init__("event started")
        self.action = action


class NotSwitchable(Refused):
    """The registration cannot switch attendance: it is cancelled, or not confirmed yet.

    ``standing`` says which (``Switch.CANCELLED`` or ``Switch.PENDING``).
    """

    def __init__(self, standing: Switch) -> None:
        super().__init__(standing.value)
        self.standing = standing


class Erased(Refused):
    """The registration's personal data was erased: its links are gone for good (410)."""


class Cancelled(Refused):
    """The registration was cancelled: there is nothing left to correct (410)."""


class EventEnded(Refused):
    """The event has ended: a registration's details can no longer be corrected."""


class NeedsWithoutConsent(Refused):
    """Needs were given without the explicit consent to process them (GDPR Art. 9(2)(a))."""


class EventIsCancelled(Refused):
    """The organiser cancelled the event: it takes no registrations and no more changes."""


class EventNotPublished(Refused):
    """Only a published event can be cancelled; a draft is simply left unpublished (or kept)."""


# ------------------------------------------------------ messages to registrants


def falls_back_to_finnish(*texts: LocalizedText) -> list[Language]:
    """The languages in which some of ``texts`` is missing: readers of those get Finnish.

    The console says so before the organiser sends, so nobody is surprised
    that a Swedish reader gets the Finnish body under a Swedish title.
    """
    return [
        language
        for language in (Language.SV, Language.EN)
        if any(not getattr(text, language.value) for text in texts)
    ]


# ------------------------------------------------------- cancelling an event


class EventCancellation(StrEnum):
    """What cancelling an event does, given the event as it is."""

    CANCEL = "cancel"  # published and not cancelled: cancel it now
    ALREADY = "already"  # cancelled before: nothing more to do (the same answer)
    DRAFT = "draft"  # never published: nobody to tell, refused


def decide_event_cancellation(*, published: bool, cancelled: bool) -> EventCancellation:
    """Cancel a published event once; a repeat is a no-op, a draft is refused.

    Cancelling is final: a cancelled event is never changed or published
    again, so asking twice (a double click, a client's retry) answers the
    first cancellation.
    """
    if cancelled:
        return EventCancellation.ALREADY
    if not published:
        return EventCancellation.DRAFT
    return EventCancellation.CANCEL


# ----------------------------------------------------------------- registering


class RegistrationWindow(StrEnum):
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSED = "closed"


def registration_window(
    opens_at: datetime, closes_at: datetime, now: datetime
) -> RegistrationWindow:
    """Where ``now`` falls: open from ``opens_at`` until just before ``closes_at``."""
    if now < opens_at:
        return RegistrationWindow.NOT_YET_OPEN
    if now >= closes_at:
        return RegistrationWindow.CLOSED
    return RegistrationWindow.OPEN


class SeatOutlook(StrEnum):
    """What a person registering on site can expect, as far as this service can tell."""

    PLACES_LEFT = "places_left"
    WAITING_LIST = "waiting_list"


def seat_outlook(capacity: int, holding: int) -> SeatOutlook:
    """Whether a new on-site registration likely gets a seat.

    ``holding`` counts the on-site registrations not cancelled (pending ones
    too: each may still take a seat). Seats are decided by the capacity
    service, so this is an estimate for the event page, never a promise.
    """
    return SeatOutlook.PLACES_LEFT if holding < capacity else SeatOutlook.WAITING_LIST


def is_registration_id(value: str) -> bool:
    """True for a registration id: a UUID written in its canonical form."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def normalise_email(email: str) -> str:
    """The form in which two addresses are the same registrant: trimmed, case-insensitive."""
    return email.strip().lower()


@dataclass(frozen=True)
class Registrant:
    """Who registers and how they will take part."""

    first_name: str
    last_name: str
    email: str
    organisation: str | None
    attendance: Attendance
    language: Language
    needs: str | None = None


def accept(
    event_id: str,
    registrant: Registrant,
    now: datetime,
    registration_id: uuid.UUID | None = None,
    *,
    email_confirmed: bool = False,
) -> RegistrationAccepted:
    """Accept a registration: its id and the event that records the fact.

    ``needs`` (accessibility and the like) stays with the registration service:
    it is not part of the ``registration.accepted`` contract. ``now`` is the
    moment of acceptance, the confirmation for a confirmed address: deadlines
    and the waiting-list order count from it.
    """
    return RegistrationAccepted(
        email_confirmed=email_confirmed,
        registration_id=registration_id or uuid.uuid4(),
        event_id=event_id,
        attendance=registrant.attendance,
        language=registrant.language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        email=registrant.email,
        organisation=registrant.organisation,
        registered_at=now,
    )


# ---------------------------------------------------------------- confirming


class Standing(StrEnum):
    """A registration's life as this service decides it (the stored ``status``).

    PENDING and ACTIVE hold the address for the event; CANCELLED and EXPIRED
    give it up. An EXPIRED registration keeps no personal data.
    """

    PENDING = "pending_confirmation"
    ACTIVE = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ConfirmationPolicy:
    """How long an address may stay unconfirmed, and how often it is written to on request.

    A service setting rather than a per-event one: a day fits every event
    whose registration runs longer than a day, and one value is easier to
    explain in the mail and in the privacy notice. A repeat registration
    tells the address at most once per ``repeat_interval``, a request for
    the manage link mails it at most once per ``link_interval``.
    """

    expires_after: timedelta = timedelta(hours=24)
    repeat_interval: timedelta = timedelta(minutes=15)
    link_interval: timedelta = timedelta(minutes=5)

    def expires_at(self, submitted_at: datetime) -> datetime:
        return submitted_at + self.expires_after


def submit(
    event_id: str,
    registrant: Registrant,
    now: datetime,
    expires_at: datetime,
    registration_id: uuid.UUID | None = None,
) -> RegistrationSubmitted:
    """Take a registration that waits for its address to be confirmed: the event recording it."""
    return RegistrationSubmitted(
        registration_id=registration_id or uuid.uuid4(),
        event_id=event_id,
        attendance=registrant.attendance,
        language=registrant.language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        email=registrant.email,
        organisation=registrant.organisation,
        submitted_at=now,
        expires_at=expires_at,
    )


def is_expired(standing: Standing, expires_at: datetime | None, now: datetime) -> bool:
    """True for a registration that was never confirmed and whose time ran out."""
    if standing is Standing.EXPIRED:
        return True
    return standing is Standing.PENDING and expires_at is not None and now >= expires_at


class Confirmation(StrEnum):
    CONFIRM = "confirm"
    # Confirmed before (or cancelled since): confirming again changes nothing.
    DONE = "done"
    EXPIRED = "expired"
    # Registration closed before the address was confirmed: it can no longer be.
    CLOSED = "closed"


def decide_confirmation(
    standing: Standing, expires_at: datetime | None, closes_at: datetime, now: datetime
) -> Confirmation:
    """What following the confirmation link does now.

    Expiry is checked before the window, so that a late click is told the
    registration is gone rather than that registration closed.
    """
    if standing in (Standing.ACTIVE, Standing.CANCELLED):
        return Confirmation.DONE
    if is_expired(standing, expires_at, now):
        return Confirmation.EXPIRED
    if now >= closes_at:
        return Confirmation.CLOSED
    return Confirmation.CONFIRM


class Repeat(StrEnum):
    """What a registration of an address the event already holds leads to."""

    # The holder expired unconfirmed (or is gone): it goes, the new one is stored.
    REPLACE = "replace"
    # Write to the address again (confirmation or "already registered").
    NOTIFY = "notify"
    # The address was written to within the repeat interval: nothing more.
    QUIET = "quiet"


def decide_repeat(
    standing: Standing,
    expires_at: datetime | None,
    last_notified_at: datetime | None,
    now: datetime,
    interval: timedelta,
) -> Repeat:
    """Decide on a repeat registration; the asker is answered the same whatever this says."""
    if standing in (Standing.CANCELLED, Standing.EXPIRED) or is_expired(standing, expires_at, now):
        return Repeat.REPLACE
    if last_notified_at is not None and now < last_notified_at + interval:
        return Repeat.QUIET
    return Repeat.NOTIFY


class LinkRequest(StrEnum):
    """What a request for the manage link of an address's registration leads to."""

    # A pending or accepted registration holds the address: its link is mailed.
    SEND = "send"
    # Its link was asked for (and mailed) within the link interval: nothing more.
    QUIET = "quiet"
    # No registration holds the address (or it was cancelled or expired): nothing to send.
    NONE = "none"


def decide_link_request(
    standing: Standing,
    expires_at: datetime | None,
    last_requested_at: datetime | None,
    now: datetime,
    interval: timedelta,
) -> LinkRequest:
    """Decide on a request for the manage link; the asker is answered the same whatever it says.

    ``standing`` is that of the registration holding the address for the
    event (with none, there is nothing to send); ``last_requested_at`` when
    its link was last mailed on request. Only a live registration has a link
    worth sending: a cancelled one gave the address up, and one whose
    confirmation time ran out is gone with its personal data. The interval
    bounds how often one address can be written to, however many ask.
    """
    if standing in (Standing.CANCELLED, Standing.EXPIRED) or is_expired(standing, expires_at, now):
        return LinkRequest.NONE
    if last_requested_at is not None and now < last_requested_at + interval:
        return LinkRequest.QUIET
    return LinkRequest.SEND


# ------------------------------------------------------------------ cancelling


class Cancellation(StrEnum):
    CANCEL = "cancel"
    ALREADY_CANCELLED = "already_cancelled"
    EVENT_STARTED = "event_started"


def decide_cancellation(cancelled: bool, event_starts_at: datetime, now: datetime) -> Cancellation:
    """Whether a cancellation request cancels; a repeat is harmless even once the event runs."""
    if cancelled:
        return Cancellation.ALREADY_CANCELLED
    if now >= event_starts_at:
        return Cancellation.EVENT_STARTED
    return Cancellation.CANCEL


# ------------------------------------------------------- switching attendance


class Switch(StrEnum):
    """What a request to switch attendance does now."""

    SWITCH = "switch"
    # The registration already has that attendance: nothing changes, no event.
    UNCHANGED = "unchanged"
    CANCELLED = "cancelled"
    ERASED = "erased"
    PENDING = "pending_confirmation"
    # To on site after registration closed: seats are decided until then.
    REGISTRATION_CLOSED = "registration_closed"
    # To remote once the event has started.
    EVENT_STARTED = "event_started"


def decide_switch(
    state: RegistrationState,
    wanted: Attendance,
    registration_closes_at: datetime,
    event_starts_at: datetime,
    now: datetime,
) -> Switch:
    """Whether a registrant may switch to ``wanted`` attendance now.

    To on site only while registration is open: a seat is one of the
    things registration hands out, and it closes for everyone at the same
    time. To remote until the event starts, like a cancellation: until then
    the seat can still go to someone waiting. A cancelled, erased or
    unconfirmed registration has nothing to switch; asking for what one has
    already is answered as done, at any time, so a retried request is
    harmless.
    """
    if state.erased:
        return Switch.ERASED
    if state.cancelled or state.expired:
        return Switch.CANCELLED
    if state.pending:
        return Switch.PENDING
    if wanted is state.attendance:
        return Switch.UNCHANGED
    if wanted is Attendance.IN_PERSON and (now >= registration_closes_at or now >= event_starts_at):
        return Switch.REGISTRATION_CLOSED
    if wanted is Attendance.REMOTE and now >= event_starts_at:
        return Switch.EVENT_STARTED
    return Switch.SWITCH


def switched(state: RegistrationState, wanted: Attendance) -> RegistrationState:
    """The state right after switching to ``wanted``: the next version, no seat decided yet.

    The seat starts afresh: capacity answers the new version (a seat or a
    place in line, or the release of the old seat), and until it has the
    registrant is told ``accepted``. The stream link is kept as it is.
    """
    version = state.attendance_version + 1
    return replace(state, attendance=wanted, attendance_version=version, seat=Seat())


# ---------------------------------------------------------- correcting details


class Unchanged(Enum):
    """A field a correction leaves as it is (``None`` would clear an optional one)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class Details:
    """What a registrant may correct about themselves: everything but the address.

    The address was confirmed (or is being confirmed) from a mail; changing
    it here would let anyone with the manage link put a seat on an address
    nobody confirmed.
    """

    first_name: str
    last_name: str
    organisation: str | None
    language: Language
    needs: str | None


@dataclass(frozen=True)
class DetailsChanges:
    """A registrant's correction: the fields given, each replacing the stored one.

    ``needs_consent`` is the explicit consent given with new needs, as at
    registration; clearing the needs (``None``) needs none.
    """

    first_name: str | Unchanged = UNCHANGED
    last_name: str | Unchanged = UNCHANGED
    organisation: str | Unchanged | None = UNCHANGED
    language: Language | Unchanged = UNCHANGED
    needs: str | Unchanged | None = UNCHANGED
    needs_consent: bool = False


class NeedsChange(StrEnum):
    """What a correction does to the needs and the consent to process them."""

    NONE = "none"
    # New needs, with a consent given now (an earlier one is kept on record).
    CONSENTED = "consented"
    # Needs cleared: the consent, if any, is withdrawn now.
    CLEARED = "cleared"


@dataclass(frozen=True)
class Correction:
    """The details after a correction, and what changed of them.

    ``shared`` is true when something the other services keep (names,
    organisation, language) changed: only then is ``registration.details_changed``
    announced. Needs never leave the registration service.
    """

    details: Details
    shared: bool
    needs: NeedsChange

    @property
    def anything(self) -> bool:
        return self.shared or self.needs is not NeedsChange.NONE


def _given(current: _T, new: _T | Unchanged) -> _T:
    return current if isinstance(new, Unchanged) else new


def corrected(current: Details, changes: DetailsChanges) -> Details:
    """``current`` with the fields ``changes`` gives put in."""
    return Details(
        first_name=_given(current.first_name, changes.first_name),
        last_name=_given(current.last_name, changes.last_name),
        organisation=_given(current.organisation, changes.organisation),
        language=_given(current.language, changes.language),
        needs=_given(current.needs, changes.needs),
    )


def correction_refusal(
    state: RegistrationState, event_ends_at: datetime, now: datetime
) -> Refused | None:
    """Why no correction is possible now (Erased, Cancelled, EventEnded), or None.

    The manage page asks this to offer the correction form only when it can
    succeed; ``decide_correction`` raises it.
    """
    if state.erased:
        return Erased()
    if state.cancelled or state.expired:
        return Cancelled()
    if now >= event_ends_at:
        return EventEnded()
    return None


def decide_correction(
    state: RegistrationState,
    current: Details,
    changes: DetailsChanges,
    event_ends_at: datetime,
    now: datetime,
) -> Correction:
    """What correcting one's details does now; raises what refuses it.

    Erased (its data is gone) and Cancelled registrations are refused as
    the manage link's other actions refuse them (410), and every
    registration once the event has ended: what it said was what it was.
    New needs without consent are refused whatever else changes. A
    correction that changes nothing is no error, and announces nothing.
    """
    refusal = correction_refusal(state, event_ends_at, now)
    if refusal is not None:
        raise refusal
    if isinstance(changes.needs, str) and not changes.needs_consent:
        raise NeedsWithoutConsent
    details = corrected(current, changes)
    shared = (
        details.first_name,
        details.last_name,
        details.organisation,
        details.language,
    ) != (current.first_name, current.last_name, current.organisation, current.language)
    return Correction(details, shared, _needs_change(current.needs, details.needs))


def _needs_change(before: str | None, after: str | None) -> NeedsChange:
    if after == before:
        return NeedsChange.NONE
    return NeedsChange.CLEARED if after is None else NeedsChange.CONSENTED


# --------------------------------------------------------------------- erasure


class Erasure(StrEnum):
    """What erasing a registration does now."""

    # Still active before the event ends: cancelled (seat and link freed) and erased.
    CANCEL_AND_ERASE = "cancel_and_erase"
    # Cancelled already, or the event is over (nothing left to free): erased only.
    ERASE = "erase"
    # Erased before: nothing changes, nothing is announced again.
    ALREADY_ERASED = "already_erased"


def decide_erasure(state: RegistrationState, event_ends_at: datetime, now: datetime) -> Erasure:
    """How to erase: an active registration of an event not yet over is cancelled too.

    Cancelling as part of the erasure (rather than having capacity and
    streaming read ``registration.erased`` as a cancellation) keeps one
    meaning per event: capacity and streaming already free a seat and a link
    on ``registration.cancelled``, and the registrant's tombstone then says
    ``cancelled``, which is what statistics should count. After the event has
    ended there is nothing to free and the final state is kept as it was.
    Only an accepted registration has a seat or a link to free: one pending
    confirmation or expired unconfirmed is erased as it is, and no service
    hears of a cancellation of something it never knew.
    """
    if state.erased:
        return Erasure.ALREADY_ERASED
    if state.cancelled or state.pending or state.expired or now >= event_ends_at:
        return Erasure.ERASE
    return Erasure.CANCEL_AND_ERASE


def erased_email_key(registration_id: str) -> str:
    """The ``email_key`` of an erased registration: unique, and no address's.

    The unique index on ``(event_id, email_key)`` keeps holding, and the
    address is free to register again.
    """
    return f"{registration_id}/erased"


@dataclass(frozen=True)
class RetentionDue:
    """What the retention sweep has to erase of one event's registrations now."""

    needs: bool
    personal_data: bool

    @property
    def anything(self) -> bool:
        return self.needs or self.personal_data


def retention_due(
    ends_at: datetime,
    retention_days: int,
    now: datetime,
    *,
    needs_erased: bool = False,
    personal_data_erased: bool = False,
) -> RetentionDue:
    """``needs`` go when the event ends; all personal data ``retention_days`` after that.

    What was already erased (marked on the event) is not due again, so a
    finished event's registrations are read once for each, never on every run.
    """
    ended = now >= ends_at
    expired = now >= ends_at + timedelta(days=retention_days)
    return RetentionDue(
        needs=ended and not needs_erased and not personal_data_erased,
        personal_data=expired and not personal_data_erased,
    )


# ---------------------------------------------------------------------- status


class Status(StrEnum):
    """What a registrant is told about their registration."""

    PENDING_CONFIRMATION = "pending_confirmation"
    ACCEPTED = "accepted"
    SEAT_RESERVED = "seat_reserved"
    WAITLISTED = "waitlisted"
    REMOTE = "remote"
    CANCELLED = "cancelled"


class SeatState(StrEnum):
    """The seat as the capacity service reported it. RELEASED and LEFT are final."""

    NONE = "none"
    WAITLISTED = "waitlisted"
    RESERVED = "reserved"
    RELEASED = "released"
    LEFT = "left"


class LinkState(StrEnum):
    """The personal stream link as the streaming service reported it. REVOKED is final."""

    NONE = "none"
    PROVISIONED = "provisioned"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Seat:
    state: SeatState = SeatState.NONE
    position: int | None = None
    changed_at: datetime | None = None
    promoted: bool = False


@dataclass(frozen=True)
class StreamLink:
    state: LinkState = LinkState.NONE
    url: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class RegistrationState:
    """A registration's life as far as the registrant can see it."""

    event_id: str
    attendance: Attendance
    cancelled: bool = False
    seat: Seat = Seat()
    link: StreamLink = StreamLink()
    erased: bool = False
    # Waiting for the registrant to confirm their address.
    pending: bool = False
    # Never confirmed, and past its time: its personal data is gone already.
    expired: bool = False
    # 1 at acceptance, one more per switch of attendance.
    attendance_version: int = FIRST_ATTENDANCE_VERSION

    @property
    def status(self) -> Status:
        """``accepted`` until the responsible service reported; ``cancelled`` overrides all.

        ``pending_confirmation`` until the address is confirmed.

        In-person registrants follow their seat (capacity), remote ones their
        stream link (streaming). An in-person registrant may get a stream link
        too; it shows as ``stream_link_provisioned``, not in the status.
        """
        if self.cancelled:
            return Status.CANCELLED
        if self.pending:
            return Status.PENDING_CONFIRMATION
        if self.attendance is Attendance.IN_PERSON:
            if self.seat.state is SeatState.RESERVED:
                return Status.SEAT_RESERVED
            if self.seat.state is SeatState.WAITLISTED:
                return Status.WAITLISTED
            return Status.ACCEPTED
        if self.link.state is LinkState.PROVISIONED:
            return Status.REMOTE
        return Status.ACCEPTED

    @property
    def waitlist_position(self) -> int | None:
        return self.seat.position if self.status is Status.WAITLISTED else None

    @property
    def stream_link_provisioned(self) -> bool:
        return self.link.state is LinkState.PROVISIONED


# From which seat states each report may move the seat. A seat only moves
# forwards (none → waitlisted → reserved → released; waitlisted → left), so a
# late or repeated report that would move it backwards is ignored.
_SEAT_MOVES: dict[SeatState, frozenset[SeatState]] = {
    SeatState.WAITLISTED: frozenset({SeatState.NONE, SeatState.WAITLISTED}),
    SeatState.RESERVED: frozenset({SeatState.NONE, SeatState.WAITLISTED}),
    SeatState.RELEASED: frozenset({SeatState.NONE, SeatState.WAITLISTED, SeatState.RESERVED}),
    SeatState.LEFT: frozenset({SeatState.NONE, SeatState.WAITLISTED}),
}


def apply_report(state: RegistrationState, report: StatusReport) -> RegistrationState | None:
    """The state after ``report``, or None when the report changes nothing.

    None for: a cancelled or erased registration, a report about another event, a
    repeat, a report older than what is already known (``seat.waitlisted``
    after ``seat.reserved``, an older waiting-list position), seat reports
    about a remote registrant (capacity has no seat for them), and seat
    reports about another attendance version than the registration's: an
    older one was decided for a choice the registrant has since changed
    (a seat reserved before they switched to remote and back must not show
    while capacity decides the new choice).
    """
    if state.cancelled or state.erased or report.event_id != state.event_id:
        return None
    match report:
        case StreamLinkProvisioned():
            return _provision(state, report)
        case StreamLinkRevoked():
            if state.link.state is LinkState.REVOKED:
                return None
            return replace(state, link=StreamLink(LinkState.REVOKED, None, report.revoked_at))
    if state.attendance is not Attendance.IN_PERSON:
        return None
    if report.attendance_version != state.attendance_version:
        return None
    seat = _next_seat(report)
    if state.seat.state not in _SEAT_MOVES[seat.state]:
        return None
    if state.seat.state is SeatState.WAITLISTED and seat.state is SeatState.WAITLISTED:
        # A new position is news only if it was decided later than the known one.
        known = state.seat.changed_at
        if seat.position == state.seat.position or (
            known is not None and seat.changed_at is not None and seat.changed_at <= known
        ):
            return None
    return replace(state, seat=seat)


def _next_seat(report: SeatReserved | SeatWaitlisted | SeatReleased | WaitlistLeft) -> Seat:
    match report:
        case SeatReserved():
            return Seat(SeatState.RESERVED, None, report.reserved_at, report.promoted)
        case SeatWaitlisted():
            return Seat(SeatState.WAITLISTED, report.position, report.waitlisted_at)
        case SeatReleased():
            return Seat(SeatState.RELEASED, None, report.released_at)
        case WaitlistLeft():
            return Seat(SeatState.LEFT, None, report.left_at)


def _provision(state: RegistrationState, report: StreamLinkProvisioned) -> RegistrationState | None:
    if state.link.state is LinkState.REVOKED:
        return None
    if state.link.state is LinkState.PROVISIONED and state.link.url == report.url:
        return None
    return replace(state, link=StreamLink(LinkState.PROVISIONED, report.url))

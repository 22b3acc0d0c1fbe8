"""The life of one email, as rules with no I/O.

Exactly one email per (registration, kind, cause): the mail's id *is* that
triple (``mail_id``), recorded once with an insert against the unique
``_id``, so a redelivered or duplicated event finds it already there. The
cause (stored as ``occasion``) says which happening of the kind the mail is
about, for kinds that can happen more than once:

- a repeat registration's mails (the confirmation again, "already
  registered"): the time of the repeat (``occasion_of``), and the
  registration service lets at most one repeat per interval through;
- a requested manage link's mail: the time of the request, in the same way;
- seat, waiting-list and stream-link mails: the attendance version they
  answer (``cause_of_version``), since every switch of attendance asks
  capacity and streaming again. Version 1, the acceptance, is the empty
  cause, so mails stored before switching existed keep their ids;
- kinds that happen once per registration (the receipt, the cancellation):
  the empty cause.

- mails to an event's audience (``broadcasting``): the reminder's offset
  (``m1440``), the change notice's revision (``r7``), the organiser
  message's id; empty for the cancellation notice and the thank-you.

A resend gets a cause of its own in the same way. A mail then goes

    pending ──▶ sending ──▶ sent
       ▲           │
       └── retry ◀─┤ (a failed attempt, within the budget)
                   └──▶ failed (budget spent or refused for good; parked for an operator)

and a pending mail that became pointless before it went out (a seat
confirmation for a registration already cancelled) is ``skipped``.

SMTP has no exactly-once: a process can die after the server took a mail and
before ``sent`` was recorded. Such a mail is found in ``sending`` once its
lease ran out and is sent again with the same deterministic Message-ID
(``message_id``), so the second copy is recognisable as a resend.

The plain data the stores, the renderer and the dispatcher share (a
``Contact``, a ``MailRequest``, a ``Mail``) lives here too, so that none of
them depends on another for it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from ilmo_event_contracts import Attendance, Language, NotificationKind


class MailState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN_STATES = (MailState.PENDING, MailState.SENDING)
CLOSED_STATES = (MailState.SENT, MailState.FAILED, MailState.SKIPPED)


@dataclass(frozen=True)
class Contact:
    """How to reach one registrant (this service's own copy, from ``registration.accepted``)."""

    registration_id: str
    event_id: str
    email: str
    first_name: str
    last_name: str
    language: Language
    attendance: Attendance

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class ContactCorrection(StrEnum):
    """What a registrant's corrected details did to this service's copy of the contact."""

    APPLIED = "applied"
    # The copy already holds these details or newer ones (a repeat, or a late arrival).
    STALE = "stale"
    # The contact was erased: it stays so.
    ERASED = "erased"
    # The contact has not arrived yet (its registration event is behind, being retried).
    NOT_KEPT = "not_kept"


def newer_details(known_version: int, incoming_version: int) -> bool:
    """Whether a correction of ``incoming_version`` is newer than the copy's ``known_version``.

    Corrections may arrive repeated and out of order (redelivery, retries);
    only a newer one changes the copy, so the last correction wins whatever
    the order of arrival. A contact kept from the registration is version 0.
    """
    return incoming_version > known_version


@dataclass(frozen=True)
class MailRequest:
    """What to write: the kind and what the event that asked for it said."""

    registration_id: str
    event_id: str
    kind: NotificationKind
    details: Mapping[str, Any]
    # Empty for the one mail of its kind; the repeat's time for a repeat's mail.
    occasion: str = ""

    @property
    def mail_id(self) -> str:
        return mail_id(self.registration_id, self.kind, self.occasion)


def addressed(contact: Contact, request: MailRequest) -> Contact:
    """The contact as ``request``'s mail speaks to them: in the language it asks for, if any.

    A manage link asked for from a page read in Swedish is read by whoever
    asked, in Swedish, whatever language the registration was made in (the
    request's ``details["language"]``); every other mail speaks the
    registrant's own language.
    """
    language = request.details.get("language")
    if not language:
        return contact
    return replace(contact, language=Language(language))


@dataclass(frozen=True)
class Mail:
    """A recorded mail: what to send and where it is in its life."""

    id: str
    registration_id: str
    event_id: str
    kind: NotificationKind
    details: Mapping[str, Any]
    state: MailState
    attempts: int
    waiting_checks: int
    correlation_id: str | None = None
    # Attempts made before an operator's replay; the budget counts from here.
    budget_from: int = 0
    occasion: str = ""

    @property
    def attendance_version(self) -> int | None:
        """The attendance version a seat, waiting-list or stream-link mail answers."""
        return version_of_cause(self.occasion) if self.kind in VERSIONED_KINDS else None

    @property
    def request(self) -> MailRequest:
        return MailRequest(
            self.registration_id, self.event_id, self.kind, self.details, self.occasion
        )


class Claim(Enum):
    """The outcome of claiming an attempt at a mail."""

    CLAIMED = "claimed"  # this process makes the attempt
    TAKEN = "taken"  # another dispatcher is making it right now
    ABANDONED = "abandoned"  # claimed long ago by a dispatcher that never marked it


# The order a registrant should read their mails in, when several are due at once.
KIND_ORDER: tuple[NotificationKind, ...] = (
    NotificationKind.CONFIRM_ADDRESS,
    NotificationKind.REGISTRATION_RECEIVED,
    NotificationKind.ALREADY_REGISTERED,
    NotificationKind.MANAGE_LINK,
    NotificationKind.WAITLISTED,
    NotificationKind.SEAT_CONFIRMED,
    NotificationKind.STREAM_LINK,
    # Mails to the event's audience (``broadcasting``): what changed before
    # what is coming, the cancellation of the event last of them.
    NotificationKind.EVENT_CHANGED,
    NotificationKind.ORGANISER_MESSAGE,
    NotificationKind.REMINDER,
    NotificationKind.THANK_YOU,
    NotificationKind.EVENT_CANCELLED,
    NotificationKind.CANCELLATION_CONFIRMED,
)

# A mail not yet sent is dropped when one of these was recorded for the same
# registration: a waiting-list place after the seat came, or a seat or a
# stream link after the registrant cancelled.
SUPERSEDED_BY: dict[NotificationKind, tuple[NotificationKind, ...]] = {
    NotificationKind.WAITLISTED: (
        NotificationKind.SEAT_CONFIRMED,
        NotificationKind.CANCELLATION_CONFIRMED,
    ),
    NotificationKind.SEAT_CONFIRMED: (NotificationKind.CANCELLATION_CONFIRMED,),
    NotificationKind.STREAM_LINK: (NotificationKind.CANCELLATION_CONFIRMED,),
    # A registrant who cancelled hears nothing more about the event.
    NotificationKind.REMINDER: (NotificationKind.CANCELLATION_CONFIRMED,),
    NotificationKind.EVENT_CHANGED: (NotificationKind.CANCELLATION_CONFIRMED,),
    NotificationKind.EVENT_CANCELLED: (NotificationKind.CANCELLATION_CONFIRMED,),
    NotificationKind.ORGANISER_MESSAGE: (NotificationKind.CANCELLATION_CONFIRMED,),
    NotificationKind.THANK_YOU: (NotificationKind.CANCELLATION_CONFIRMED,),
}


def mail_id(registration_id: str, kind: NotificationKind, occasion: str = "") -> str:
    """The one id a (registration, kind[, occasion]) email can have."""
    base = f"{registration_id}:{kind.value}"
    return f"{base}:{occasion}" if occasion else base


def message_id(
    registration_id: str, kind: NotificationKind, domain: str, occasion: str = ""
) -> str:
    """The RFC 5322 Message-ID of that email: the same on every attempt."""
    suffix = f".{occasion}" if occasion else ""
    return f"<{registration_id}.{kind.value}{suffix}@{domain}>"


def occasion_of(moment: datetime) -> str:
    """The occasion of a repeat's mail: its time in milliseconds, stable across deliveries."""
    return str(int(moment.timestamp() * 1000))


# Kinds that answer one attendance version: their cause is the version.
VERSIONED_KINDS = frozenset(
    {NotificationKind.SEAT_CONFIRMED, NotificationKind.WAITLISTED, NotificationKind.STREAM_LINK}
)


def cause_of_version(attendance_version: int) -> str:
    """The cause of a mail answering ``attendance_version``: empty for 1, ``v<n>`` after."""
    return "" if attendance_version <= 1 else f"v{attendance_version}"


def version_of_cause(cause: str) -> int:
    """The attendance version a versioned mail's cause names (inverse of ``cause_of_version``).

    A resent mail's cause is its original's and ``/resend-<request>`` (``resend_cause``).
    """
    cause = cause.split("/", 1)[0]
    return int(cause[1:]) if cause.startswith("v") and cause[1:].isdigit() else 1


def resend_cause(original: str, request_id: str) -> str:
    """The cause of a mail sent again on an organiser's request: one mail per request."""
    return f"{original}/resend-{request_id}"


def superseding_ids(mail: Mail | MailRequest) -> dict[NotificationKind, str]:
    """The ids of the mails that would make ``mail`` pointless, by their kind.

    A waiting-list mail is superseded by the seat mail of the same
    attendance version (a seat for an older or newer choice says nothing
    about this one); anything by the registration's one cancellation mail.
    """
    ids: dict[NotificationKind, str] = {}
    for later in SUPERSEDED_BY.get(mail.kind, ()):
        cause = mail.occasion if later in VERSIONED_KINDS else ""
        ids[later] = mail_id(mail.registration_id, later, cause)
    return ids


def superseded_by(
    kind: NotificationKind,
    recorded: Collection[NotificationKind],
    state: MailState = MailState.PENDING,
) -> NotificationKind | None:
    """The later kind recorded for the same registration that makes ``kind`` pointless.

    A mail left ``sending`` by a process that died may already be in the
    registrant's inbox: skipping it would leave a delivered mail without its
    record and its ``notification.sent``. It is sent again (same Message-ID,
    so a mail client shows it once) and recorded, like any mail whose attempt
    had an unknown outcome.
    """
    if state is MailState.SENDING:
        return None
    for later in SUPERSEDED_BY.get(kind, ()):
        if later in recorded:
            return later
    return None


# Mails that never wait for the receipt: the first mails themselves, and the
# "already registered" and manage link mails, which answer a repeat or a
# request long after the receipt.
FIRST_MAILS = frozenset(
    {
        NotificationKind.CONFIRM_ADDRESS,
        NotificationKind.REGISTRATION_RECEIVED,
        NotificationKind.ALREADY_REGISTERED,
        NotificationKind.MANAGE_LINK,
    }
)


def waits_for_receipt(
    kind: NotificationKind, receipt: MailState | None, confirmation: MailState | None = None
) -> bool:
    """Whether a mail must wait for the registration's receipt to be done with.

    The confirmation of receipt is the first mail a registrant reads; every
    other mail waits until it was sent (or given up on). A receipt not yet
    recorded is one whose ``registration.accepted`` has not arrived yet. A
    registrant who confirmed their address got the "confirm your address"
    mail first instead and gets no receipt (it would say what the
    confirmation page said): once that mail is recorded nothing waits.
    """
    if kind in FIRST_MAILS or confirmation is not None:
        return False
    return receipt not in CLOSED_STATES


def kind_rank(kind: NotificationKind) -> int:
    return KIND_ORDER.index(kind)


class FailureKind(StrEnum):
    """Why an attempt failed, which decides what happens next."""

    # The server could not be reached or dropped us: nothing about this mail.
    CONNECTION = "connection"
    # The server answered 4xx (or a 5xx that is not about the recipient).
    TRANSIENT = "transient"
    # The recipient was refused for good (5xx to RCPT): retrying cannot help.
    PERMANENT = "permanent"
    # The mail could not be rendered: a bug or bad data, retrying cannot help.
    RENDER = "render"
    # The attempt broke off on a fault of this service (not SMTP, not the
    # database being out): retried within the budget, in case it passes.
    INTERNAL = "internal"


@dataclass(frozen=True)
class MailRetryPolicy:
    """A mail's retry budget: ``max_attempts`` attempts, exponential waits between them.

    (Not the broker's ``RedeliveryPolicy``, which redelivers messages whose
    handler failed.)
    """

    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempt: int, jitter: float = 1.0) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``jitter`` (e.g. uniform in [0.8, 1]) spreads mails that failed
        together so they do not all come back at once.
        """
        exponent = min(max(attempt - 1, 0), 30)
        return float(min(self.base_seconds * 2.0**exponent, self.max_seconds) * jitter)


@dataclass(frozen=True)
class RetryAt:
    """Try again after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Park:
    """Give up: the mail is ``failed`` and waits for an operator.

    ``reason`` is for the operator and may quote the mail server (and so an
    address); ``failure`` is its category, which may leave Ilmo.
    """

    reason: str
    failure: FailureKind


def after_failure(
    attempts: int,
    failure: FailureKind,
    detail: str,
    policy: MailRetryPolicy,
    jitter: float = 1.0,
) -> RetryAt | Park:
    """What follows a failed attempt, ``attempts`` attempts having been made."""
    reason = f"{failure.value}: {detail}"[:500]
    if failure in (FailureKind.PERMANENT, FailureKind.RENDER):
        return Park(reason, failure)
    if attempts >= policy.max_attempts:
        return Park(f"{attempts} attempts, last {reason}"[:500], failure)
    return RetryAt(policy.delay(attempts, jitter))


def waiting_delay(checks: int, *, first: float = 2.0, longest: float = 300.0) -> float:
    """How long a mail waiting for its contact or event details waits before another look.

    Arrivals wake waiting mails at once; this only bounds how long one that
    was missed (a race with the arrival) can wait.
    """
    return float(min(first * 2.0 ** min(checks, 30), longest))

"""Internal events: typed events published on the ``ilmo.internal`` topic exchange.

These are the facts Ilmo's own services exchange. They carry the personal
data the services need to do their work (a registrant's name and address,
a personal stream link), so only Ilmo's services may read ``ilmo.internal``.
Outside systems get the integration events of ``ilmo_event_contracts.integration``
on ``ilmo.events`` instead, which carry none of it.

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
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

# The durable topic exchange every internal event is published on (routing key =
# event type); only Ilmo's services read it.
INTERNAL_EXCHANGE = "ilmo.internal"


class Attendance(StrEnum):
    """How a registrant takes part: in a seat at the venue, or on the web stream."""

    IN_PERSON = "in_person"
    REMOTE = "remote"


class Language(StrEnum):
    """Languages the registrant can be served in."""

    FI = "fi"
    SV = "sv"
    EN = "en"


class InternalEvent(BaseModel):
    """Base of every internal event: immutable, tolerant of unknown fields when read."""

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


class RegistrationEvent(InternalEvent):
    """An event about one registration: its id is the CloudEvents ``subject``."""

    registration_id: UUID
    event_id: str = Field(min_length=1, max_length=100)

    def subject(self) -> str:
        return str(self.registration_id)


class RegistrationAccepted(RegistrationEvent):
    """A person's registration for an event was accepted and stored.

    Carries the contact details and choices the downstream services act on:
    capacity decides on a seat, notification writes to the person, streaming
    provisions a personal link.
    """

    event_type: ClassVar[str] = "registration.accepted"

    attendance: Attendance
    language: Language
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    organisation: str | None = Field(default=None, max_length=200)
    registered_at: datetime
    email_confirmed: bool = Field(
        default=False,
        description="The registrant confirmed their address first (registration.submitted "
        "came before, with the mail that asked for it), so no receipt mail follows.",
    )


class RegistrationSubmitted(RegistrationEvent):
    """A person registered for an event that asks them to confirm their address first.

    The registration is pending until they follow the link in the mail this
    asks the notification service to send; only then is it accepted
    (``registration.accepted``) and does the pipeline start. Carries the
    contact details that mail needs. Internal only: outside systems learn of
    a registration when it is accepted, never of unconfirmed ones.
    """

    event_type: ClassVar[str] = "registration.submitted"

    attendance: Attendance
    language: Language
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    organisation: str | None = Field(default=None, max_length=200)
    submitted_at: datetime
    expires_at: datetime = Field(description="Unconfirmed by then, the registration is removed.")


class RegistrationRepeated(RegistrationEvent):
    """Someone registered again an address already registered (or pending) for the event.

    ``registration_id`` is the existing registration: the notification
    service writes to its address again (the confirmation mail while
    ``awaiting_confirmation``, otherwise "you are already registered, here is
    your link"). The one who asked got the same answer as for a new
    registration, so nobody learns who registered. At most one per
    registration per repeat interval (``docs/security.md``). Carries no
    personal data, but is internal only: it would tell who registered twice.
    """

    event_type: ClassVar[str] = "registration.repeated"

    awaiting_confirmation: bool
    expires_at: datetime | None = None
    repeated_at: datetime


class RegistrationManageLinkRequested(RegistrationEvent):
    """Someone asked for the manage link of the registration holding an address for the event.

    ``registration_id`` is that registration, pending confirmation or
    accepted: the notification service mails its manage link to its address
    (with the confirmation link while ``awaiting_confirmation``), in
    ``language`` when the asker chose one, else in the registration's own.
    The one who asked got the same answer whether or not the address is
    registered, so nobody learns who registered. At most one per
    registration per interval (``docs/security.md``). Carries no personal
    data, but is internal only: it would tell that the address is registered.
    """

    event_type: ClassVar[str] = "registration.manage_link_requested"

    awaiting_confirmation: bool
    expires_at: datetime | None = None
    language: Language | None = Field(
        default=None,
        description="The language the asker chose for the mail; none: the registration's own.",
    )
    requested_at: datetime


class RegistrationExpired(RegistrationEvent):
    """A registration nobody confirmed in time was removed with its personal data.

    The notification service forgets its copy of the contact and the mails.
    Internal only: outside systems never heard of it.
    """

    event_type: ClassVar[str] = "registration.expired"

    expired_at: datetime


class RegistrationDetailsChanged(RegistrationEvent):
    """A registrant corrected their details (GDPR Art. 16); carries them as they now are.

    Names, organisation and language after the change, whichever of them
    changed, so that a consumer keeps the whole of them from the newest change
    alone. ``details_version`` grows by one with each change of a
    registration's details (the registration itself is version 0): a consumer
    that knows a version at least as new ignores an older change arriving
    late. The address never changes (it was confirmed), nor do needs travel
    (they stay in the registration service). Internal only: it carries
    personal data, and outside systems keep none.
    """

    event_type: ClassVar[str] = "registration.details_changed"

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    organisation: str | None = Field(default=None, max_length=200)
    language: Language
    details_version: int = Field(ge=1, description="Grows by one with each change.")
    changed_at: datetime


class LocalizedText(BaseModel):
    """Text in the languages an event is presented in; Finnish is always there."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    fi: str
    sv: str | None = None
    en: str | None = None

    def in_language(self, language: Language) -> str:
        """The text in ``language``, falling back to Finnish where it is missing."""
        return getattr(self, language.value) or self.fi


def finnish_if_plain(value: object) -> object:
    """A plain string where texts per language are expected is the Finnish text.

    Events written before names differed by language (a venue's ``name`` was
    one string) read on unchanged.
    """
    return {"fi": value} if isinstance(value, str) else value


# Text per language that a plain string also gives (as the Finnish text).
Multilingual = Annotated[LocalizedText, BeforeValidator(finnish_if_plain)]


class Venue(BaseModel):
    """Where the in-person audience goes; its name may differ by language."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: Multilingual = Field(
        description='"Valtiovarainministeriö" in Finnish, "Finansministeriet" in Swedish.'
    )
    address: str
    arrival_instructions: LocalizedText | None = None


class Organiser(BaseModel):
    """Who holds the event, and where a registrant's questions go.

    Mails are sent in the organiser's name (from Ilmo's own address) with
    ``Reply-To`` set to ``email``; pages show the organiser and the contact.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: Multilingual
    email: EmailStr = Field(description="Where questions about the event go.")
    phone: str | None = None


class Speaker(BaseModel):
    """A person on the agenda; title and organisation may differ by language."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    title: Multilingual | None = None
    organisation: Multilingual | None = None


class Talk(BaseModel):
    """One talk (or panel) within an agenda block, with its speakers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    title: LocalizedText
    speakers: tuple[Speaker, ...] = ()


class AgendaItem(BaseModel):
    """A block of the agenda: its time, title, its own speakers (a host) and its talks."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    starts_at: datetime
    ends_at: datetime
    title: LocalizedText
    speakers: tuple[Speaker, ...] = ()
    talks: tuple[Talk, ...] = ()


# Personal data of an event's registrations is erased this many days after the
# event ends, unless the event says otherwise; at most about five years, the
# longest retention the archive rules allow for event records.
RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 5 * 366

# Personal stream links open this many minutes before an event starts and
# close this many after it ends, unless the event says otherwise; at most a day.
STREAM_OPENS_MINUTES_BEFORE = 30
STREAM_CLOSES_MINUTES_AFTER = 120
MAX_STREAM_WINDOW_MINUTES = 24 * 60

# Reminders go at most two weeks before; an event has at most this many.
MAX_REMINDER_MINUTES_BEFORE = 14 * 24 * 60
MAX_REMINDERS = 5
# A seat freed later than this before the start stays free: nobody is promoted
# from the waiting list (a mail read on the train is no use).
PROMOTION_CUTOFF_MINUTES = 120
MAX_PROMOTION_CUTOFF_MINUTES = 14 * 24 * 60
# The thank-you mail goes this long after the event ends, unless the event says otherwise.
THANK_YOU_MINUTES_AFTER = 120
MAX_THANK_YOU_MINUTES_AFTER = 30 * 24 * 60


class StreamPlayback(StrEnum):
    """How a personal stream link leads to the video (issue 20, docs/security.md).

    ``redirect`` sends the viewer to the event's ``stream_url`` itself: for a
    public stream, where whoever has the URL may watch. ``signed_hls`` is for
    a closed one: ``stream_url`` is the stream's HLS playlist at the
    deployment's signing origin, and the link hands out short-lived URLs of
    it signed for that one link, so a revoked link loses the video too.
    """

    REDIRECT = "redirect"
    SIGNED_HLS = "signed_hls"


class Audience(StrEnum):
    """Whom a message about an event goes to, among its active (not cancelled) registrants."""

    # Everyone registered and not cancelled.
    ALL = "all"
    # Those holding a seat at the venue.
    ON_SITE = "on_site"
    # Those who chose to follow the web stream.
    REMOTE = "remote"
    # Those waiting for a seat (they may follow the stream meanwhile).
    WAITING_LIST = "waiting_list"
    # Everyone who will watch the stream: remote attendees and the waiting list.
    STREAM = "stream"


class Reminder(BaseModel):
    """A reminder mail ``minutes_before`` the event starts, to ``audience``.

    Someone holding a seat gets the arrival details (and the check-in code);
    someone on the stream or the waiting list gets their personal stream link.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    minutes_before: int = Field(ge=1, le=MAX_REMINDER_MINUTES_BEFORE)
    audience: Audience = Audience.ALL


# By default: everyone the day before; the stream's audience half an hour before.
DEFAULT_REMINDERS: tuple[Reminder, ...] = (
    Reminder(minutes_before=24 * 60, audience=Audience.ALL),
    Reminder(minutes_before=30, audience=Audience.STREAM),
)


class EventContent(BaseModel):
    """Everything the catalogue says about one event: the one definition of its fields.

    The registration service keeps an event as this (and validates its own
    rules on it); ``EventDetails`` carries it to subscribers with the
    event's id and revision.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    title: LocalizedText
    description: LocalizedText | None = None
    starts_at: datetime
    ends_at: datetime
    timezone: str
    venue: Venue
    in_person_capacity: int = Field(ge=0)
    registration_opens_at: datetime
    registration_closes_at: datetime
    stream_url: str
    # With a default, so that events stored before the field existed still read.
    stream_playback: StreamPlayback = Field(
        default=StreamPlayback.REDIRECT,
        description="How personal stream links lead to the stream: `redirect` to stream_url, "
        "or `signed_hls`: short-lived signed URLs of stream_url (an HLS playlist at the "
        "signing origin).",
    )
    stream_opens_minutes_before: int = Field(
        default=STREAM_OPENS_MINUTES_BEFORE,
        ge=0,
        le=MAX_STREAM_WINDOW_MINUTES,
        description="Personal stream links open this long before.",
    )
    stream_closes_minutes_after: int = Field(
        default=STREAM_CLOSES_MINUTES_AFTER,
        ge=0,
        le=MAX_STREAM_WINDOW_MINUTES,
        description="Personal stream links close this long after.",
    )
    agenda: tuple[AgendaItem, ...] = ()
    target_groups: tuple[Multilingual, ...] = ()
    published: bool
    # Optional only so that events stored before it existed still read; the
    # API requires it of every event written.
    organiser: Organiser | None = None
    # With a default, so that events stored before the field existed still read.
    retention_days: int = Field(
        default=RETENTION_DAYS,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="Registrations' personal data is erased this many days after the event "
        "ends (0: as soon as it ends); needs are erased when it ends.",
    )
    email_confirmation: bool = Field(
        default=True,
        description="Registrants confirm their address from a mail before they are accepted "
        "(an event stored before this field existed reads as true).",
    )
    # The event's life after the first mails. Every field has a default, so that
    # events stored before they existed still read.
    reminders: tuple[Reminder, ...] = Field(
        default=DEFAULT_REMINDERS,
        max_length=MAX_REMINDERS,
        description="Reminder mails before the start (none: an empty list).",
    )
    promotion_cutoff_minutes: int = Field(
        default=PROMOTION_CUTOFF_MINUTES,
        ge=0,
        le=MAX_PROMOTION_CUTOFF_MINUTES,
        description="No promotion from the waiting list this close to the start: a seat "
        "freed later stays free.",
    )
    thank_you_minutes_after: int | None = Field(
        default=THANK_YOU_MINUTES_AFTER,
        ge=0,
        le=MAX_THANK_YOU_MINUTES_AFTER,
        description="The thank-you mail goes this long after the end (none: no thank-you).",
    )
    feedback_url: str | None = Field(
        default=None, max_length=2000, description="The feedback form, in the thank-you mail."
    )
    recording_url: str | None = Field(
        default=None, max_length=2000, description="The recording, in the thank-you mail."
    )
    cancelled_at: datetime | None = Field(
        default=None, description="When the organiser cancelled the event (none: not cancelled)."
    )
    cancellation_note: LocalizedText | None = Field(
        default=None, description="The organiser's word to registrants about the cancellation."
    )


class CatalogueEvent(InternalEvent):
    """An event about one event of the catalogue: its id is the CloudEvents ``subject``."""

    event_id: str = Field(min_length=1, max_length=100)
    revision: int = Field(ge=1, description="Grows by one with every change of the event.")

    def subject(self) -> str:
        return self.event_id


# The bases in this order keep the fields in the published order: event_id and
# revision first (CatalogueEvent, further down the MRO), then the content.
class EventDetails(EventContent, CatalogueEvent):
    """The whole published state of an event in the catalogue (event-carried state).

    Subscribers keep what they need from it (capacity the seat count, streaming
    the stream URL and times, notification the texts, venue and agenda) and
    never call the registration service back.
    """


class EventPublished(EventDetails):
    """An event was created in the catalogue."""

    event_type: ClassVar[str] = "event.published"


class EventUpdated(EventDetails):
    """An event in the catalogue was changed; carries its whole new state."""

    event_type: ClassVar[str] = "event.updated"


class EventCancelled(EventDetails):
    """The organiser cancelled a published event; carries its whole state, ``cancelled_at`` set.

    Registrants are told (notification), watch links answer 410 (streaming),
    nobody is promoted any more (capacity). A cancelled event cannot be
    changed or published again.
    """

    event_type: ClassVar[str] = "event.cancelled"


class MessageRequested(InternalEvent):
    """An organiser asked for a message to an event's registrants (``audience``).

    ``message_id`` is chosen when the organiser previews the message, so a
    send pressed twice is one message; notification sends each recipient one
    mail per ``message_id``. Texts missing in Swedish or English fall back to
    Finnish.
    """

    event_type: ClassVar[str] = "message.requested"

    message_id: UUID
    event_id: str = Field(min_length=1, max_length=100)
    audience: Audience
    title: LocalizedText = Field(description="The mail's subject.")
    body: LocalizedText
    requested_at: datetime

    def subject(self) -> str:
        return str(self.message_id)


class CheckInMethod(StrEnum):
    """How door staff found the registrant."""

    QR = "qr"
    SEARCH = "search"


class AttendanceCheckedIn(RegistrationEvent):
    """The registrant was checked in at the door (once; a second scan changes nothing)."""

    event_type: ClassVar[str] = "attendance.checked_in"

    checked_in_at: datetime
    method: CheckInMethod


class StreamJoined(RegistrationEvent):
    """The registrant first opened the stream through their personal link.

    Announced once per registration: later joins update streaming's record
    (the last join) without an event.
    """

    event_type: ClassVar[str] = "stream.joined"

    joined_at: datetime


class RegistrationCancelled(RegistrationEvent):
    """A registrant cancelled; their seat, waiting-list place and stream link go."""

    event_type: ClassVar[str] = "registration.cancelled"

    attendance: Attendance
    cancelled_at: datetime


# Every registration's attendance starts at version 1 (its acceptance); each
# switch of attendance (``registration.attendance_changed``) is the next
# version. Capacity's and streaming's answers carry the version they answer,
# so a consumer can tell an answer to an older choice from one to the newest.
# Events written before switching existed read as version 1.
FIRST_ATTENDANCE_VERSION = 1


def _attendance_version() -> Any:
    return Field(
        default=FIRST_ATTENDANCE_VERSION,
        ge=FIRST_ATTENDANCE_VERSION,
        description="The registration's attendance version this answers: 1 for its "
        "acceptance, then one more per switch of attendance.",
    )


class RegistrationAttendanceChanged(RegistrationEvent):
    """A registrant switched between on site and remote; ``attendance`` is the new choice.

    ``attendance_version`` numbers the registration's choices: 1 was its
    acceptance, each switch is the next. Capacity asks for or gives back a
    seat, streaming provisions (or announces again) a stream link, and both
    answer with this version, which is what identifies the effects of this
    switch (``docs/architecture.md``, "How repeated effects are identified").
    """

    event_type: ClassVar[str] = "registration.attendance_changed"

    attendance: Attendance
    attendance_version: int = Field(ge=FIRST_ATTENDANCE_VERSION + 1)
    changed_at: datetime


class ErasureReason(StrEnum):
    """Why a registration's personal data was erased."""

    # The registrant asked for it (GDPR Art. 17), through an administrator.
    REQUEST = "request"
    # The event's retention period (``retention_days`` after it ended) ran out.
    RETENTION = "retention"


class RegistrationErased(RegistrationEvent):
    """A registration's personal data was erased; every service erases its own copies.

    Carries ids only: what remains of the registration is a tombstone with
    the counts and states statistics need. Erasing does not cancel by itself:
    a registration that still held a seat or a link is cancelled first, with
    its own ``registration.cancelled``, recorded in the same write.
    """

    event_type: ClassVar[str] = "registration.erased"

    erased_at: datetime
    # Not ``reason``: that name is kept for free text, which this is not.
    erasure_reason: ErasureReason


class SeatReserved(RegistrationEvent):
    """A seat at the venue is held for the registrant.

    ``promoted`` is true when the seat came from the waiting list after
    someone else cancelled or the capacity grew.
    """

    event_type: ClassVar[str] = "seat.reserved"

    promoted: bool = False
    reserved_at: datetime
    attendance_version: int = _attendance_version()


class SeatWaitlisted(RegistrationEvent):
    """The venue is full; the registrant is on the waiting list at ``position`` (1 = next)."""

    event_type: ClassVar[str] = "seat.waitlisted"

    position: int = Field(ge=1)
    waitlisted_at: datetime
    attendance_version: int = _attendance_version()


class SeatReleased(RegistrationEvent):
    """A held seat was given back (the registrant cancelled or switched to remote).

    It goes to the first on the waiting list.
    """

    event_type: ClassVar[str] = "seat.released"

    released_at: datetime
    attendance_version: int = _attendance_version()


class WaitlistLeft(RegistrationEvent):
    """A waitlisted registrant cancelled (or switched to remote) and left the waiting list."""

    event_type: ClassVar[str] = "waitlist.left"

    left_at: datetime
    attendance_version: int = _attendance_version()


class StreamLinkProvisioned(RegistrationEvent):
    """A personal stream link was issued to a registrant who will (or may) watch remotely.

    ``url`` is the registrant's own link; it carries an unguessable token and
    no personal data. It opens at ``valid_from`` and closes at ``valid_until``.
    A link already provisioned is announced again, unchanged, when its
    registrant switches to remote: ``attendance_version`` tells which switch
    the announcement answers (1: the acceptance or a waiting-list place).
    """

    event_type: ClassVar[str] = "stream.link.provisioned"

    url: str
    valid_from: datetime
    valid_until: datetime
    attendance_version: int = _attendance_version()


class StreamLinkRevoked(RegistrationEvent):
    """A personal stream link stopped working (the registrant cancelled)."""

    event_type: ClassVar[str] = "stream.link.revoked"

    revoked_at: datetime


class NotificationKind(StrEnum):
    """The messages a registrant can receive."""

    CONFIRM_ADDRESS = "confirm_address"
    REGISTRATION_RECEIVED = "registration_received"
    ALREADY_REGISTERED = "already_registered"
    MANAGE_LINK = "manage_link"
    SEAT_CONFIRMED = "seat_confirmed"
    WAITLISTED = "waitlisted"
    STREAM_LINK = "stream_link"
    CANCELLATION_CONFIRMED = "cancellation_confirmed"
    REMINDER = "reminder"
    EVENT_CHANGED = "event_changed"
    EVENT_CANCELLED = "event_cancelled"
    ORGANISER_MESSAGE = "organiser_message"
    THANK_YOU = "thank_you"


class NotificationSent(RegistrationEvent):
    """An email of ``kind`` was accepted by the mail server. Carries no address."""

    event_type: ClassVar[str] = "notification.sent"

    kind: NotificationKind
    message_id: str
    sent_at: datetime
    attendance_version: int | None = Field(
        default=None,
        ge=1,
        description="For a seat, waiting-list or stream-link mail: the attendance version it "
        "answers (each switch of attendance gets its own); none for other kinds.",
    )


class NotificationFailed(RegistrationEvent):
    """An email of ``kind`` could not be sent within the retry budget; parked for an operator."""

    event_type: ClassVar[str] = "notification.failed"

    kind: NotificationKind
    reason: str = Field(max_length=500)
    failed_at: datetime
    attendance_version: int | None = Field(
        default=None,
        ge=1,
        description="For a seat, waiting-list or stream-link mail: the attendance version it "
        "answers (each switch of attendance gets its own); none for other kinds.",
    )


EVENT_TYPES: dict[str, type[InternalEvent]] = {
    cls.event_type: cls
    for cls in (
        EventPublished,
        EventUpdated,
        EventCancelled,
        MessageRequested,
        AttendanceCheckedIn,
        StreamJoined,
        RegistrationSubmitted,
        RegistrationRepeated,
        RegistrationManageLinkRequested,
        RegistrationExpired,
        RegistrationDetailsChanged,
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
        NotificationSent,
        NotificationFailed,
    )
}


def event_class_for(event_type: str) -> type[InternalEvent] | None:
    """The event class registered for a routing key, or None if unknown."""
    return EVENT_TYPES.get(event_type)

"""The JSON the HTTP API takes and gives, and the mappers between it and the use cases.

Input models reject unknown fields, trim strings and limit their length;
single-line texts may not contain control characters. What the catalogue
rules say about a whole event (times in order, agenda inside the event…) is
checked by ``catalogue.violations`` on the validated input. What each
validator checks is stated in the JSON Schema too (``text_patterns``,
``WithJsonSchema``), so that input valid under the OpenAPI document is
accepted; only the catalogue's rules that relate an event's fields to each
other cannot be, and the descriptions say them. An event's input
has the same field names as the ``EventSpec`` it becomes, so each converts
to the other by ``model_dump``/``model_validate``; output models are built
from what the use cases answer (``EventView.of``, ``RegistrationView.of``…).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from ilmo_event_contracts import Attendance, Language
from ilmo_event_contracts.events import (
    DEFAULT_REMINDERS,
    MAX_PROMOTION_CUTOFF_MINUTES,
    MAX_REMINDER_MINUTES_BEFORE,
    MAX_REMINDERS,
    MAX_RETENTION_DAYS,
    MAX_STREAM_WINDOW_MINUTES,
    MAX_THANK_YOU_MINUTES_AFTER,
    PROMOTION_CUTOFF_MINUTES,
    RETENTION_DAYS,
    STREAM_CLOSES_MINUTES_AFTER,
    STREAM_OPENS_MINUTES_BEFORE,
    THANK_YOU_MINUTES_AFTER,
    Audience,
    EventContent,
    LocalizedText,
    StreamPlayback,
    finnish_if_plain,
)
from ilmo_registration.audit import Action, AuditEntry, AuditPage
from ilmo_registration.catalogue import (
    DEFAULT_TIMEZONE,
    EVENT_ID_PATTERN,
    EventSpec,
    shown_in_zone,
)
from ilmo_registration.domain import (
    DetailsChanges,
    Registrant,
    RegistrationWindow,
    Status,
    registration_window,
)
from ilmo_registration.privacy import (
    MAX_NOTICE_CHARACTERS,
    NeedsConsent,
    NoticeShown,
    PrivacyNotice,
)
from ilmo_registration.text_patterns import (
    BLANK,
    EMAIL_SCHEMA,
    HTTPS_URL_PATTERN,
    OPTIONAL_HTTPS_URL_PATTERN,
    PARAGRAPHS_FORBIDDEN,
    SINGLE_LINE_FORBIDDEN,
    TIMEZONE_PATTERN,
    optional_text_schema,
    text_schema,
)
from ilmo_shared.access import Kind
from ilmo_shared.i18n import _

if TYPE_CHECKING:
    from ilmo_registration.storage import StoredEvent, StoredRegistration

# ------------------------------------------------------------------ text types


def _single_line(value: str) -> str:
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ValueError(_("must be a single line without control characters"))
    return value


def _paragraphs(value: str) -> str:
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValueError(_("must not contain control characters"))
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _written_out(value: object) -> object:
    """A time comes as text (RFC 3339), as the document says: a number is not seconds since 1970."""
    if isinstance(value, int | float):
        raise ValueError(_("must be a date and time as text, e.g. 2026-09-11T09:00:00+03:00"))
    return value


# Each text type states in the JSON Schema what its validators check
# (``text_patterns``), so that input valid under the document is accepted.
_LINE = SINGLE_LINE_FORBIDDEN
_PARAGRAPHS = PARAGRAPHS_FORBIDDEN
Line100 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_single_line),
    WithJsonSchema(text_schema(100, _LINE)),
]
Line200 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_single_line),
    WithJsonSchema(text_schema(200, _LINE)),
]
Line300 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_single_line),
    WithJsonSchema(text_schema(300, _LINE)),
]
Text500 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_paragraphs),
    WithJsonSchema(text_schema(500, _PARAGRAPHS)),
]
Text2000 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_paragraphs),
    WithJsonSchema(text_schema(2000, _PARAGRAPHS)),
]
Text5000 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=5000),
    AfterValidator(_paragraphs),
    WithJsonSchema(text_schema(5000, _PARAGRAPHS)),
]
OptionalLine200 = Annotated[
    Line200 | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema(optional_text_schema(200, _LINE)),
]
OptionalText500 = Annotated[
    Text500 | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema(optional_text_schema(500, _PARAGRAPHS)),
]
OptionalText2000 = Annotated[
    Text2000 | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema(optional_text_schema(2000, _PARAGRAPHS)),
]
OptionalText5000 = Annotated[
    Text5000 | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema(optional_text_schema(5000, _PARAGRAPHS)),
]
NoticeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTICE_CHARACTERS),
    AfterValidator(_paragraphs),
    WithJsonSchema(text_schema(MAX_NOTICE_CHARACTERS, _PARAGRAPHS)),
]
NoticeVersion = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
Email = Annotated[EmailStr, BeforeValidator(_strip), WithJsonSchema(EMAIL_SCHEMA)]
Moment = Annotated[AwareDatetime, BeforeValidator(_written_out)]
Capacity = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
StreamMinutes = Annotated[int, Field(strict=True, ge=0, le=MAX_STREAM_WINDOW_MINUTES)]
RetentionDays = Annotated[int, Field(strict=True, ge=0, le=MAX_RETENTION_DAYS)]
Timezone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TIMEZONE_PATTERN}
    ),
]
# An https URL: the catalogue checks the scheme and the host (``catalogue.is_https_url``).
StreamUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_single_line),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": HTTPS_URL_PATTERN}
    ),
]
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
OptionalUrl = Annotated[
    StreamUrl | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": 2000, "pattern": OPTIONAL_HTTPS_URL_PATTERN},
                {"type": "null"},
            ]
        }
    ),
]
ReminderMinutes = Annotated[int, Field(strict=True, ge=1, le=MAX_REMINDER_MINUTES_BEFORE)]
CutoffMinutes = Annotated[int, Field(strict=True, ge=0, le=MAX_PROMOTION_CUTOFF_MINUTES)]
ThankYouMinutes = Annotated[int, Field(strict=True, ge=0, le=MAX_THANK_YOU_MINUTES_AFTER)]
# Set only by cancelling the event (``POST /events/{id}/cancellation``), never by a client's
# fields: an event's input carries what its stored form dumps, and these are left as they are.
CANCELLATION_FIELDS = frozenset({"cancelled_at", "cancellation_note"})

_INPUT = ConfigDict(extra="forbid")


def _not_null(schema: dict[str, Any]) -> None:
    """The schema of a field that may be left out but never sent as ``null``.

    A partial update's fields default to None, which only means "not
    given"; a field that cannot be cleared refuses an explicit ``null``, so
    the document leaves null (and that default) out.
    """
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    schema.pop("default", None)
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def _omittable(**options: Any) -> Any:
    """``Field``: may be left out (None: not given), never ``null`` (``_not_null``)."""
    return Field(default=None, json_schema_extra=_not_null, **options)


# New needs need the consent to process them (GDPR Art. 9(2)(a)): a rule of two
# fields, stated for JSON Schema too. Blank needs are no needs.
_NEEDS_NEED_CONSENT: dict[str, Any] = {
    "if": {
        "properties": {"needs": {"type": "string", "pattern": f"[^{BLANK}]"}},
        "required": ["needs"],
    },
    "then": {"properties": {"needs_consent": {"const": True}}, "required": ["needs_consent"]},
}


# ----------------------------------------------------------------- event input


class TitleIn(BaseModel):
    """A short text per language; Finnish is required."""

    model_config = _INPUT
    fi: Line200
    sv: OptionalLine200 = None
    en: OptionalLine200 = None


# A name per language ({"fi": ..., "sv": ...}); a plain string is the Finnish name,
# and the document says that a client may send either.
NameIn = Annotated[
    TitleIn, BeforeValidator(finnish_if_plain, json_schema_input_type=TitleIn | Line200)
]


class DescriptionIn(BaseModel):
    model_config = _INPUT
    fi: Text5000
    sv: OptionalText5000 = None
    en: OptionalText5000 = None


class InstructionsIn(BaseModel):
    model_config = _INPUT
    fi: Text2000
    sv: OptionalText2000 = None
    en: OptionalText2000 = None


class VenueIn(BaseModel):
    model_config = _INPUT
    name: NameIn = Field(
        description='Per language: "Valtiovarainministeriö" (fi), "Finansministeriet" (sv); '
        "a plain string is the Finnish name."
    )
    address: Line300
    arrival_instructions: InstructionsIn | None = None


class SpeakerIn(BaseModel):
    model_config = _INPUT
    name: Line100
    title: NameIn | None = None
    organisation: NameIn | None = None


class TalkIn(BaseModel):
    """A talk or panel within an agenda block."""

    model_config = _INPUT
    title: TitleIn
    speakers: list[SpeakerIn] = Field(default_factory=list, max_length=20)


class AgendaItemIn(BaseModel):
    """A block of the agenda: its own speakers (a host, say) and the talks within it."""

    model_config = _INPUT
    starts_at: Moment
    ends_at: Moment
    title: TitleIn
    speakers: list[SpeakerIn] = Field(default_factory=list, max_length=20)
    talks: list[TalkIn] = Field(default_factory=list, max_length=20)


class OrganiserIn(BaseModel):
    """Who holds the event, and where questions go (mails carry it as Reply-To)."""

    model_config = _INPUT
    name: NameIn = Field(description='Per language, e.g. {"fi": "Valtiovarainministeriö", ...}.')
    email: Email = Field(description="Contact for questions.")
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,30}$")] | None = None


class ReminderIn(BaseModel):
    """A reminder mail this many minutes before the start, to this audience."""

    model_config = _INPUT
    minutes_before: ReminderMinutes = Field(
        description=f"1 to {MAX_REMINDER_MINUTES_BEFORE} (two weeks).", examples=[1440]
    )
    audience: Audience = Field(
        default=Audience.ALL,
        description="`all`, `on_site`, `remote`, `waiting_list` or `stream` (remote and "
        "waiting list).",
    )


class EventFields(BaseModel):
    """An event's fields as a client writes them (the whole event, validated field by field)."""

    model_config = _INPUT

    title: TitleIn
    description: DescriptionIn | None = None
    starts_at: Moment = Field(examples=["2026-09-11T09:00:00+03:00"])
    ends_at: Moment = Field(examples=["2026-09-11T12:00:00+03:00"])
    timezone: Timezone = Field(default=DEFAULT_TIMEZONE, description="IANA time zone name.")
    venue: VenueIn
    in_person_capacity: Capacity
    registration_opens_at: Moment
    registration_closes_at: Moment
    stream_url: StreamUrl = Field(
        description="https URL of the stream; with `signed_hls`, the stream's HLS playlist at "
        "the deployment's signing origin (`{origin}/{stream}/index.m3u8`)."
    )
    stream_playback: StreamPlayback = Field(
        default=StreamPlayback.REDIRECT,
        description="How personal stream links lead to the stream: `redirect` sends viewers "
        "to stream_url (a public stream); `signed_hls` gives each link short-lived signed URLs "
        "of it, so that a cancelled registrant loses the video too (a closed stream).",
    )
    stream_opens_minutes_before: StreamMinutes = Field(
        default=STREAM_OPENS_MINUTES_BEFORE,
        description="Personal stream links open this many minutes before the event starts "
        f"(0 to {MAX_STREAM_WINDOW_MINUTES}).",
    )
    stream_closes_minutes_after: StreamMinutes = Field(
        default=STREAM_CLOSES_MINUTES_AFTER,
        description="Personal stream links close this many minutes after the event ends "
        f"(0 to {MAX_STREAM_WINDOW_MINUTES}).",
    )
    agenda: list[AgendaItemIn] = Field(default_factory=list, max_length=100)
    target_groups: list[NameIn] = Field(default_factory=list, max_length=30)
    published: bool = Field(default=False, strict=True)
    organiser: OrganiserIn
    retention_days: RetentionDays = Field(
        default=RETENTION_DAYS,
        description="Registrants' personal data is erased this many days after the event "
        f"ends (0 to {MAX_RETENTION_DAYS}); their needs are erased when it ends.",
    )
    email_confirmation: bool = Field(
        default=True,
        strict=True,
        description="Registrants confirm their address from a mail before they are accepted "
        "(and a seat or a stream link is decided); false accepts them at once.",
    )
    reminders: list[ReminderIn] = Field(
        default_factory=lambda: [ReminderIn.model_validate(dict(r)) for r in DEFAULT_REMINDERS],
        max_length=MAX_REMINDERS,
        description=f"Reminder mails before the start, at most {MAX_REMINDERS}, each offset "
        "once (`[]`: none). By default the day before to everyone and 30 minutes before to "
        "the stream's audience.",
    )
    promotion_cutoff_minutes: CutoffMinutes = Field(
        default=PROMOTION_CUTOFF_MINUTES,
        description="Nobody is promoted from the waiting list this close to the start "
        f"(0 to {MAX_PROMOTION_CUTOFF_MINUTES} minutes); a seat freed later stays free.",
    )
    thank_you_minutes_after: ThankYouMinutes | None = Field(
        default=THANK_YOU_MINUTES_AFTER,
        description="The thank-you mail goes this long after the end (0 to "
        f"{MAX_THANK_YOU_MINUTES_AFTER} minutes); null: no thank-you mail.",
    )
    feedback_url: OptionalUrl = Field(
        default=None, description="https URL of the feedback form, in the thank-you mail."
    )
    recording_url: OptionalUrl = Field(
        default=None, description="https URL of the recording, in the thank-you mail."
    )

    def to_spec(self) -> EventSpec:
        """The event these fields describe (an ``EventCreate``'s ``id`` is not part of it)."""
        return EventSpec.model_validate(self.model_dump())


class EventCreate(EventFields):
    """A new event; ``id`` is chosen by the client or generated from the title."""

    id: EventId | None = Field(
        default=None,
        description="Optional slug, ^[a-z0-9][a-z0-9-]{2,63}$; generated when absent.",
        examples=["ministry-seminar-2026"],
    )


class EventPatch(BaseModel):
    """A partial update: each field given replaces the stored one (``null`` clears an
    optional field); the result is validated again as a whole event."""

    model_config = _INPUT

    # Fields an event cannot be without are left out to keep them, never null.
    title: TitleIn | None = _omittable()
    description: DescriptionIn | None = None
    starts_at: Moment | None = _omittable()
    ends_at: Moment | None = _omittable()
    timezone: Timezone | None = _omittable()
    venue: VenueIn | None = _omittable()
    in_person_capacity: Capacity | None = _omittable()
    registration_opens_at: Moment | None = _omittable()
    registration_closes_at: Moment | None = _omittable()
    stream_url: StreamUrl | None = _omittable()
    stream_playback: StreamPlayback | None = _omittable()
    stream_opens_minutes_before: StreamMinutes | None = _omittable()
    stream_closes_minutes_after: StreamMinutes | None = _omittable()
    agenda: list[AgendaItemIn] | None = _omittable(max_length=100)
    target_groups: list[NameIn] | None = _omittable(max_length=30)
    published: bool | None = _omittable(strict=True)
    organiser: OrganiserIn | None = _omittable()
    retention_days: RetentionDays | None = _omittable()
    email_confirmation: bool | None = _omittable(strict=True)
    reminders: list[ReminderIn] | None = _omittable(max_length=MAX_REMINDERS)
    promotion_cutoff_minutes: CutoffMinutes | None = _omittable()
    thank_you_minutes_after: ThankYouMinutes | None = None
    feedback_url: OptionalUrl = None
    recording_url: OptionalUrl = None

    def applied_to(self, event: EventSpec) -> EventFields:
        """``event`` with this patch's fields put in, validated again field by field.

        ValidationError names the fields at fault, as for a new event. The
        cancellation's fields are not a client's to write; ``patched`` keeps them.
        """
        patched = self.model_dump(include=set(self.model_fields_set))
        stored = event.model_dump(exclude=set(CANCELLATION_FIELDS))
        return EventFields.model_validate({**stored, **patched})

    def patched(self, event: EventSpec) -> EventSpec:
        """``event`` with this patch applied, its cancellation (if any) kept as it was."""
        spec = self.applied_to(event).to_spec()
        kept = {name: getattr(event, name) for name in CANCELLATION_FIELDS}
        return spec.model_copy(update=kept)


class CancellationIn(BaseModel):
    """Cancelling an event: an optional word to registrants, in Finnish at least."""

    model_config = _INPUT

    note: InstructionsIn | None = Field(
        default=None,
        description='Per language, e.g. {"fi": "Tilaisuus siirtyy keväälle.", ...}; '
        "shown on the event's pages and in the cancellation mail.",
    )

    def localized_note(self) -> LocalizedText | None:
        return None if self.note is None else LocalizedText.model_validate(self.note.model_dump())


# Whom the console offers a message to (``stream`` is for reminders).
MESSAGE_AUDIENCES = (Audience.ALL, Audience.ON_SITE, Audience.REMOTE, Audience.WAITING_LIST)


class MessageIn(BaseModel):
    """A message to an event's registrants: title (the mail's subject) and body, fi required.

    Swedish and English readers get the Finnish text where theirs is missing.
    """

    model_config = _INPUT

    audience: Annotated[
        Audience,
        WithJsonSchema({"type": "string", "enum": [a.value for a in MESSAGE_AUDIENCES]}),
    ]
    title: TitleIn
    body: DescriptionIn

    @field_validator("audience")
    @classmethod
    def _registrants(cls, audience: Audience) -> Audience:
        """``stream`` is for reminders: an organiser writes to one of ``MESSAGE_AUDIENCES``."""
        if audience not in MESSAGE_AUDIENCES:
            raise ValueError(_("a message goes to all, on_site, remote or waiting_list"))
        return audience

    def localized(self) -> tuple[LocalizedText, LocalizedText]:
        """The title and the body as the contract's texts."""
        return (
            LocalizedText.model_validate(self.title.model_dump()),
            LocalizedText.model_validate(self.body.model_dump()),
        )


# ---------------------------------------------------------------- event output


class EventView(EventContent):
    """An event in the catalogue. Times are shown in the event's own ``timezone``."""

    # Every field is in every answer, defaults or not.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str = Field(examples=["ministry-seminar-2026"])
    revision: int = Field(description="Grows by one with every change.")
    registration_open: bool = Field(description="Whether registration is open right now.")
    # Null for anyone but administrators, where the event itself always has one.
    stream_url: str | None = Field(  # type: ignore[assignment]
        description="Shown to administrators only (null in public answers): registrants get "
        "personal stream links."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, event: StoredEvent, now: datetime, *, admin: bool) -> Self:
        """``event`` as shown at ``now``, to an administrator or to anyone."""
        spec = shown_in_zone(event.spec)
        window = registration_window(spec.registration_opens_at, spec.registration_closes_at, now)
        return cls.model_validate(
            {
                **dict(spec),
                "id": event.id,
                "revision": event.revision,
                "registration_open": window is RegistrationWindow.OPEN,
                "stream_url": spec.stream_url if admin else None,
                "created_at": event.created_at,
                "updated_at": event.updated_at,
            }
        )


# --------------------------------------------------------------- registrations


class RegistrationRequest(BaseModel):
    """What a client posts to register someone."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_NEEDS_NEED_CONSENT)

    first_name: Line100
    last_name: Line100
    email: Email
    organisation: OptionalLine200 = None
    attendance: Attendance
    language: Language
    privacy_notice_version: NoticeVersion = Field(
        description="The version of the event's privacy notice shown to the registrant "
        "(`GET /api/v1/events/{id}/privacy-notice`); recorded with the language and time. "
        "Registering is a public task, not consent: this says the notice was shown."
    )
    needs: OptionalText500 = Field(
        default=None,
        description="Accessibility, diet or other needs, at most 500 characters. May reveal "
        "health: needs `needs_consent: true`.",
    )
    needs_consent: bool = Field(
        default=False,
        strict=True,
        validate_default=True,
        description="Explicit consent to process `needs` (GDPR Art. 9(2)(a)); required with "
        "needs, withdrawable at any time (`DELETE /api/v1/registrations/{id}/needs`).",
    )

    @field_validator("needs_consent")
    @classmethod
    def _needs_only_with_consent(cls, consent: bool, info: ValidationInfo) -> bool:
        # Declared after ``needs``, so its validated value is known here; the
        # default is validated too, so leaving the consent out is caught.
        if info.data.get("needs") is not None and not consent:
            raise ValueError(_("needs are processed only with needs_consent: true"))
        return consent

    def registrant(self) -> Registrant:
        """Who registers, as the rules know them."""
        return Registrant(
            first_name=self.first_name,
            last_name=self.last_name,
            email=str(self.email),
            organisation=self.organisation,
            attendance=self.attendance,
            language=self.language,
            needs=self.needs,
        )


class AttendanceChange(BaseModel):
    """How the registrant wants to take part from now on."""

    model_config = _INPUT

    attendance: Attendance = Field(
        description="`in_person` (a seat at the venue) or `remote` (the web stream)."
    )


class DetailsChangeRequest(BaseModel):
    """A registrant's correction of their details: each field given replaces the stored one.

    The same fields, validated the same way, as at registration; ``null``
    clears ``organisation`` or ``needs``. The address is not among them: it
    was confirmed from a mail, and a new address means a new registration.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_NEEDS_NEED_CONSENT)

    first_name: Line100 | None = _omittable()
    last_name: Line100 | None = _omittable()
    organisation: OptionalLine200 = None
    language: Language | None = _omittable()
    needs: OptionalText500 = Field(
        default=None,
        description="New needs (at most 500 characters) need `needs_consent: true`, as at "
        "registration; `null` erases them and withdraws the consent.",
    )
    needs_consent: bool = Field(
        default=False,
        strict=True,
        validate_default=True,
        description="Explicit consent to process the new `needs` (GDPR Art. 9(2)(a)).",
    )

    @field_validator("first_name", "last_name", "language")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        # Omitted, these stay as they are; given, they cannot be cleared.
        if value is None:
            raise ValueError("cannot be cleared")
        return value

    @field_validator("needs_consent")
    @classmethod
    def _needs_only_with_consent(cls, consent: bool, info: ValidationInfo) -> bool:
        if info.data.get("needs") is not None and not consent:
            raise ValueError("needs are processed only with needs_consent: true")
        return consent

    def changes(self) -> DetailsChanges:
        """The correction as the rules know it: only the fields given."""
        given = self.model_fields_set - {"needs_consent"}
        return DetailsChanges(
            **{name: getattr(self, name) for name in given}, needs_consent=self.needs_consent
        )


class RegistrationReceipt(BaseModel):
    """The answer to a registration taken. Keep ``manage_token``: it is shown only once.

    The same shape, and the same status, whether the address was new or
    already registered: a repeat gets an id and a token that lead nowhere, and
    the address gets a mail instead (``docs/security.md``).
    """

    id: UUID
    status: Status = Field(
        examples=["pending_confirmation"],
        description="`pending_confirmation` for an event that asks registrants to confirm "
        "their address (by default), `accepted` otherwise.",
    )
    manage_token: str = Field(
        description="Bearer token for GET/DELETE /api/v1/registrations/{id}; stored only hashed."
    )


# What a registration listing leaves out for callers without ``read-personal-data``.
LISTING_WITHHELD = (
    "email",
    "organisation",
    "needs",
    "needs_consent_given_at",
    "needs_consent_withdrawn_at",
)


class RegistrationSummary(BaseModel):
    """A registration and its current state, as administrators list it.

    An erased registration is listed too, for the counts, with ``erased_at``
    set and null names, address, organisation and needs.
    """

    id: UUID
    event_id: str
    status: Status
    waitlist_position: int | None = Field(description="1 = next in line; only when waitlisted.")
    stream_link_provisioned: bool
    attendance: Attendance
    attendance_version: int = Field(
        default=1, description="1 at registration, one more per switch of attendance."
    )
    language: Language
    first_name: str | None
    last_name: str | None
    email: str | None = Field(description="Null for callers without `read-personal-data`.")
    organisation: str | None = Field(description="Null for callers without `read-personal-data`.")
    needs: str | None = Field(description="Null for callers without `read-personal-data`.")
    registered_at: datetime
    cancelled_at: datetime | None
    # Flat, so that the CSV export has one column each. Null for registrations
    # taken before notices were recorded, and where no needs were given.
    privacy_notice_version: str | None = Field(
        default=None, description="The version of the privacy notice the registrant was shown."
    )
    privacy_notice_language: Language | None = Field(
        default=None, description="The language it was shown in."
    )
    privacy_notice_shown_at: datetime | None = Field(
        default=None, description="When the registrant, having been shown it, registered."
    )
    needs_consent_given_at: datetime | None = Field(
        default=None, description="When consent to process needs was given."
    )
    needs_consent_withdrawn_at: datetime | None = Field(
        default=None, description="When it was withdrawn; the needs were erased then."
    )
    erased_at: datetime | None = Field(
        default=None, description="When the personal data was erased; null until then."
    )

    @classmethod
    def of(cls, registration: StoredRegistration) -> Self:
        """``registration`` as administrators list it."""
        return cls.model_validate(_summary_fields(registration))

    def without_personal_data(self) -> Self:
        """What a caller without ``read-personal-data`` (a viewer) sees: names, states,
        attendance; no address, organisation or needs, nor whether needs were given."""
        return self.model_copy(update=dict.fromkeys(LISTING_WITHHELD))


class RegistrationView(RegistrationSummary):
    """A registration as its registrant sees it, with their personal stream link once issued."""

    stream_link_url: str | None

    @classmethod
    def of(cls, registration: StoredRegistration) -> Self:
        """``registration`` as its registrant sees it."""
        link = registration.state.link
        shown = link.url if registration.state.stream_link_provisioned else None
        return cls.model_validate({**_summary_fields(registration), "stream_link_url": shown})


def _summary_fields(registration: StoredRegistration) -> dict[str, Any]:
    state = registration.state
    registrant = registration.registrant
    erased = registration.erased
    return {
        "id": UUID(registration.id),
        "event_id": registration.event_id,
        "status": state.status,
        "waitlist_position": state.waitlist_position,
        "stream_link_provisioned": state.stream_link_provisioned,
        "attendance": registrant.attendance,
        "attendance_version": state.attendance_version,
        "language": registrant.language,
        "first_name": None if erased else registrant.first_name,
        "last_name": None if erased else registrant.last_name,
        "email": None if erased else registrant.email,
        "organisation": None if erased else registrant.organisation,
        "needs": None if erased else registrant.needs,
        "registered_at": registration.registered_at,
        "cancelled_at": registration.cancelled_at,
        **_notice_fields(registration.notice_shown),
        **_consent_fields(registration.needs_consent),
        "erased_at": registration.erased_at,
    }


def _notice_fields(shown: NoticeShown | None) -> dict[str, Any]:
    if shown is None:
        return {}
    return {
        "privacy_notice_version": shown.version,
        "privacy_notice_language": shown.language,
        "privacy_notice_shown_at": shown.shown_at,
    }


def _consent_fields(consent: NeedsConsent | None) -> dict[str, Any]:
    if consent is None:
        return {}
    return {
        "needs_consent_given_at": consent.given_at,
        "needs_consent_withdrawn_at": consent.withdrawn_at,
    }


# -------------------------------------------------------------- privacy notice


class PrivacyNoticeTextIn(BaseModel):
    """A privacy notice's text in each language; plain text, paragraphs apart by a blank line."""

    model_config = _INPUT

    fi: NoticeText
    sv: NoticeText
    en: NoticeText


class PrivacyNoticeIn(BaseModel):
    """A new privacy notice for an event; its version is derived from the texts."""

    model_config = _INPUT

    text: PrivacyNoticeTextIn

    def texts(self) -> dict[Language, str]:
        return {Language(code): text for code, text in self.text.model_dump().items()}


class PrivacyNoticeView(BaseModel):
    """The privacy notice in force for an event: show it, then register with its version."""

    event_id: str
    version: str = Field(description="Send as `privacy_notice_version` when registering.")
    text: dict[Language, str] = Field(description="Plain text per language.")

    @classmethod
    def of(cls, event_id: str, notice: PrivacyNotice) -> Self:
        return cls(event_id=event_id, version=notice.version, text=dict(notice.text))


class SweepSummary(BaseModel):
    """What one retention sweep erased."""

    events: int = Field(description="Events with something due, swept now.")
    needs_erased: int = Field(description="Registrations whose needs were erased.")
    registrations_erased: int = Field(description="Registrations erased whole (retention).")


class AuditEntryView(BaseModel):
    """One entry of the audit trail: ids only, never a registrant's personal data."""

    id: str = Field(description="Sorts as time does; page with `before=<id>`.")
    at: datetime
    actor_subject: str = Field(description="The identity provider's `sub` of who acted.")
    actor_name: str
    actor_kind: Kind
    action: Action
    event_id: str | None
    registration_id: str | None
    detail: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> Self:
        return cls.model_validate(entry, from_attributes=True)


class AuditPageView(BaseModel):
    """Entries newest first, and where the next (older) page starts."""

    entries: list[AuditEntryView]
    before: str | None = Field(
        description="Pass as `before` for the next page; null when this page is the last."
    )

    @classmethod
    def of(cls, page: AuditPage) -> Self:
        return cls(entries=[AuditEntryView.of(entry) for entry in page.entries], before=page.before)

"""The event form: its fields to the JSON API's ``EventCreate`` and back, and errors to fields.

Pure, no I/O. Every field of an event is one input whose name is the
field's JSON path (``title.fi``, ``agenda.1.talks.0.speakers.2.name``), so
that what the JSON API's validation (``schemas.EventCreate``) and the
catalogue's rules (``catalogue.violations``) say about a path is said next
to the input of that name. Reading (``read``) gives an ``EventForm``: every
value as typed, the repeating groups (agenda blocks, their talks, speakers,
target groups, reminders) as lists in the page's order. ``check`` drops wholly blank
rows first (``compacted``) and names errors by their place in what is left,
which is the form the person sees next. ``payload`` turns
the form into the dict ``EventCreate`` validates, times read as
``datetime-local`` values in the event's own zone, a reminder's number
and unit (minutes, hours, days) as minutes; ``of_spec`` shows a stored event
in the same inputs, times in its zone again, each reminder in the largest
unit that gives a whole number.

The add and remove buttons of the repeating groups are submit buttons
(``name="action"``, ``value="add:agenda.1.talks"``, ``"remove:agenda.1"``):
``apply`` changes the form and the page comes back with everything typed
kept, so they need no script.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from ilmo_event_contracts import Language, StreamPlayback
from ilmo_event_contracts.events import (
    DEFAULT_REMINDERS,
    PROMOTION_CUTOFF_MINUTES,
    RETENTION_DAYS,
    STREAM_CLOSES_MINUTES_AFTER,
    STREAM_OPENS_MINUTES_BEFORE,
    THANK_YOU_MINUTES_AFTER,
    Audience,
    LocalizedText,
    Reminder,
    Speaker,
)
from ilmo_registration.catalogue import DEFAULT_TIMEZONE, EventSpec, violations, zone
from ilmo_registration.privacy import PrivacyNotice
from ilmo_registration.schemas import EventCreate
from ilmo_shared.i18n import _

LANGUAGES = ("fi", "sv", "en")
# At most this many rows of a repeating group are read (the API's own limits are lower).
MAX_ROWS = 100
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class Texts:
    """One text in Finnish, Swedish and English, as typed."""

    fi: str = ""
    sv: str = ""
    en: str = ""

    @property
    def blank(self) -> bool:
        return not (self.fi.strip() or self.sv.strip() or self.en.strip())

    @classmethod
    def of(cls, text: LocalizedText | None) -> Texts:
        if text is None:
            return cls()
        return cls(text.fi, text.sv or "", text.en or "")

    def value(self) -> dict[str, str | None]:
        """For the API: Finnish as typed (checked there), the others None if blank."""
        return {"fi": self.fi, "sv": self.sv or None, "en": self.en or None}

    def optional(self) -> dict[str, str | None] | None:
        """For an optional text: None when nothing is typed in any language."""
        return None if self.blank else self.value()


@dataclass
class SpeakerForm:
    name: str = ""
    title: Texts = field(default_factory=Texts)
    organisation: Texts = field(default_factory=Texts)

    @property
    def blank(self) -> bool:
        return not self.name.strip() and self.title.blank and self.organisation.blank


@dataclass
class TalkForm:
    title: Texts = field(default_factory=Texts)
    speakers: list[SpeakerForm] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return self.title.blank and not self.speakers


@dataclass
class BlockForm:
    """A block of the agenda."""

    starts_at: str = ""
    ends_at: str = ""
    title: Texts = field(default_factory=Texts)
    speakers: list[SpeakerForm] = field(default_factory=list)
    talks: list[TalkForm] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        times = self.starts_at.strip() or self.ends_at.strip()
        return not times and self.title.blank and not self.speakers and not self.talks


# A reminder's offset is typed as a number of these units.
UNITS: Mapping[str, int] = {"minutes": 1, "hours": 60, "days": 24 * 60}


@dataclass
class ReminderForm:
    """A reminder as typed: how long before the start (a number and a unit), and to whom."""

    amount: str = ""
    unit: str = "hours"
    audience: str = Audience.ALL.value

    @property
    def blank(self) -> bool:
        return not self.amount.strip()

    @classmethod
    def of(cls, reminder: Reminder) -> ReminderForm:
        """The reminder in the largest unit that gives a whole number (a day, not 1440 minutes)."""
        minutes = reminder.minutes_before
        unit = next(name for name in ("days", "hours", "minutes") if minutes % UNITS[name] == 0)
        return cls(str(minutes // UNITS[unit]), unit, reminder.audience.value)


def _default_reminders() -> list[ReminderForm]:
    return [ReminderForm.of(reminder) for reminder in DEFAULT_REMINDERS]


@dataclass
class EventForm:
    """Every field of an event as the form shows it (strings as typed, two checkboxes)."""

    id: str = ""
    title: Texts = field(default_factory=Texts)
    description: Texts = field(default_factory=Texts)
    starts_at: str = ""
    ends_at: str = ""
    timezone: str = DEFAULT_TIMEZONE
    venue_name: Texts = field(default_factory=Texts)
    venue_address: str = ""
    arrival_instructions: Texts = field(default_factory=Texts)
    in_person_capacity: str = ""
    registration_opens_at: str = ""
    registration_closes_at: str = ""
    stream_url: str = ""
    # Checked: signed HLS playback (``stream_playback: signed_hls``), for a closed stream.
    closed_stream: bool = False
    stream_opens_minutes_before: str = str(STREAM_OPENS_MINUTES_BEFORE)
    stream_closes_minutes_after: str = str(STREAM_CLOSES_MINUTES_AFTER)
    agenda: list[BlockForm] = field(default_factory=list)
    target_groups: list[Texts] = field(default_factory=list)
    published: bool = False
    organiser_name: Texts = field(default_factory=Texts)
    organiser_email: str = ""
    organiser_phone: str = ""
    retention_days: str = str(RETENTION_DAYS)
    email_confirmation: bool = True
    # The event's own privacy notice; blank keeps the notice in force.
    privacy_notice: Texts = field(default_factory=Texts)
    reminders: list[ReminderForm] = field(default_factory=_default_reminders)
    promotion_cutoff_minutes: str = str(PROMOTION_CUTOFF_MINUTES)
    # Unchecked: no thank-you mail (the API's ``thank_you_minutes_after: null``).
    thank_you: bool = True
    thank_you_minutes_after: str = str(THANK_YOU_MINUTES_AFTER)
    feedback_url: str = ""
    recording_url: str = ""


@dataclass(frozen=True)
class FormError:
    """What is wrong with one input: its name (a JSON path) and a message id with values."""

    field: str
    message: str
    values: Mapping[str, object] = dataclasses.field(default_factory=dict)


# The form's inputs whose JSON path differs from the attribute's name.
PATHS = {
    "venue_name": "venue.name",
    "venue_address": "venue.address",
    "arrival_instructions": "venue.arrival_instructions",
    "organiser_name": "organiser.name",
    "organiser_email": "organiser.email",
    "organiser_phone": "organiser.phone",
}
TIMES = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
NUMBERS = (
    "in_person_capacity",
    "stream_opens_minutes_before",
    "stream_closes_minutes_after",
    "retention_days",
    "promotion_cutoff_minutes",
)
CHECKBOXES = ("published", "email_confirmation", "thank_you", "closed_stream")
# Ids that would be the console's own addresses (/console/events/new).
RESERVED_IDS = frozenset({"new"})
ENTER_TIME = _("enter a date and time")
ENTER_NUMBER = _("enter a whole number")
Row = TypeVar("Row")


# --------------------------------------------------------------------- reading


def read(submitted: Mapping[str, str]) -> EventForm:
    """The form as submitted, every row as the page showed it (``compacted`` drops blank ones)."""
    values: dict[str, Any] = {}
    for item in fields(EventForm):
        path = PATHS.get(item.name, item.name)
        if item.name in CHECKBOXES:
            values[item.name] = submitted.get(path) == "yes"
        elif item.type == "Texts":
            values[item.name] = _texts(submitted, path)
        elif item.name == "agenda":
            values[item.name] = _rows(submitted, "agenda", _block)
        elif item.name == "target_groups":
            values[item.name] = _rows(submitted, "target_groups", _texts)
        elif item.name == "reminders":
            values[item.name] = _rows(submitted, "reminders", _reminder)
        else:
            values[item.name] = submitted.get(path, "")
    return EventForm(**values)


def _reminder(submitted: Mapping[str, str], path: str) -> ReminderForm:
    return ReminderForm(
        submitted.get(f"{path}.amount", ""),
        submitted.get(f"{path}.unit", "hours"),
        submitted.get(f"{path}.audience", Audience.ALL.value),
    )


def _texts(submitted: Mapping[str, str], path: str) -> Texts:
    return Texts(*(submitted.get(f"{path}.{language}", "") for language in LANGUAGES))


def _indices(submitted: Mapping[str, str], prefix: str) -> list[int]:
    found: set[int] = set()
    for name in submitted:
        if name.startswith(prefix + "."):
            index = name[len(prefix) + 1 :].split(".", 1)[0]
            if index.isdigit() and int(index) < MAX_ROWS:
                found.add(int(index))
    return sorted(found)


def _rows(
    submitted: Mapping[str, str], prefix: str, row: Callable[[Mapping[str, str], str], Row]
) -> list[Row]:
    return [row(submitted, f"{prefix}.{index}") for index in _indices(submitted, prefix)]


def _speakers(submitted: Mapping[str, str], prefix: str) -> list[SpeakerForm]:
    return _rows(submitted, f"{prefix}.speakers", _speaker)


def _speaker(submitted: Mapping[str, str], path: str) -> SpeakerForm:
    return SpeakerForm(
        submitted.get(f"{path}.name", ""),
        _texts(submitted, f"{path}.title"),
        _texts(submitted, f"{path}.organisation"),
    )


def _talk(submitted: Mapping[str, str], path: str) -> TalkForm:
    return TalkForm(_texts(submitted, f"{path}.title"), _speakers(submitted, path))


def _block(submitted: Mapping[str, str], path: str) -> BlockForm:
    talks = _rows(submitted, f"{path}.talks", _talk)
    return BlockForm(
        submitted.get(f"{path}.starts_at", ""),
        submitted.get(f"{path}.ends_at", ""),
        _texts(submitted, f"{path}.title"),
        _speakers(submitted, path),
        talks,
    )


def compacted(form: EventForm) -> EventForm:
    """The form without wholly blank rows (a row added and left empty is not an error)."""
    form = copy.deepcopy(form)
    for block in form.agenda:
        block.speakers = [speaker for speaker in block.speakers if not speaker.blank]
        for talk in block.talks:
            talk.speakers = [speaker for speaker in talk.speakers if not speaker.blank]
        block.talks = [talk for talk in block.talks if not talk.blank]
    form.agenda = [block for block in form.agenda if not block.blank]
    form.target_groups = [group for group in form.target_groups if not group.blank]
    form.reminders = [reminder for reminder in form.reminders if not reminder.blank]
    return form


# ------------------------------------------------------- adding and removing rows

_NEW_ROW: Mapping[str, Callable[[], object]] = {
    "agenda": BlockForm,
    "talks": TalkForm,
    "speakers": SpeakerForm,
    "target_groups": Texts,
    "reminders": ReminderForm,
}


def apply(form: EventForm, action: str) -> tuple[EventForm, str | None]:
    """The form after an add or remove button, and the input to focus next (None: the button's).

    ``add:agenda.1.talks`` adds a talk to the second block; ``remove:agenda.1``
    removes that block. An action naming no row of the form changes nothing.
    """
    verb, _colon, path = action.partition(":")
    parts = path.split(".")
    form = copy.deepcopy(form)
    try:
        if verb == "add" and parts[-1] in _NEW_ROW:
            rows = _list_at(form, parts)
            rows.append(_NEW_ROW[parts[-1]]())
            return form, _first_input(f"{path}.{len(rows) - 1}", parts[-1])
        if verb == "remove" and parts[-1].isdigit() and parts[-2] in _NEW_ROW:
            rows = _list_at(form, parts[:-1])
            del rows[int(parts[-1])]
            return form, None
    except (IndexError, ValueError, AttributeError, TypeError):
        pass  # a forged or stale action: the form as it was
    return form, None


def _list_at(form: EventForm, parts: list[str]) -> list[Any]:
    """The list at a path like ``agenda.1.talks`` (names and indices alternating)."""
    target: Any = form
    for index, part in enumerate(parts):
        target = target[int(part)] if index % 2 else getattr(target, part)
    if not isinstance(target, list):
        raise TypeError(parts)
    return target


def _first_input(path: str, kind: str) -> str:
    return {
        "agenda": f"{path}.starts_at",
        "talks": f"{path}.title.fi",
        "speakers": f"{path}.name",
        "target_groups": f"{path}.fi",
        "reminders": f"{path}.amount",
    }[kind]


# ------------------------------------------------------------------ to the API


@dataclass(frozen=True)
class Checked:
    """The form checked: the form as checked (``compacted``), the event and notice, or errors.

    The errors' paths are those of ``form``: show it again, not the one sent.
    """

    form: EventForm
    event: EventCreate | None
    notice: dict[Language, str] | None
    errors: list[FormError]


def check(sent: EventForm) -> Checked:
    """The form validated as the JSON API validates an event, and the catalogue's rules."""
    form = compacted(sent)
    errors: list[FormError] = []
    body = payload(form, errors)
    notice = _notice(form.privacy_notice, errors)
    event: EventCreate | None = None
    try:
        event = EventCreate.model_validate(body)
    except ValidationError as invalid:
        errors += [_pydantic_error(error) for error in invalid.errors()]
    if event is not None and event.id in RESERVED_IDS:
        errors.append(FormError("id", _("this address is taken by another event")))
    if event is not None and not errors:
        errors += [FormError(v.field, v.message, v.values) for v in violations(event.to_spec())]
    errors = sorted(_first_per_field(errors), key=lambda error: _place(error.field))
    return Checked(form, event if not errors else None, notice if not errors else None, errors)


def payload(form: EventForm, errors: list[FormError]) -> dict[str, Any]:
    """The form as the JSON API's ``EventCreate``; unreadable times and numbers go to ``errors``."""
    place = zone(form.timezone.strip()) or zone(DEFAULT_TIMEZONE)
    assert place is not None

    def time(path: str, value: str) -> str | None:
        parsed = _local_time(value)
        if parsed is None:
            errors.append(FormError(path, ENTER_TIME))
            return None
        return parsed.replace(tzinfo=place).isoformat()

    def number(path: str, value: str) -> int | None:
        text = value.strip()
        if not text.isdigit():
            errors.append(FormError(path, ENTER_NUMBER))
            return None
        return int(text)

    body: dict[str, Any] = {
        "title": form.title.value(),
        "description": form.description.optional(),
        "timezone": form.timezone,
        "venue": {
            "name": form.venue_name.value(),
            "address": form.venue_address,
            "arrival_instructions": form.arrival_instructions.optional(),
        },
        "stream_url": form.stream_url,
        "stream_playback": (
            StreamPlayback.SIGNED_HLS if form.closed_stream else StreamPlayback.REDIRECT
        ).value,
        "agenda": [_block_payload(f"agenda.{i}", b, time) for i, b in enumerate(form.agenda)],
        "target_groups": [group.value() for group in form.target_groups],
        "published": form.published,
        "organiser": {
            "name": form.organiser_name.value(),
            "email": form.organiser_email,
            "phone": form.organiser_phone.strip() or None,
        },
        "email_confirmation": form.email_confirmation,
        "reminders": [
            _reminder_payload(f"reminders.{i}", reminder, errors)
            for i, reminder in enumerate(form.reminders)
        ],
        "thank_you_minutes_after": (
            number("thank_you_minutes_after", form.thank_you_minutes_after)
            if form.thank_you
            else None
        ),
        "feedback_url": form.feedback_url.strip() or None,
        "recording_url": form.recording_url.strip() or None,
    }
    if form.id.strip():
        body["id"] = form.id.strip()
    for name in TIMES:
        body[name] = time(name, getattr(form, name))
    for name in NUMBERS:
        body[name] = number(name, getattr(form, name))
    return body


def _reminder_payload(path: str, reminder: ReminderForm, errors: list[FormError]) -> dict[str, Any]:
    """A reminder row as the API's ``ReminderIn``: its number times its unit, in minutes."""
    text = reminder.amount.strip()
    minutes: int | None = None
    if not text.isdigit():
        errors.append(FormError(f"{path}.amount", ENTER_NUMBER))
    else:
        if reminder.unit not in UNITS:  # the number is still checked, as minutes
            errors.append(FormError(f"{path}.unit", _("choose minutes, hours or days")))
        minutes = int(text) * UNITS.get(reminder.unit, 1)
    return {"minutes_before": minutes, "audience": reminder.audience}


def _block_payload(
    path: str, block: BlockForm, time: Callable[[str, str], str | None]
) -> dict[str, Any]:
    return {
        "starts_at": time(f"{path}.starts_at", block.starts_at),
        "ends_at": time(f"{path}.ends_at", block.ends_at),
        "title": block.title.value(),
        "speakers": [_speaker_payload(speaker) for speaker in block.speakers],
        "talks": [
            {
                "title": talk.title.value(),
                "speakers": [_speaker_payload(speaker) for speaker in talk.speakers],
            }
            for talk in block.talks
        ],
    }


def _speaker_payload(speaker: SpeakerForm) -> dict[str, Any]:
    return {
        "name": speaker.name,
        "title": speaker.title.optional(),
        "organisation": speaker.organisation.optional(),
    }


def _local_time(value: str) -> datetime | None:
    text = value.strip()
    for pattern in (LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H.%M", "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _notice(texts: Texts, errors: list[FormError]) -> dict[Language, str] | None:
    """The event's own notice: none when all blank, else every language is needed."""
    if texts.blank:
        return None
    missing = [language for language in LANGUAGES if not getattr(texts, language).strip()]
    for language in missing:
        errors.append(
            FormError(f"privacy_notice.{language}", _("the notice is needed in every language"))
        )
    if missing:
        return None
    return {Language(language): getattr(texts, language).strip() for language in LANGUAGES}


_PYDANTIC_MESSAGES = {
    "string_too_short": _("this is required"),
    "missing": _("this is required"),
    "string_too_long": _("this is too long: at most %(max_length)s characters"),
    "value_error": _("check this value"),
}
_FIELD_MESSAGES = {
    "id": _("use 3 to 64 lower-case letters, digits and hyphens, starting with a letter or digit"),
    "organiser.email": _("enter an email address, like name@example.fi"),
    "organiser.phone": _("enter a phone number, like +358 29 516 001"),
}


def form_errors(invalid: ValidationError) -> list[FormError]:
    """Pydantic's errors as the form's, one per input, with messages of this catalogue."""
    return _first_per_field([_pydantic_error(error) for error in invalid.errors()])


def _pydantic_error(error: Mapping[str, Any]) -> FormError:
    path = ".".join(str(part) for part in error.get("loc", ()))
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if path in _FIELD_MESSAGES:
        return FormError(path, _FIELD_MESSAGES[path])
    if kind == "string_too_long":
        return FormError(path, _PYDANTIC_MESSAGES[kind], {"max_length": context.get("max_length")})
    if kind == "value_error" and isinstance(context.get("error"), ValueError):
        # Ilmo's own validators raise with a message id of the catalogue.
        return FormError(path, str(context["error"]))
    return FormError(path, _PYDANTIC_MESSAGES.get(kind, _("check this value")))


# The inputs in the order the page shows them (by their first part): the summary follows it.
PAGE_ORDER = (
    "title",
    "description",
    "id",
    "target_groups",
    "starts_at",
    "ends_at",
    "timezone",
    "registration_opens_at",
    "registration_closes_at",
    "email_confirmation",
    "published",
    "venue",
    "in_person_capacity",
    "stream_url",
    "stream_playback",
    "stream_opens_minutes_before",
    "stream_closes_minutes_after",
    "agenda",
    "reminders",
    "promotion_cutoff_minutes",
    "thank_you_minutes_after",
    "feedback_url",
    "recording_url",
    "organiser",
    "retention_days",
    "privacy_notice",
)


def _place(path: str) -> tuple[int, ...]:
    """Where the input of ``path`` is on the page: by section, then by row numbers."""
    head, *rest = path.split(".")
    rank = PAGE_ORDER.index(head) if head in PAGE_ORDER else len(PAGE_ORDER)
    return (rank, *(int(part) for part in rest if part.isdigit()))


def _first_per_field(errors: list[FormError]) -> list[FormError]:
    """One message per input, the first found (an unreadable time is not also 'required')."""
    seen: set[str] = set()
    kept = []
    for error in errors:
        target = _input_of(error.field)
        if target not in seen:
            seen.add(target)
            kept.append(replace(error, field=target))
    return kept


def _input_of(path: str) -> str:
    """The input that shows an error about ``path``: a text group's goes to its Finnish input."""
    groups = ("title", "description", "arrival_instructions", "organisation")
    last = path.rsplit(".", 1)[-1]
    named = path in ("venue.name", "organiser.name")
    if named or last in groups or (path.startswith("target_groups.") and last.isdigit()):
        return f"{path}.fi"
    if path in ("venue", "organiser"):
        return f"{path}.name.fi"
    if path.startswith("reminders.") and last == "minutes_before":
        return f"{path.rsplit('.', 1)[0]}.amount"
    return path


# ---------------------------------------------------------------- from the API


def of_spec(spec: EventSpec, event_id: str = "", notice: PrivacyNotice | None = None) -> EventForm:
    """A stored event in the form's inputs, its times in its own zone."""
    place = zone(spec.timezone) or zone(DEFAULT_TIMEZONE)

    def local(moment: datetime) -> str:
        return moment.astimezone(place).strftime(LOCAL_FORMAT)

    def speakers(people: tuple[Speaker, ...]) -> list[SpeakerForm]:
        return [SpeakerForm(p.name, Texts.of(p.title), Texts.of(p.organisation)) for p in people]

    organiser = spec.organiser
    return EventForm(
        id=event_id,
        title=Texts.of(spec.title),
        description=Texts.of(spec.description),
        starts_at=local(spec.starts_at),
        ends_at=local(spec.ends_at),
        timezone=spec.timezone,
        venue_name=Texts.of(spec.venue.name),
        venue_address=spec.venue.address,
        arrival_instructions=Texts.of(spec.venue.arrival_instructions),
        in_person_capacity=str(spec.in_person_capacity),
        registration_opens_at=local(spec.registration_opens_at),
        registration_closes_at=local(spec.registration_closes_at),
        stream_url=spec.stream_url,
        closed_stream=spec.stream_playback is StreamPlayback.SIGNED_HLS,
        stream_opens_minutes_before=str(spec.stream_opens_minutes_before),
        stream_closes_minutes_after=str(spec.stream_closes_minutes_after),
        agenda=[
            BlockForm(
                local(item.starts_at),
                local(item.ends_at),
                Texts.of(item.title),
                speakers(item.speakers),
                [TalkForm(Texts.of(talk.title), speakers(talk.speakers)) for talk in item.talks],
            )
            for item in spec.agenda
        ],
        target_groups=[Texts.of(group) for group in spec.target_groups],
        published=spec.published,
        organiser_name=Texts.of(organiser.name) if organiser else Texts(),
        organiser_email=organiser.email if organiser else "",
        organiser_phone=(organiser.phone or "") if organiser else "",
        retention_days=str(spec.retention_days),
        email_confirmation=spec.email_confirmation,
        privacy_notice=_notice_texts(notice),
        reminders=[ReminderForm.of(reminder) for reminder in spec.reminders],
        promotion_cutoff_minutes=str(spec.promotion_cutoff_minutes),
        thank_you=spec.thank_you_minutes_after is not None,
        thank_you_minutes_after=str(
            spec.thank_you_minutes_after
            if spec.thank_you_minutes_after is not None
            else THANK_YOU_MINUTES_AFTER
        ),
        feedback_url=spec.feedback_url or "",
        recording_url=spec.recording_url or "",
    )


def _notice_texts(notice: PrivacyNotice | None) -> Texts:
    if notice is None:
        return Texts()
    text = notice.text
    return Texts(text.get(Language.FI, ""), text.get(Language.SV, ""), text.get(Language.EN, ""))


def inputs(form: EventForm) -> dict[str, str]:
    """The form as the browser sends it back: every input's name and value (what ``read`` reads).

    Unchecked checkboxes are absent, as a browser leaves them out.
    """
    sent: dict[str, str] = {}

    def texts(path: str, value: Texts) -> None:
        for language in LANGUAGES:
            sent[f"{path}.{language}"] = getattr(value, language)

    def speakers(path: str, people: list[SpeakerForm]) -> None:
        for index, speaker in enumerate(people):
            sent[f"{path}.{index}.name"] = speaker.name
            texts(f"{path}.{index}.title", speaker.title)
            texts(f"{path}.{index}.organisation", speaker.organisation)

    for item in fields(EventForm):
        path = PATHS.get(item.name, item.name)
        value = getattr(form, item.name)
        if isinstance(value, Texts):
            texts(path, value)
        elif item.name in CHECKBOXES:
            if value:
                sent[path] = "yes"
        elif isinstance(value, str):
            sent[path] = value
    for index, group in enumerate(form.target_groups):
        texts(f"target_groups.{index}", group)
    for index, reminder in enumerate(form.reminders):
        sent[f"reminders.{index}.amount"] = reminder.amount
        sent[f"reminders.{index}.unit"] = reminder.unit
        sent[f"reminders.{index}.audience"] = reminder.audience
    for index, block in enumerate(form.agenda):
        path = f"agenda.{index}"
        sent[f"{path}.starts_at"], sent[f"{path}.ends_at"] = block.starts_at, block.ends_at
        texts(f"{path}.title", block.title)
        speakers(f"{path}.speakers", block.speakers)
        for number, talk in enumerate(block.talks):
            texts(f"{path}.talks.{number}.title", talk.title)
            speakers(f"{path}.talks.{number}.speakers", talk.speakers)
    return sent


# ------------------------------------------------------------------- labels

# What each input is called on the page (and in the error summary): English message ids.
LABELS: Mapping[str, str] = {
    "id": _("Address of the event's page"),
    "title": _("Title"),
    "description": _("Description"),
    "starts_at": _("Starts"),
    "ends_at": _("Ends"),
    "timezone": _("Time zone"),
    "venue.name": _("Name of the venue"),
    "venue.address": _("Street address"),
    "venue.arrival_instructions": _("Arrival instructions"),
    "in_person_capacity": _("Seats on site"),
    "registration_opens_at": _("Registration opens"),
    "registration_closes_at": _("Registration closes"),
    "stream_url": _("Address of the stream"),
    "stream_playback": _("Only registrants may watch"),
    "stream_opens_minutes_before": _("Stream links open, minutes before the start"),
    "stream_closes_minutes_after": _("Stream links close, minutes after the end"),
    "published": _("Published"),
    "organiser.name": _("Organiser"),
    "organiser.email": _("Organiser's email address"),
    "organiser.phone": _("Organiser's phone number"),
    "retention_days": _("Personal data kept, days after the event"),
    "email_confirmation": _("Registrants confirm their email address"),
    "privacy_notice": _("Privacy notice of this event"),
    "reminders": _("Reminders"),
    "promotion_cutoff_minutes": _("Waiting list closes, minutes before the start"),
    "thank_you": _("Send a thank-you mail after the event"),
    "thank_you_minutes_after": _("Thank-you mail, minutes after the end"),
    "feedback_url": _("Address of the feedback form"),
    "recording_url": _("Address of the recording"),
}
# The parts of a nested path: a row of a repeating group, a field of it, a language.
ROW_LABELS: Mapping[str, str] = {
    "agenda": _("Agenda block %(n)s"),
    "talks": _("talk %(n)s"),
    "speakers": _("speaker %(n)s"),
    "target_groups": _("Target group %(n)s"),
    "reminders": _("Reminder %(n)s"),
}
PART_LABELS: Mapping[str, str] = {
    "starts_at": _("starts"),
    "ends_at": _("ends"),
    "title": _("title"),
    "name": _("name"),
    "organisation": _("organisation"),
    "fi": _("in Finnish"),
    "sv": _("in Swedish"),
    "en": _("in English"),
    "amount": _("how long before"),
    "unit": _("unit"),
    "audience": _("to whom"),
}

JOB_TITLE = _("job title")


def label_parts(path: str) -> list[tuple[str, dict[str, object]]]:
    """What an input is called, as message ids with values: ``Agenda block 2, talk 1, title``."""
    parts = path.split(".")
    for length in (2, 1):
        head = ".".join(parts[:length])
        row = len(parts) > length and parts[length].isdigit()
        if head in LABELS and not row:
            found: list[tuple[str, dict[str, object]]] = [(LABELS[head], {})]
            return found + [(PART_LABELS.get(p, p), {}) for p in parts[length:]]
    named: list[tuple[str, dict[str, object]]] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if part in ROW_LABELS and index + 1 < len(parts) and parts[index + 1].isdigit():
            named.append((ROW_LABELS[part], {"n": int(parts[index + 1]) + 1}))
            index += 2
            continue
        speaker = index >= 2 and parts[index - 2] == "speakers"
        named.append(
            (JOB_TITLE if speaker and part == "title" else PART_LABELS.get(part, part), {})
        )
        index += 1
    return named

"""What the public pages show of an event, in one language: plain values for the templates.

Pure: each function takes what a use case answered and the page's language
and gives the texts and links a template lays out. Dates and times are in
the event's own zone, written as people write them in that language
(``ilmo_shared.localized_time``), with the zone named in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ilmo_event_contracts import Language
from ilmo_event_contracts.events import AgendaItem, LocalizedText, Organiser, Speaker
from ilmo_registration.catalogue import EventSpec, shown_in_zone
from ilmo_registration.domain import RegistrationWindow, SeatOutlook, registration_window
from ilmo_registration.storage import StoredEvent
from ilmo_registration.usecases import EventOutlook
from ilmo_shared.localized_time import (
    WeekdayStyle,
    format_datetime,
    format_span,
    format_time_span,
    zone_name,
)


@dataclass(frozen=True)
class EventSummary:
    """One line of the list of events."""

    id: str
    title: str
    when: str
    window: RegistrationWindow
    # Opening or closing time of registration, whichever the visitor needs next.
    registration_time: str
    cancelled: bool = False


@dataclass(frozen=True)
class SpeakerView:
    name: str
    title: str | None
    organisation: str | None


@dataclass(frozen=True)
class TalkView:
    title: str
    speakers: list[SpeakerView]


@dataclass(frozen=True)
class AgendaView:
    time: str
    title: str
    speakers: list[SpeakerView]
    talks: list[TalkView]


@dataclass(frozen=True)
class OrganiserView:
    name: str
    email: str
    phone: str | None
    # The phone as a tel: link wants it: digits and a leading +, nothing else.
    phone_link: str | None


@dataclass(frozen=True)
class EventPage:
    """Everything an event's page shows."""

    id: str
    title: str
    paragraphs: list[str]
    when: str
    venue_name: str
    venue_address: str
    arrival: list[str]
    agenda: list[AgendaView]
    target_groups: list[str]
    organiser: OrganiserView | None
    opens_at: str
    deadline: str
    window: RegistrationWindow
    seats: SeatOutlook
    over: bool
    has_seats: bool
    # Cancelled by the organiser, with their note's paragraphs (none: no note).
    cancelled: bool = False
    cancellation_note: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.window is RegistrationWindow.OPEN and not self.over and not self.cancelled


def when(spec: EventSpec, language: Language) -> str:
    """E.g. ``perjantai 11.9.2026 klo 9.00-12.00 (Suomen aikaa)``."""
    span = format_span(spec.starts_at, spec.ends_at, spec.timezone, language, WeekdayStyle.LONG)
    return f"{span} ({zone_name(spec.timezone, language)})"


def moment(value: datetime, timezone: str, language: Language) -> str:
    """E.g. ``pe 4.9.2026 klo 9.00 (Suomen aikaa)``."""
    return f"{format_datetime(value, timezone, language)} ({zone_name(timezone, language)})"


def paragraphs(text: str | None) -> list[str]:
    """A text's paragraphs: separated by blank lines, single line breaks read as spaces."""
    if not text:
        return []
    blocks = text.replace("\r\n", "\n").split("\n\n")
    return [
        " ".join(line.strip() for line in block.splitlines()).strip()
        for block in blocks
        if block.strip()
    ]


def summary(stored: StoredEvent, now: datetime, language: Language) -> EventSummary:
    spec = shown_in_zone(stored.spec)
    window = registration_window(spec.registration_opens_at, spec.registration_closes_at, now)
    next_time = (
        spec.registration_opens_at
        if window is RegistrationWindow.NOT_YET_OPEN
        else spec.registration_closes_at
    )
    return EventSummary(
        id=stored.id,
        title=spec.title.in_language(language),
        when=when(spec, language),
        window=window,
        registration_time=moment(next_time, spec.timezone, language),
        cancelled=spec.cancelled_at is not None,
    )


def event_page(outlook: EventOutlook, language: Language) -> EventPage:
    spec = shown_in_zone(outlook.event.spec)
    arrival = spec.venue.arrival_instructions
    return EventPage(
        id=outlook.event.id,
        title=spec.title.in_language(language),
        paragraphs=paragraphs(_text(spec.description, language)),
        when=when(spec, language),
        venue_name=spec.venue.name.in_language(language),
        venue_address=spec.venue.address,
        arrival=paragraphs(_text(arrival, language)),
        agenda=[_agenda_item(item, spec.timezone, language) for item in spec.agenda],
        target_groups=[group.in_language(language) for group in spec.target_groups],
        organiser=_organiser(spec.organiser, language),
        opens_at=moment(spec.registration_opens_at, spec.timezone, language),
        deadline=moment(spec.registration_closes_at, spec.timezone, language),
        window=outlook.window,
        seats=outlook.seats,
        over=outlook.over,
        has_seats=spec.in_person_capacity > 0,
        cancelled=spec.cancelled_at is not None,
        cancellation_note=paragraphs(_text(spec.cancellation_note, language)),
    )


def _text(text: LocalizedText | None, language: Language) -> str | None:
    return text.in_language(language) if text is not None else None


def _speaker(speaker: Speaker, language: Language) -> SpeakerView:
    return SpeakerView(
        name=speaker.name,
        title=_text(speaker.title, language),
        organisation=_text(speaker.organisation, language),
    )


def _agenda_item(item: AgendaItem, timezone: str, language: Language) -> AgendaView:
    return AgendaView(
        time=format_time_span(item.starts_at, item.ends_at, timezone, language),
        title=item.title.in_language(language),
        speakers=[_speaker(speaker, language) for speaker in item.speakers],
        talks=[
            TalkView(
                title=talk.title.in_language(language),
                speakers=[_speaker(speaker, language) for speaker in talk.speakers],
            )
            for talk in item.talks
        ],
    )


def _organiser(organiser: Organiser | None, language: Language) -> OrganiserView | None:
    if organiser is None:
        return None
    phone = organiser.phone
    dialled = "".join(c for c in phone if c.isdigit() or c == "+") if phone else ""
    return OrganiserView(
        name=organiser.name.in_language(language),
        email=str(organiser.email),
        phone=phone,
        phone_link=f"tel:{dialled}" if dialled else None,
    )

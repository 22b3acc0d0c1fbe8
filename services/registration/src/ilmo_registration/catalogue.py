"""Event catalogue rules, free of I/O: when an event's description is coherent.

An event in the catalogue is an ``EventSpec``: the contract's ``EventContent``,
the one definition of an event's fields, which is also what the service
stores (``model_dump``/``model_validate``). ``violations`` lists every rule
it breaks, each naming the field at fault with the same dotted path a client
used in its JSON (``agenda.2.ends_at``), so the HTTP layer can report them all
at once. Times are compared as instants; each must carry a UTC offset.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ilmo_event_contracts import EventDetails, integration
from ilmo_event_contracts.events import MAX_REMINDERS, MAX_STREAM_WINDOW_MINUTES, EventContent
from ilmo_shared.clock import to_millisecond
from ilmo_shared.i18n import _

EventT = TypeVar("EventT", bound=EventDetails)

DEFAULT_TIMEZONE = "Europe/Helsinki"
EVENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,63}$"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
# IANA names are letters, digits and a few marks in /-separated parts
# ("Europe/Helsinki", "America/Port-au-Prince", "Etc/GMT+2"); anything else
# (paths, dots) never reaches the time zone database.
TIMEZONE_NAME = r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*"
_TIMEZONE_NAME = re.compile(TIMEZONE_NAME)


@dataclass(frozen=True)
class Violation:
    """A rule an input breaks: the JSON path of the field at fault and why.

    ``message`` is an English message id of this service's catalogue; ``values``
    fill its ``%(name)s`` placeholders once it is translated.
    """

    field: str
    message: str
    values: Mapping[str, object] = dataclasses.field(default_factory=dict)


# Everything the catalogue says about one event (frozen; the times carry offsets).
EventSpec = EventContent


def is_event_id(value: str) -> bool:
    """True for a usable event id: a lower-case slug of 3 to 64 characters."""
    return _EVENT_ID.fullmatch(value) is not None


def zone(name: str) -> tzinfo | None:
    """The IANA time zone called ``name``, or None if there is none."""
    if not _TIMEZONE_NAME.fullmatch(name) or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_STREAM_WINDOW = _("must be from 0 to %(minutes)s minutes")


def violations(spec: EventSpec) -> list[Violation]:
    """Every catalogue rule ``spec`` breaks; empty when the event is coherent."""
    found: list[Violation] = []
    found += _text_rules(spec)
    found += _time_rules(spec)
    if spec.in_person_capacity < 0:
        found.append(Violation("in_person_capacity", _("must be zero or more")))
    if zone(spec.timezone) is None:
        found.append(
            Violation("timezone", _("must be an IANA time zone name, e.g. Europe/Helsinki"))
        )
    for name in ("stream_url", "feedback_url", "recording_url"):
        value = getattr(spec, name)
        if value is not None and not is_https_url(value):
            found.append(Violation(name, _("must be an https URL")))
    for name in ("stream_opens_minutes_before", "stream_closes_minutes_after"):
        if not 0 <= getattr(spec, name) <= MAX_STREAM_WINDOW_MINUTES:
            found.append(Violation(name, _STREAM_WINDOW, {"minutes": MAX_STREAM_WINDOW_MINUTES}))
    found += reminder_rules(spec)
    return found


# Plain http is taken only to this machine itself, which browsers treat as a
# secure context: a developer's or a test's local origin, never a viewer's network.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def is_https_url(value: str) -> bool:
    """True for an address a browser opens securely: https and a host name, or loopback http."""
    try:
        url = urlsplit(value)
    except ValueError:  # "https://[x": brackets that hold no IPv6 address
        return False
    if url.scheme == "http":
        return url.hostname in LOOPBACK_HOSTS
    return url.scheme == "https" and bool(url.hostname)


def reminder_rules(spec: EventSpec) -> list[Violation]:
    """At most ``MAX_REMINDERS`` reminders, each offset once.

    Two reminders at the same moment would be one mail sent twice (or, with
    different audiences, a reader's puzzle about which one counts); the
    notification schedule keys reminders by their offset.
    """
    found = []
    if len(spec.reminders) > MAX_REMINDERS:
        found.append(
            Violation("reminders", _("at most %(count)s reminders"), {"count": MAX_REMINDERS})
        )
    seen: set[int] = set()
    for index, reminder in enumerate(spec.reminders):
        if reminder.minutes_before in seen:
            found.append(
                Violation(
                    f"reminders.{index}.minutes_before",
                    _("another reminder is already this long before the start"),
                )
            )
        seen.add(reminder.minutes_before)
    return found


def registration_closes(spec: EventSpec) -> datetime:
    """When registration closes in effect: at its deadline, or when the event was cancelled.

    A cancelled event confirms no address and moves nobody on site after the
    cancellation, as if registration had closed then (in the event's zone).
    """
    closes = spec.registration_closes_at
    cancelled = spec.cancelled_at
    if cancelled is None or cancelled >= closes:
        return closes
    where = zone(spec.timezone)
    return cancelled.astimezone(where) if where is not None else cancelled


def is_cancelled(spec: EventSpec) -> bool:
    """Whether the organiser cancelled the event: it takes no registrations and no changes."""
    return spec.cancelled_at is not None


def _text_rules(spec: EventSpec) -> list[Violation]:
    found = []
    if not spec.title.fi.strip():
        found.append(Violation("title.fi", _("a Finnish title is required")))
    if spec.description is not None and not spec.description.fi.strip():
        found.append(Violation("description.fi", _("a description needs a Finnish text")))
    for index, item in enumerate(spec.agenda):
        if not item.title.fi.strip():
            found.append(Violation(f"agenda.{index}.title.fi", _("a Finnish title is required")))
    return found


def _time_rules(spec: EventSpec) -> list[Violation]:
    times = {
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "registration_opens_at": spec.registration_opens_at,
        "registration_closes_at": spec.registration_closes_at,
    }
    for index, item in enumerate(spec.agenda):
        times[f"agenda.{index}.starts_at"] = item.starts_at
        times[f"agenda.{index}.ends_at"] = item.ends_at
    naive = [
        Violation(name, _("must include a UTC offset")) for name, t in times.items() if _naive(t)
    ]
    if naive:
        return naive  # naive and aware times cannot be compared
    found = []
    if spec.ends_at <= spec.starts_at:
        found.append(Violation("ends_at", _("must be after starts_at")))
    if spec.registration_closes_at >= spec.ends_at:
        found.append(Violation("registration_closes_at", _("must be before the event ends")))
    if spec.registration_opens_at >= spec.registration_closes_at:
        found.append(Violation("registration_opens_at", _("must be before registration_closes_at")))
    for index, item in enumerate(spec.agenda):
        if item.starts_at < spec.starts_at or item.starts_at >= spec.ends_at:
            found.append(Violation(f"agenda.{index}.starts_at", _("must be within the event")))
        if item.ends_at <= item.starts_at:
            found.append(Violation(f"agenda.{index}.ends_at", _("must be after the item starts")))
        elif item.ends_at > spec.ends_at:
            found.append(Violation(f"agenda.{index}.ends_at", _("must be within the event")))
    return found


def _naive(moment: datetime) -> bool:
    return moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None


def normalised(spec: EventSpec) -> EventSpec:
    """``spec`` as it is stored: times cut to milliseconds, so what is read back is equal."""
    return _with_times(spec, to_millisecond)


def shown_in_zone(spec: EventSpec) -> EventSpec:
    """``spec`` with every time expressed in the event's own time zone (same instants)."""
    where = zone(spec.timezone)
    if where is None:
        return spec
    return _with_times(spec, lambda moment: moment.astimezone(where))


def _with_times(spec: EventSpec, change: Callable[[datetime], datetime]) -> EventSpec:
    """``spec`` with ``change`` applied to each of its times, the agenda's included."""
    return spec.model_copy(
        update={
            "starts_at": change(spec.starts_at),
            "ends_at": change(spec.ends_at),
            "registration_opens_at": change(spec.registration_opens_at),
            "registration_closes_at": change(spec.registration_closes_at),
            "agenda": tuple(
                item.model_copy(
                    update={"starts_at": change(item.starts_at), "ends_at": change(item.ends_at)}
                )
                for item in spec.agenda
            ),
        }
    )


def generated_event_id(title: str, suffix: str) -> str:
    """An id for an event whose creator chose none: a slug of its title and ``suffix``.

    ``suffix`` is random (chosen by the caller), so two events with the same
    title get different ids: "Tekoäly hallinnossa" → ``tekoaly-hallinnossa-3f9a2c1d``.
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:40].strip("-")
    candidate = f"{slug or 'event'}-{suffix}"
    if not is_event_id(candidate):
        raise ValueError(f"suffix {suffix!r} does not make a valid event id")
    return candidate


def details(event_class: type[EventT], event_id: str, revision: int, spec: EventSpec) -> EventT:
    """The ``event.published`` / ``event.updated`` / ``event.cancelled`` fact carrying the
    whole event, in its zone."""
    return event_class.model_validate(
        {**shown_in_zone(spec).model_dump(), "event_id": event_id, "revision": revision}
    )


def announcement(
    before: EventSpec | None, after: EventDetails
) -> integration.IntegrationEvent | None:
    """What outside systems are told when an event that was ``before`` becomes ``after``.

    ``before`` is None for an event just created. Drafts are not announced:
    an event that becomes published (created published, or published after
    being a draft) is ``event.published``; a change to a published event is
    ``event.updated``; a published event that goes back to being a draft is
    ``event.withdrawn``; a draft that stays a draft is nothing. A cancelled
    event (only a published one can be) is ``event.cancelled``.
    """
    was_published = before is not None and before.published
    if after.cancelled_at is not None:
        return integration.EventCancelled(
            event_id=after.event_id, revision=after.revision, cancelled_at=after.cancelled_at
        )
    if not after.published:
        if was_published:
            return integration.EventWithdrawn(event_id=after.event_id, revision=after.revision)
        return None
    kind = integration.EventUpdated if was_published else integration.EventPublished
    return kind.model_validate(after.model_dump(include=set(kind.model_fields)))

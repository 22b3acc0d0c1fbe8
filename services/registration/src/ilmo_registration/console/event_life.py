"""What the console's event page shows of the event's life: cancellation, schedule, seats.

The schedule (reminders, change and cancellation notices, the thank-you
mail) is notification's (``/api/v1/events/{id}/schedule``); the seat
figures are capacity's (``/api/v1/events/{id}/seats``), read tolerant of
an older capacity that lacks the cutoff's fields. Either service may be
down: the page then says which part is missing and shows the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ilmo_event_contracts import Audience, Language
from ilmo_registration import CATALOGUE
from ilmo_registration.console.other_services import (
    OtherServices,
    ScheduleItem,
    SeatFigures,
    Unavailable,
)
from ilmo_registration.console.registration_views import AUDIENCE_NAMES, MAIL_KINDS
from ilmo_registration.storage import StoredEvent
from ilmo_shared.i18n import _, translate
from ilmo_shared.localized_time import format_datetime

_T = TypeVar("_T")
SCHEDULE_STATES: Mapping[str, str] = {
    "scheduled": _("Scheduled"),
    "done": _("Sent"),
    "missed": _("Missed: it was due while the event could not be reached"),
    "dropped": _("Dropped: no longer needed"),
}


@dataclass(frozen=True)
class ScheduleRow:
    """One scheduled mail as the page lists it, in the reader's language and the event's zone."""

    what: str
    due: str
    state: str
    audience: str
    counts: str


@dataclass(frozen=True)
class SeatsView:
    """What the page says about seats beyond the plain capacity."""

    figures: SeatFigures
    # After the cutoff, the seats left free are no longer offered to the waiting list.
    closed_free: int | None
    promotion_closes_at: str | None


@dataclass(frozen=True)
class EventLife:
    schedule: list[ScheduleRow] | None
    seats: SeatsView | None


async def event_life(services: OtherServices, stored: StoredEvent, language: Language) -> EventLife:
    """The schedule and the seats, each None when its service did not answer."""
    schedule, seats = await asyncio.gather(
        _or_none(services.schedule(stored.id)), _or_none(services.seats(stored.id))
    )
    zone = stored.spec.timezone
    return EventLife(
        schedule=None
        if schedule is None
        else [schedule_row(item, zone, language) for item in schedule],
        seats=None if seats is None else seats_view(seats, zone, language),
    )


def schedule_row(item: ScheduleItem, timezone: str, language: Language) -> ScheduleRow:
    def tr(message: str) -> str:
        return translate(CATALOGUE, language, message)

    what = tr(MAIL_KINDS[item.kind]) if item.kind in MAIL_KINDS else item.kind
    audience = ""
    if item.audience in tuple(Audience):
        audience = tr(AUDIENCE_NAMES[Audience(item.audience)])
    counts = ""
    if item.recipients is not None:
        counts = tr(_("%(sent)s of %(recipients)s sent, %(failed)s failed")) % {
            "sent": item.sent or 0,
            "recipients": item.recipients,
            "failed": item.failed or 0,
        }
    return ScheduleRow(
        what=what,
        due=format_datetime(item.due_at, timezone, language) if item.due_at else "",
        state=tr(SCHEDULE_STATES[item.state]) if item.state in SCHEDULE_STATES else item.state,
        audience=audience,
        counts=counts,
    )


def seats_view(figures: SeatFigures, timezone: str, language: Language) -> SeatsView:
    closes = figures.promotion_closes_at
    return SeatsView(
        figures=figures,
        closed_free=figures.free if figures.promotion_closed else None,
        promotion_closes_at=format_datetime(closes, timezone, language) if closes else None,
    )


async def _or_none(call: Awaitable[_T]) -> _T | None:
    try:
        return await call
    except Unavailable:
        return None

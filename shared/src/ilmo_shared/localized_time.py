"""Dates and times as a Finnish, Swedish or English reader expects them, in an event's zone.

Finnish and Swedish write ``pe 29.1.2027 klo 9.00`` / ``fre 29.1.2027 kl. 9.00``,
as Kielitoimisto and Språkrådet recommend: the date as day.month.year without
leading zeros, weekday names in lower case, ``klo`` / ``kl.`` before the time,
a point between hours and minutes and no leading zero on the hour. English
writes ``Fri 29 January 2027, 9:00``: day, month name and year, then the
24-hour time with a colon. A range takes an en dash (written ``-`` here):
``9.00-12.00`` on one day, ``pe 29.1.2027 klo 22.00 - la 30.1.2027 klo 1.30``
over midnight.

Weekdays come in three styles (:class:`WeekdayStyle`): short (``pe``, ``fre``,
``Fri``: the emails), long (``perjantai``, ``fredag``, ``Friday``: the manage
page) and the Finnish essive (``perjantaina``, "on Friday", for a sentence such
as "Lähetys avautuu perjantaina ..."; Swedish and English use the long name
there, English with its own "on"). Pages that have always shown a two-digit
hour (``08.30``) ask for it with ``two_digit_hour=True``.

The names of weekdays and months are CLDR's, from Babel (``babel.dates``):
its abbreviated weekdays (``pe``, ``fre``, ``Fri``), its stand-alone wide
ones (``perjantai``), its Finnish format-context wide ones, which are the
essive (``perjantaina``), and its English month names are exactly the words
above, and the locale data ships with Babel, so nothing depends on the
machine's locales.

How the parts are put together stays our own rule, because CLDR's patterns
are not what Finnish public-sector texts write: its Finnish date-time joins
with ``klo`` but gives seconds (``29.1.2027 klo 9.00.00``) and no weekday in
the short form, and its long form spells the month (``29. tammikuuta
2027``); Swedish (Sweden) writes ISO dates and ``09:00``, and even
Finland-Swedish abbreviates the month (``29 jan. 2027``) and has no ``kl.``;
English is a 12-hour clock, month first (``Jan 29, 2027, 9:00 AM``). The
pages and mails say the day as people in Finland read it, so the patterns
here are Kielitoimisto's and Språkrådet's. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names, get_timezone_location

from ilmo_event_contracts import Language


def _weekdays(
    width: Literal["abbreviated", "wide"], context: Literal["format", "stand-alone"]
) -> dict[Language, tuple[str, ...]]:
    """CLDR's weekday names, Monday first, in every language."""
    return {
        language: tuple(get_day_names(width, context, language.value)[day] for day in range(7))
        for language in Language
    }


WEEKDAYS_SHORT = _weekdays("abbreviated", "format")
WEEKDAYS_LONG = _weekdays("wide", "stand-alone")
# "On Friday": Finnish inflects the name (essive), which is CLDR's format
# context for Finnish; Swedish and English do not, and their format names are
# the stand-alone ones.
WEEKDAYS_ESSIVE = _weekdays("wide", "format")
ENGLISH_MONTHS = tuple(get_month_names("wide", "format", "en")[month] for month in range(1, 13))
EN_DASH = "\u2013"


class WeekdayStyle(Enum):
    """How a weekday is named: ``pe`` (short), ``perjantai`` (long), ``perjantaina`` (essive)."""

    SHORT = "short"
    LONG = "long"
    ESSIVE = "essive"


_WEEKDAYS = {
    WeekdayStyle.SHORT: WEEKDAYS_SHORT,
    WeekdayStyle.LONG: WEEKDAYS_LONG,
    WeekdayStyle.ESSIVE: WEEKDAYS_ESSIVE,
}


def local(moment: datetime, timezone: str) -> datetime:
    """``moment`` on the wall clocks of ``timezone`` (an IANA name such as Europe/Helsinki)."""
    return moment.astimezone(ZoneInfo(timezone))


def weekday_name(
    moment: datetime, language: Language, style: WeekdayStyle = WeekdayStyle.SHORT
) -> str:
    """The day of the week of ``moment`` (already local) in ``language`` and ``style``."""
    return _WEEKDAYS[style][language][moment.weekday()]


def format_date(
    moment: datetime, language: Language, style: WeekdayStyle = WeekdayStyle.SHORT
) -> str:
    """E.g. ``pe 29.1.2027``, ``fre 29.1.2027`` or ``Fri 29 January 2027`` (``moment`` local)."""
    weekday = weekday_name(moment, language, style)
    if language is Language.EN:
        return f"{weekday} {moment.day} {ENGLISH_MONTHS[moment.month - 1]} {moment.year}"
    return f"{weekday} {moment.day}.{moment.month}.{moment.year}"


def format_time(moment: datetime, language: Language, *, two_digit_hour: bool = False) -> str:
    """E.g. ``9.00`` (``09.00`` with ``two_digit_hour``), in English ``9:00``; ``moment`` local."""
    separator = ":" if language is Language.EN else "."
    hour = f"{moment.hour:02d}" if two_digit_hour else str(moment.hour)
    return f"{hour}{separator}{moment.minute:02d}"


def at_time(date: str, time: str, language: Language) -> str:
    """A formatted date and time joined: ``... klo 9.00``, ``... kl. 9.00``, ``..., 9:00``."""
    match language:
        case Language.FI:
            return f"{date} klo {time}"
        case Language.SV:
            return f"{date} kl. {time}"
        case Language.EN:
            return f"{date}, {time}"


def format_local_datetime(
    moment: datetime, language: Language, style: WeekdayStyle = WeekdayStyle.SHORT
) -> str:
    """E.g. ``pe 29.1.2027 klo 9.00``, ``moment`` already on the wall clock wanted."""
    return at_time(format_date(moment, language, style), format_time(moment, language), language)


def format_datetime(
    moment: datetime,
    timezone: str,
    language: Language,
    style: WeekdayStyle = WeekdayStyle.SHORT,
) -> str:
    """E.g. ``pe 29.1.2027 klo 9.00``, in ``timezone``."""
    return format_local_datetime(local(moment, timezone), language, style)


def format_local_span(
    start: datetime,
    end: datetime,
    language: Language,
    style: WeekdayStyle = WeekdayStyle.SHORT,
) -> str:
    """``format_span`` for moments already on the wall clock wanted."""
    if start.date() == end.date():
        return at_time(format_date(start, language, style), _times(start, end, language), language)
    return (
        f"{format_local_datetime(start, language, style)} {EN_DASH} "
        f"{format_local_datetime(end, language, style)}"
    )


def format_span(
    starts: datetime,
    ends: datetime,
    timezone: str,
    language: Language,
    style: WeekdayStyle = WeekdayStyle.SHORT,
) -> str:
    """E.g. ``pe 29.1.2027 klo 9.00-12.00`` (en dash); both dates when it ends another day."""
    return format_local_span(local(starts, timezone), local(ends, timezone), language, style)


def format_time_span(starts: datetime, ends: datetime, timezone: str, language: Language) -> str:
    """E.g. ``9.00-10.30`` (agenda items, with an en dash)."""
    return _times(local(starts, timezone), local(ends, timezone), language)


def _times(start: datetime, end: datetime, language: Language) -> str:
    return f"{format_time(start, language)}{EN_DASH}{format_time(end, language)}"


HELSINKI = "Europe/Helsinki"
# How a reader names the zone of an event in Finland, next to its times.
ZONE_NAMES = {
    HELSINKI: {Language.FI: "Suomen aikaa", Language.SV: "finsk tid", Language.EN: "Finnish time"},
    "UTC": {Language.FI: "UTC", Language.SV: "UTC", Language.EN: "UTC"},
}


def zone_name(timezone: str, language: Language) -> str:
    """How an event's zone is named next to its times: ``Suomen aikaa``, never ``Europe/Helsinki``.

    Finland's zone has the words people use; any other zone gets CLDR's
    location name (``Sverigetid``, ``Sweden Time``) from Babel.
    """
    known = ZONE_NAMES.get(timezone)
    if known is not None:
        return known[language]
    try:
        return str(get_timezone_location(timezone, locale=language.value))
    except LookupError:
        return timezone

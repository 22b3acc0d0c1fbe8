"""Dates and times as a Finnish, Swedish or English reader expects them, in the event's zone.

Finnish and Swedish write ``pe 29.1.2027 klo 9.00`` / ``fre 29.1.2027 kl. 9.00``
(Kielitoimisto's and Språkrådet's recommendations: a point between hours and
minutes, no leading zero); English ``Fri 29 January 2027, 9:00``. The few
names needed are here rather than in a locale database, so the result does
not depend on the machine's locales.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ilmo_shared.contracts import Language

WEEKDAYS = {
    Language.FI: ("ma", "ti", "ke", "to", "pe", "la", "su"),
    Language.SV: ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
    Language.EN: ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
HELSINKI = "Europe/Helsinki"
ZONE_NAMES = {
    HELSINKI: {Language.FI: "Suomen aikaa", Language.SV: "finsk tid", Language.EN: "Finnish time"}
}
EN_DASH = "\u2013"


def local(moment: datetime, timezone: str) -> datetime:
    """``moment`` on the wall clocks of ``timezone`` (an IANA name such as Europe/Helsinki)."""
    return moment.astimezone(ZoneInfo(timezone))


def format_date(moment: datetime, language: Language) -> str:
    weekday = WEEKDAYS[language][moment.weekday()]
    if language is Language.EN:
        return f"{weekday} {moment.day} {ENGLISH_MONTHS[moment.month - 1]} {moment.year}"
    return f"{weekday} {moment.day}.{moment.month}.{moment.year}"


def format_time(moment: datetime, language: Language) -> str:
    separator = ":" if language is Language.EN else "."
    return f"{moment.hour}{separator}{moment.minute:02d}"


def _joined(date: str, time: str, language: Language) -> str:
    match language:
        case Language.FI:
            return f"{date} klo {time}"
        case Language.SV:
            return f"{date} kl. {time}"
        case Language.EN:
            return f"{date}, {time}"


def format_datetime(moment: datetime, timezone: str, language: Language) -> str:
    """E.g. ``pe 29.1.2027 klo 9.00``, in ``timezone``."""
    at = local(moment, timezone)
    return _joined(format_date(at, language), format_time(at, language), language)


def format_span(starts: datetime, ends: datetime, timezone: str, language: Language) -> str:
    """E.g. ``pe 29.1.2027 klo 9.00-12.00`` (en dash); both dates when it ends another day."""
    start, end = local(starts, timezone), local(ends, timezone)
    if start.date() == end.date():
        times = f"{format_time(start, language)}{EN_DASH}{format_time(end, language)}"
        return _joined(format_date(start, language), times, language)
    return (
        f"{format_datetime(starts, timezone, language)} {EN_DASH} "
        f"{format_datetime(ends, timezone, language)}"
    )


def format_time_span(starts: datetime, ends: datetime, timezone: str, language: Language) -> str:
    """E.g. ``9.00-10.30`` (agenda items, with an en dash)."""
    start, end = local(starts, timezone), local(ends, timezone)
    return f"{format_time(start, language)}{EN_DASH}{format_time(end, language)}"


def zone_name(timezone: str, language: Language) -> str:
    """How the event's zone is named next to its times: ``Suomen aikaa`` or the IANA name."""
    return ZONE_NAMES.get(timezone, {}).get(language, timezone)

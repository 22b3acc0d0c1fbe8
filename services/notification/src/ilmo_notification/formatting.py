"""Dates and times in the emails: short weekdays, in the event's zone, with the zone named.

How dates and times are written (``pe 29.1.2027 klo 9.00``, Kielitoimisto's and
Språkrådet's conventions) is :mod:`ilmo_shared.localized_time`, shared with the
registration and streaming pages; the emails use its short weekday style, the
default. What is the emails' own is how the event's zone is named next to the
times (``Suomen aikaa`` rather than ``Europe/Helsinki``).
"""

from __future__ import annotations

from ilmo_shared.localized_time import (
    format_date,
    format_datetime,
    format_span,
    format_time_span,
    local,
    zone_name,
)

__all__ = [
    "format_date",
    "format_datetime",
    "format_span",
    "format_time_span",
    "local",
    "zone_name",
]

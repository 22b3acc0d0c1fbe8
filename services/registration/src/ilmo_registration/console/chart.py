"""The dashboard's chart: registrations over time, drawn on the server as SVG. No I/O.

Cumulative registrations per day in the event's time zone, on site and
remote (by the attendance each registration has now), every registration
taken counted, cancelled ones too (the figures say how many cancelled);
unconfirmed ones that expired never count. Days without registrations
between the first and the last repeat the day before, so the lines do not
jump. The geometry (``chart``) is worked out here so that the template only
writes it out; the same days are the page's data table, the chart's text
alternative.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from ilmo_event_contracts import Attendance
from ilmo_registration.listing import ListingRow


@dataclass(frozen=True)
class Day:
    day: date
    on_site: int
    remote: int

    @property
    def total(self) -> int:
        return self.on_site + self.remote


def cumulative_by_day(rows: Sequence[ListingRow], zone: tzinfo) -> list[Day]:
    """Registrations taken up to and including each day, from the first day to the last."""
    taken = [row for row in rows if not row.expired]
    if not taken:
        return []
    per_day: Counter[tuple[date, Attendance]] = Counter(
        (row.registered_at.astimezone(zone).date(), row.attendance) for row in taken
    )
    first = min(day for day, _ in per_day)
    last = max(day for day, _ in per_day)
    days, on_site, remote = [], 0, 0
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        on_site += per_day[(day, Attendance.IN_PERSON)]
        remote += per_day[(day, Attendance.REMOTE)]
        days.append(Day(day, on_site, remote))
    return days


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Where everything goes in a ``width`` by ``height`` SVG (y grows downwards)."""

    width: int
    height: int
    left: int
    bottom: float
    on_site: str  # the points of a polyline: "x,y x,y …"
    remote: str
    # Each day's point, marked too (one day draws no line): (x, y) of each series.
    on_site_marks: tuple[tuple[float, float], ...]
    remote_marks: tuple[tuple[float, float], ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten at least ``value`` (the top of the y axis)."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def tick_step(peak: int) -> int:
    """Evenly spaced whole y ticks up to ``peak`` (1, 2 or 5 times a power of ten).

    Fifths of 10, 50 or 100 and quarters of 20 or 200 (0, 5, 10, 15, 20),
    rather than quarters rounded down (0, 2, 5, 7, 10), whose labels would
    sit at uneven distances.
    """
    parts = 4 if str(peak).startswith("2") else 5
    for candidate in (parts, 2):
        if peak % candidate == 0 and peak >= candidate:
            return peak // candidate
    return peak


def chart(days: Sequence[Day], width: int = 640, height: int = 260) -> Chart:
    """The lines of ``days`` scaled to the plot, with up to six y ticks and six dates.

    Up to a month of days each day is marked as well, a circle on site and a
    square remote, so that a single day shows and the series differ by more
    than colour.
    """
    left, right, top, bottom_margin = 56, 16, 16, 40
    bottom = height - bottom_margin
    plot_width, plot_height = width - left - right, bottom - top
    peak = nice_ceiling(max((max(d.on_site, d.remote) for d in days), default=0))
    span = max(1, len(days) - 1)

    def x(n: int) -> float:
        return round(left + plot_width * (n / span if len(days) > 1 else 0.5), 1)

    def y(value: int) -> float:
        return round(bottom - plot_height * value / peak, 1)

    def marks(values: Sequence[int]) -> tuple[tuple[float, float], ...]:
        return tuple((x(n), y(value)) for n, value in enumerate(values))

    def points(values: Sequence[int]) -> str:
        return " ".join(f"{at},{height}" for at, height in marks(values))

    every = max(1, math.ceil(len(days) / 6))
    return Chart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        on_site=points([d.on_site for d in days]),
        remote=points([d.remote for d in days]),
        on_site_marks=marks([d.on_site for d in days]) if len(days) <= 31 else (),
        remote_marks=marks([d.remote for d in days]) if len(days) <= 31 else (),
        y_ticks=tuple(Tick(y(value), str(value)) for value in range(0, peak + 1, tick_step(peak))),
        x_ticks=tuple(
            Tick(x(n), f"{day.day.day}.{day.day.month}.")
            for n, day in enumerate(days)
            if n % every == 0 or n == len(days) - 1
        ),
    )

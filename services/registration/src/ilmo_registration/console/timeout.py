"""When a console session ends, seen from a page: what the timeout warning counts down to.

WCAG 2.1 SC 2.2.1 (Timing Adjustable): a person is warned before the idle
timeout signs them out and may continue with one action. Each signed-in
page carries the seconds left until the session's idle end and until its
absolute end (``static/console-timeout.js`` counts them down from when the
page arrived, so the browser's clock does not matter); the script shows the
warning ``warn_before`` ahead of the earlier of the two. Continuing moves
the idle end; nothing moves the absolute end, which the warning then names.

Pure: no clock of its own, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Below this a person has no time to read and answer the warning (SC 2.2.1: 20 seconds).
SHORTEST_WARNING = timedelta(seconds=20)


@dataclass(frozen=True)
class SessionEnds:
    """When one session ends: without use (``idle_at``) and at the latest (``absolute_at``)."""

    idle_at: datetime
    absolute_at: datetime


@dataclass(frozen=True)
class TimeLeft:
    """What a page tells its script, in whole seconds from the moment it was rendered."""

    idle_seconds: int  # until the session ends unless used: never after the absolute end
    absolute_seconds: int  # until it ends whatever happens
    idle_length_seconds: int  # how far a use moves the idle end
    warn_seconds: int  # how long before the end the warning appears
    absolute_at: datetime  # the absolute end, which the warning names when it comes first


def session_ends(
    created_at: datetime, seen_at: datetime, idle: timedelta, absolute: timedelta
) -> SessionEnds:
    """The ends of a session created at ``created_at`` and last used at ``seen_at``."""
    return SessionEnds(idle_at=seen_at + idle, absolute_at=created_at + absolute)


def time_left(
    ends: SessionEnds, now: datetime, idle: timedelta, warn_before: timedelta
) -> TimeLeft:
    """The seconds a page rendered at ``now`` counts down; never negative, rounded down."""
    absolute = _seconds(ends.absolute_at - now)
    return TimeLeft(
        idle_seconds=min(_seconds(ends.idle_at - now), absolute),
        absolute_seconds=absolute,
        idle_length_seconds=_seconds(idle),
        warn_seconds=_seconds(max(warn_before, SHORTEST_WARNING)),
        absolute_at=ends.absolute_at,
    )


def countdown(seconds: int) -> str:
    """``2 min``, ``1 min 5 s``, ``40 s``: the same abbreviations in Finnish, Swedish, English."""
    minutes, rest = divmod(max(seconds, 0), 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def _seconds(span: timedelta) -> int:
    return max(int(span.total_seconds()), 0)

"""The time, as services read it: injectable, so that tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


def to_millisecond(moment: datetime) -> datetime:
    """``moment`` cut to whole milliseconds, the precision MongoDB keeps.

    What a service uses is then exactly what it stores and reads back.
    """
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

"""How long a console session has left, as a page's timeout warning counts it (console.timeout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ilmo_registration.console.timeout import countdown, session_ends, time_left

SIGNED_IN = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=10)
WARN = timedelta(minutes=2)


def test_the_idle_end_counts_from_the_last_use() -> None:
    ends = session_ends(SIGNED_IN, SIGNED_IN + timedelta(minutes=5), IDLE, ABSOLUTE)
    left = time_left(ends, SIGNED_IN + timedelta(minutes=10), IDLE, WARN)

    assert left.idle_seconds == 25 * 60
    assert left.absolute_seconds == 9 * 3600 + 50 * 60
    assert left.idle_length_seconds == 30 * 60
    assert left.warn_seconds == 120
    assert left.absolute_at == SIGNED_IN + ABSOLUTE


def test_the_idle_end_is_never_after_the_absolute_end() -> None:
    seen = SIGNED_IN + ABSOLUTE - timedelta(minutes=10)
    left = time_left(session_ends(SIGNED_IN, seen, IDLE, ABSOLUTE), seen, IDLE, WARN)

    assert left.idle_seconds == left.absolute_seconds == 10 * 60


def test_past_the_end_nothing_is_left_rather_than_a_negative_time() -> None:
    ends = session_ends(SIGNED_IN, SIGNED_IN, IDLE, ABSOLUTE)
    left = time_left(ends, SIGNED_IN + timedelta(hours=11), IDLE, WARN)

    assert (left.idle_seconds, left.absolute_seconds) == (0, 0)


def test_the_warning_gives_at_least_twenty_seconds() -> None:
    ends = session_ends(SIGNED_IN, SIGNED_IN, IDLE, ABSOLUTE)

    assert time_left(ends, SIGNED_IN, IDLE, timedelta(seconds=5)).warn_seconds == 20
    assert time_left(ends, SIGNED_IN, IDLE, timedelta(seconds=45)).warn_seconds == 45


def test_the_countdown_reads_the_same_in_every_language() -> None:
    assert countdown(120) == "2 min"
    assert countdown(65) == "1 min 5 s"
    assert countdown(40) == "40 s"
    assert countdown(-3) == "0 s"

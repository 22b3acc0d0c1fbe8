"""The benchmark's own bookkeeping (``bench/``): percentiles, completion, report, profiles.

No I/O and no clock: the benchmark measures times, these tests never do.
"""

from __future__ import annotations

import pytest

from bench.completion import CompletionTracker, parse_message, requirements
from bench.load import people
from bench.profile import library, parse_frame, summarize_lines
from bench.report import dig, table
from bench.stats import distribution, median_figures, middle_rate, percentile, rate


def test_percentiles_interpolate_between_closest_ranks_like_numpy() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(list(reversed(values)), 99) == pytest.approx(9.91)
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_a_distribution_has_count_percentiles_and_max() -> None:
    figures = distribution([0.2, 0.1, 0.4, 0.3])
    assert figures["count"] == 4
    assert figures["max"] == 0.4
    assert figures["p50"] == pytest.approx(0.25)
    assert distribution([]) == {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}


def test_rates_need_a_time_span() -> None:
    assert rate(10, 2.0) == 5.0
    assert rate(10, 0.0) is None
    assert rate(10, None) is None


def test_the_middle_rate_ignores_the_ramp_and_the_tail() -> None:
    # 100 completions one per second, then a straggler 1000 s later.
    times = [float(t) for t in range(100)] + [1100.0]
    assert middle_rate(times) == pytest.approx(1.0)
    assert middle_rate([1.0, 2.0]) is None


def test_medians_are_taken_per_figure_through_nested_mappings() -> None:
    runs = [
        {"a": 1, "nested": {"x": 10.0, "y": None}, "text": "one", "flag": True},
        {"a": 3, "nested": {"x": 30.0, "y": 2.0}, "text": "two", "flag": False},
        {"a": 2, "nested": {"x": 20.0}, "extra": 7},
    ]
    assert median_figures(runs) == {"a": 2.0, "nested": {"x": 20.0, "y": 2.0}, "extra": 7.0}


# ------------------------------------------------------------------ completion

REMOTE_ID = "11111111-1111-1111-1111-111111111111"
SEATED_ID = "22222222-2222-2222-2222-222222222222"
WAITING_ID = "33333333-3333-3333-3333-333333333333"


def test_what_each_kind_of_registration_is_owed() -> None:
    assert requirements("remote", None) == (
        {"registration.accepted", "stream.link.provisioned"},
        {"registration_received", "stream_link"},
    )
    assert requirements("in_person", None) is None
    assert requirements("in_person", "seat.reserved") == (
        {"registration.accepted", "seat.reserved"},
        {"registration_received", "seat_confirmed"},
    )
    events, mails = requirements("in_person", "seat.waitlisted") or (set(), set())
    assert "stream.link.provisioned" in events
    assert mails == {"registration_received", "waitlisted", "stream_link"}


def test_a_confirmed_registration_owes_the_confirmation_mail_instead_of_the_receipt() -> None:
    assert requirements("remote", None, "confirm_address") == (
        {"registration.accepted", "stream.link.provisioned"},
        {"confirm_address", "stream_link"},
    )
    tracker = CompletionTracker(first_mail="confirm_address")
    tracker.on_mail(1.0, REMOTE_ID, "confirm_address")
    tracker.on_message(5.0, "registration.accepted", REMOTE_ID, "remote")
    tracker.on_message(6.0, "stream.link.provisioned", REMOTE_ID)
    assert tracker.completed_at(REMOTE_ID) is None
    tracker.on_mail(7.0, REMOTE_ID, "stream_link")
    assert tracker.completed_at(REMOTE_ID) == 7.0


def test_a_remote_registration_completes_at_its_last_fact_in_any_order() -> None:
    tracker = CompletionTracker()
    tracker.on_mail(5.0, REMOTE_ID, "stream_link")
    tracker.on_message(1.0, "registration.accepted", REMOTE_ID, "remote")
    tracker.on_message(3.0, "stream.link.provisioned", REMOTE_ID)
    assert tracker.completed_at(REMOTE_ID) is None
    assert tracker.missing(REMOTE_ID) == ["mail:registration_received"]
    tracker.on_mail(4.0, REMOTE_ID, "registration_received")
    assert tracker.completed_at(REMOTE_ID) == 5.0
    assert tracker.completed == 1
    # Repeats (redeliveries, resends) change nothing.
    tracker.on_mail(9.0, REMOTE_ID, "stream_link")
    tracker.on_message(9.0, "stream.link.provisioned", REMOTE_ID)
    assert tracker.completed_at(REMOTE_ID) == 5.0
    assert tracker.completed == 1
    assert tracker.messages["stream.link.provisioned"] == 2


def test_an_in_person_registration_needs_its_seat_decision_first() -> None:
    tracker = CompletionTracker()
    tracker.on_message(1.0, "registration.accepted", SEATED_ID, "in_person")
    tracker.on_mail(2.0, SEATED_ID, "registration_received")
    assert tracker.missing(SEATED_ID) == ["seat decision"]
    tracker.on_message(3.0, "seat.reserved", SEATED_ID)
    tracker.on_mail(4.0, SEATED_ID, "seat_confirmed")
    assert tracker.completed_at(SEATED_ID) == 4.0


def test_a_waitlisted_registration_also_needs_its_stream_link() -> None:
    tracker = CompletionTracker()
    tracker.on_message(1.0, "registration.accepted", WAITING_ID, "in_person")
    tracker.on_message(2.0, "seat.waitlisted", WAITING_ID)
    for at, kind in ((2.5, "registration_received"), (3.0, "waitlisted")):
        tracker.on_mail(at, WAITING_ID, kind)
    assert tracker.completed_at(WAITING_ID) is None
    assert tracker.missing(WAITING_ID) == ["stream.link.provisioned", "mail:stream_link"]
    tracker.on_message(6.0, "stream.link.provisioned", WAITING_ID)
    tracker.on_mail(7.0, WAITING_ID, "stream_link")
    assert tracker.completed_at(WAITING_ID) == 7.0
    # A later promotion does not change the first decision's needs.
    tracker.on_message(8.0, "seat.reserved", WAITING_ID)
    assert tracker.completed_at(WAITING_ID) == 7.0


def test_stages_measure_each_fact_from_the_post() -> None:
    tracker = CompletionTracker()
    tracker.on_message(1.5, "registration.accepted", SEATED_ID, "in_person")
    tracker.on_message(3.0, "seat.reserved", SEATED_ID)
    tracker.on_mail(4.0, SEATED_ID, "seat_confirmed")
    stages = tracker.stages({SEATED_ID: 1.0, "unknown": 0.0})
    assert stages == {
        "event:registration.accepted": [0.5],
        "event:seat decision": [2.0],
        "mail:seat_confirmed": [3.0],
    }


def test_messages_without_a_registration_are_counted_only() -> None:
    tracker = CompletionTracker()
    tracker.on_message(1.0, "event.published", None)
    tracker.on_mail(2.0, None, None)
    assert tracker.messages["event.published"] == 1
    assert tracker.mails["?"] == 1
    assert tracker.registrations == {}
    assert tracker.first_message_at == tracker.last_message_at == 1.0


def test_event_bodies_give_the_registration_and_attendance() -> None:
    body = b'{"registration_id": "abc", "event_id": "e", "attendance": "remote"}'
    assert parse_message(body) == ("abc", "remote")
    assert parse_message(b'{"event_id": "e"}') == (None, None)
    assert parse_message(b"not json") == (None, None)
    assert parse_message(b"[1, 2]") == (None, None)


# ------------------------------------------------------------------ load plan


def test_the_load_plan_is_the_same_for_the_same_seed_with_unique_emails() -> None:
    first = people(1000, remote_share=0.7, seed=3, tag="t", notice_version="0123456789abcdef")
    assert first == people(
        1000, remote_share=0.7, seed=3, tag="t", notice_version="0123456789abcdef"
    )
    assert len({body["email"] for _, body in first}) == 1000
    remote = sum(attendance == "remote" for attendance, _ in first)
    assert 600 < remote < 800
    assert all(body["attendance"] == attendance for attendance, body in first)
    assert {body["privacy_notice_version"] for _, body in first} == {"0123456789abcdef"}


# ------------------------------------------------------------------ report


def test_the_table_has_a_column_per_run_and_the_median() -> None:
    runs = [
        {"registrations": 10, "http": {"accepted_per_s": 5.0, "latency": {"p99": 0.0125}}},
        {"registrations": 10, "http": {"accepted_per_s": 7.0, "latency": {"p99": 0.0175}}},
    ]
    text = table(runs, median_figures(runs))
    lines = text.splitlines()
    assert lines[0] == "| figure | run 1 | run 2 | median |"
    assert "| accepted registrations/s at the API | 5.0 | 7.0 | 6.0 |" in lines
    assert "| POST latency p99 (ms) | 12.5 | 17.5 | 15.0 |" in lines
    # Figures no run has are left out.
    assert not any("mails received" in line for line in lines)
    assert dig(runs[0], "http.latency.p99") == 0.0125
    assert dig(runs[0], "http.missing.p99") is None
    stages = {"stages": {"event:registration.accepted": {"p50": 1.0}}}
    assert dig(stages, "stages.event:registration.accepted.p50") == 1.0


# ------------------------------------------------------------------ profiles


def test_py_spy_frames_and_libraries() -> None:
    assert parse_frame("send (aiosmtplib/smtp.py:123)") == ("send", "aiosmtplib/smtp.py")
    assert parse_frame("<module> (ilmo_notification/main.py)") == (
        "<module>",
        "ilmo_notification/main.py",
    )
    assert library("pymongo/asynchronous/pool.py") == "pymongo"
    assert library("asyncio/base_events.py") == "asyncio"
    assert library("selectors.py") == "stdlib:selectors"
    assert library("") == "?"


def test_collapsed_stacks_give_self_and_inclusive_shares() -> None:
    lines = [
        "run (asyncio/base_events.py:1);handle (ilmo_x/h.py:2);find (pymongo/c.py:3) 6",
        "run (asyncio/base_events.py:1);handle (ilmo_x/h.py:2) 3",
        "run (asyncio/base_events.py:1);dumps (json/__init__.py:4) 1",
        "garbage",
        "run (asyncio/base_events.py:1);EpollSelector.select (selectors.py:468) 90",
    ]
    summary = summarize_lines(lines)
    assert summary.samples == 10
    assert summary.waiting == 90
    assert summary.self_time["find (pymongo/c.py)"] == 6
    assert summary.self_time["handle (ilmo_x/h.py)"] == 3
    assert summary.inclusive["handle (ilmo_x/h.py)"] == 9
    assert summary.inclusive["run (asyncio/base_events.py)"] == 10
    assert summary.libraries == {"pymongo": 6, "ilmo_x": 3, "json": 1}

"""The pure parts of the metrics of issue 17: labels, backlog bookkeeping, the oversold rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from ilmo_capacity.domain import EventTerms, SeatInventory, seats_granted_beyond_capacity
from ilmo_capacity.seat_gauges import SeatGauges, is_over
from ilmo_event_contracts import Attendance
from ilmo_notification.waiting import waiting_age
from ilmo_shared.http.metrics import HttpMetricsMiddleware, status_class
from ilmo_shared.outbox_backlog import OutboxBacklog

# ---------------------------------------------------------------- HTTP


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (303, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (0, "5xx"),
        (700, "5xx"),
    ],
)
def test_a_status_counts_as_its_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


def counted(handler: str, method: str, status: str) -> float:
    labels = {"handler": handler, "method": method, "status": status}
    return REGISTRY.get_sample_value("ilmo_http_requests_total", labels) or 0.0


async def test_requests_are_labelled_by_route_template_method_and_status_class() -> None:
    app = FastAPI()
    prefix = f"/t{uuid.uuid4().hex[:8]}"

    @app.get(prefix + "/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "broken":
            raise RuntimeError("boom")
        return {"id": thing_id}

    app.add_middleware(HttpMetricsMiddleware)
    template = prefix + "/things/{thing_id}"
    before_ok = counted(template, "GET", "2xx")
    before_error = counted(template, "GET", "5xx")
    before_unmatched = counted("unmatched", "GET", "4xx")
    before_other = counted(template, "OTHER", "4xx")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(f"{prefix}/things/1")).status_code == 200
        assert (await client.get(f"{prefix}/things/2")).status_code == 200
        assert (await client.get(f"{prefix}/things/broken")).status_code == 500
        assert (await client.get(f"{prefix}/nothing/here")).status_code == 404
        assert (await client.request("BREW", f"{prefix}/things/1")).status_code == 405

    assert counted(template, "GET", "2xx") == before_ok + 2
    assert counted(template, "GET", "5xx") == before_error + 1
    assert counted("unmatched", "GET", "4xx") == before_unmatched + 1
    assert counted(template, "OTHER", "4xx") == before_other + 1
    duration = REGISTRY.get_sample_value(
        "ilmo_http_request_duration_seconds_count", {"handler": template, "method": "GET"}
    )
    assert duration == 3


# ---------------------------------------------------------------- outbox


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(at: datetime) -> dict[str, object]:
    return {"envelope": {"time": at.isoformat()}, "data": "{}"}


def test_the_backlog_counts_entries_read_until_published_and_ages_while_stuck() -> None:
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    clock = Clock(start.timestamp() + 30)
    backlog = OutboxBacklog(f"unit_{uuid.uuid4().hex[:6]}", clock)
    assert (backlog.pending(), backlog.oldest_age()) == (0, 0)

    backlog.seen([{"_id": "a", "outbox": [entry(start), entry(start + timedelta(seconds=10))]}])
    backlog.seen([{"_id": "b", "outbox": [entry(start + timedelta(seconds=20))]}])
    assert backlog.pending() == 3
    assert backlog.oldest_age() == 30
    clock.now += 60  # nothing published meanwhile: the age grows between passes
    assert backlog.oldest_age() == 90

    backlog.published([{"_id": "a"}])
    assert (backlog.pending(), backlog.oldest_age()) == (1, 70)
    # A sweep that finds nothing pending: whatever was left is gone.
    backlog.seen([], whole=True)
    assert (backlog.pending(), backlog.oldest_age()) == (0, 0)


def test_a_document_read_again_without_entries_leaves_the_backlog() -> None:
    backlog = OutboxBacklog(f"unit_{uuid.uuid4().hex[:6]}", Clock(1000.0))
    backlog.seen([{"_id": "a", "outbox": [{"envelope": {}}]}])  # no time: counted as seen now
    assert (backlog.pending(), backlog.oldest_age()) == (1, 0)
    backlog.seen([{"_id": "a", "outbox": []}])
    assert backlog.pending() == 0


# ---------------------------------------------------------------- seats


def inventory(capacity: int, holders: int, waiting: int = 0) -> SeatInventory:
    return SeatInventory(
        "e",
        capacity=capacity,
        holders=[f"h{i}" for i in range(holders)],
        waiting=[f"w{i}" for i in range(waiting)],
    )


def test_seats_granted_within_the_capacity_are_not_oversold() -> None:
    seats = inventory(capacity=2, holders=1)
    before = list(seats.holders)
    seats.request_seat("new")
    assert seats_granted_beyond_capacity(before, seats) == 0


def test_lowering_the_capacity_below_the_holders_is_not_overselling() -> None:
    seats = inventory(capacity=5, holders=5, waiting=1)
    before = list(seats.holders)
    seats.apply_terms(EventTerms(capacity=3, revision=1))
    assert seats.over_capacity == 2
    assert seats_granted_beyond_capacity(before, seats) == 0
    # Nor is a switch back to in person of a holder while over capacity.
    before = list(seats.holders)
    seats.switch("h0", Attendance.IN_PERSON, 2)
    assert seats_granted_beyond_capacity(before, seats) == 0


def test_a_seat_granted_while_all_seats_are_held_is_oversold() -> None:
    # A state the rule never makes: a holder added to a full event.
    before = inventory(capacity=2, holders=2)
    after = inventory(capacity=2, holders=3)
    assert seats_granted_beyond_capacity(before.holders, after) == 1
    # Lowered to 1 with three holders; one leaves and the seat goes to the
    # next in line although two are still held: oversold.
    lowered = inventory(capacity=1, holders=3)
    promoted = SeatInventory("e", capacity=1, holders=["h0", "h1", "next"])
    assert seats_granted_beyond_capacity(lowered.holders, promoted) == 1


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def figure(name: str, event: str) -> float | None:
    return REGISTRY.get_sample_value(f"ilmo_event_{name}", {"event": event})


def test_seat_gauges_show_each_event_ahead_and_drop_it_a_day_after_its_start() -> None:
    now = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    clock = MovableClock(now)
    gauges = SeatGauges(clock)
    event = f"e-{uuid.uuid4().hex[:8]}"
    seats = SeatInventory(
        event, capacity=3, holders=["a", "b"], waiting=[], starts_at=now + timedelta(hours=2)
    )
    gauges.show(seats)
    assert (figure("seat_capacity", event), figure("seats_taken", event)) == (3, 2)
    assert figure("seats_oversold", event) == 0
    gauges.show(seats, oversold=1)
    gauges.show(seats, oversold=0)
    assert figure("seats_oversold", event) == 1  # it adds up, it is not forgotten

    clock.now = now + timedelta(hours=20)
    gauges.forget_over()
    assert event in gauges.events
    clock.now = now + timedelta(hours=26, minutes=1)
    gauges.forget_over()
    assert event not in gauges.events
    assert figure("seat_capacity", event) is None
    assert figure("seats_oversold", event) is None


def test_an_event_is_over_when_cancelled_or_a_day_after_its_start() -> None:
    now = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    assert not is_over(SeatInventory("e", capacity=1), now)
    assert is_over(SeatInventory("e", capacity=1, event_cancelled=True), now)
    assert not is_over(SeatInventory("e", capacity=1, starts_at=now - timedelta(hours=23)), now)
    assert is_over(SeatInventory("e", capacity=1, starts_at=now - timedelta(hours=24)), now)


# ---------------------------------------------------------------- mails


def test_the_waiting_age_is_zero_without_mails_and_works_with_naive_times() -> None:
    now = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    assert waiting_age(None, now) == 0
    assert waiting_age(now - timedelta(minutes=16), now) == 16 * 60
    assert waiting_age((now - timedelta(minutes=1)).replace(tzinfo=None), now) == 60
    assert waiting_age(now + timedelta(seconds=5), now) == 0

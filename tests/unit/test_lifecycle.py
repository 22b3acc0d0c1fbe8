"""The pure parts of a service's lifecycle: backoff, readiness, broker nodes."""

from __future__ import annotations

import asyncio

import pytest
from faststream.rabbit import RabbitBroker

from ilmo_shared.backoff import Backoff
from ilmo_shared.lifecycle import (
    Dependency,
    Phase,
    Ping,
    Readiness,
    node_name,
    point_broker_at,
)


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(initial=0.2, cap=5.0, jitter=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 0.2


def test_backoff_stays_at_its_cap_through_an_outage_of_any_length() -> None:
    backoff = Backoff(initial=0.2, cap=5.0, jitter=lambda: 1.0)
    waits = [backoff.next_delay() for _ in range(5000)]  # past 2**1024, a float's limit
    assert waits[-1] == 5.0


def test_backoff_jitter_spreads_each_wait_within_the_upper_half_of_its_step() -> None:
    waits = [Backoff(initial=1.0, cap=1.0).next_delay() for _ in range(200)]
    assert all(0.5 <= wait <= 1.0 for wait in waits)
    assert len(set(waits)) > 100  # spread, not in step


@pytest.mark.parametrize(
    ("phase", "broker", "database", "status", "code"),
    [
        (Phase.WAITING, False, True, "starting", 503),
        (Phase.WAITING, True, True, "starting", 503),
        (Phase.RUNNING, True, True, "ok", 200),
        (Phase.RUNNING, True, False, "unavailable", 503),
        (Phase.STOPPING, True, True, "unavailable", 503),
    ],
)
def test_readiness_is_ok_only_while_running_with_both_dependencies(
    phase: Phase, broker: bool, database: bool, status: str, code: int
) -> None:
    readiness = Readiness(phase, {Dependency.BROKER: broker, Dependency.DATABASE: database})
    assert (200 if readiness.ready else 503) == code
    body = readiness.body()
    assert body["status"] == status
    assert body["phase"] == phase.value
    assert body["checks"] == {
        "broker": "ok" if broker else "failing",
        "database": "ok" if database else "failing",
    }


def test_a_dependency_not_tried_yet_is_connecting_not_failing() -> None:
    readiness = Readiness(Phase.WAITING, {Dependency.BROKER: None, Dependency.DATABASE: False})
    assert not readiness.ready
    assert readiness.body()["checks"] == {"broker": "connecting", "database": "failing"}


def test_a_node_is_named_without_its_credentials() -> None:
    assert node_name("amqp://ilmo:s3cret@rabbit-1.example:5672/ilmo") == "rabbit-1.example:5672"
    assert node_name("amqps://ilmo:s3cret@rabbit-2/") == "rabbit-2:5671"


def test_the_broker_connects_to_the_node_it_is_pointed_at() -> None:
    # The one place that reaches into FastStream: fails if it stops keeping the URL there.
    broker = RabbitBroker("amqp://guest:guest@node-a:5672/", logger=None)
    assert broker._connection_kwargs["url"].startswith("amqp://guest:guest@node-a:5672/")
    point_broker_at(broker, "amqp://guest:guest@node-b:5672/")
    assert broker._connection_kwargs["url"] == "amqp://guest:guest@node-b:5672/"


async def test_a_ping_that_will_not_let_go_counts_as_down_at_once_and_is_not_repeated() -> None:
    """The watch loop never waits on a driver operation that is slow to cancel."""
    release, ended = asyncio.Event(), asyncio.Event()
    started = 0

    async def stubborn() -> None:
        nonlocal started
        started += 1
        while True:
            try:
                await release.wait()
                break
            except asyncio.CancelledError:
                continue  # as PyMongo's lock re-acquisition does
        ended.set()

    ping = Ping(stubborn, timeout=0.01)
    assert not await asyncio.wait_for(ping.answered(), timeout=5)
    assert not await asyncio.wait_for(ping.answered(), timeout=5)
    assert started == 1  # no second ping while the first has not ended
    release.set()
    await asyncio.wait_for(ended.wait(), timeout=5)
    await asyncio.sleep(0)  # the task finishes after its body
    assert await ping.answered()  # a new ping, which answers
    assert started == 2


async def test_a_ping_that_answers_or_fails_says_so() -> None:
    async def answers() -> None:
        return None

    async def refuses() -> None:
        raise ConnectionRefusedError

    assert await Ping(answers, timeout=1).answered()
    assert not await Ping(refuses, timeout=1).answered()

"""The example subscriber's reconnection policy, without a broker.

Its backoff spreads and caps the waits, and survives an outage of days; and
its loop tells the errors it retries (the broker is away) from the ones it
stops on (the broker refuses the credentials). The reconnection itself runs
against the real broker in ``tests/integration/test_catch_up.py``.
"""

from __future__ import annotations

from typing import Any

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError, ProbableAuthenticationError

from examples.subscriber import Backoff, Reading, Subscription


def test_backoff_doubles_up_to_its_cap_and_starts_over_once_subscribed() -> None:
    backoff = Backoff(first=0.5, cap=30.0, jitter=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_draws_each_wait_from_the_upper_half_of_its_step() -> None:
    waits = [Backoff(first=2.0, cap=2.0).next_delay() for _ in range(200)]
    assert all(1.0 <= wait <= 2.0 for wait in waits)
    assert len(set(waits)) > 100  # spread, not in step


def test_backoff_stays_at_its_cap_through_an_outage_of_days() -> None:
    backoff = Backoff(first=0.5, cap=30.0, jitter=lambda: 1.0)
    waits = [backoff.next_delay() for _ in range(20_000)]  # a week of 30 s waits
    assert waits[-1] == 30.0


async def test_the_loop_retries_an_unreachable_broker_and_stops_on_refused_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[BaseException] = [
        AMQPConnectionError(111, "Connect call failed"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        ProbableAuthenticationError("ACCESS_REFUSED"),
    ]

    async def connect(url: str, **_: Any) -> None:
        raise answers.pop(0)

    async def declare(_channel: object) -> Reading:
        raise AssertionError("never connected")

    async def deliver(_message: object) -> None:
        raise AssertionError("never consumed")

    monkeypatch.setattr(aio_pika, "connect", connect)
    subscription = Subscription(
        "amqp://integrator@broker/ilmo",
        declare,
        deliver,
        prefetch=1,
        backoff=Backoff(first=0.0, jitter=lambda: 1.0),
    )
    with pytest.raises(ProbableAuthenticationError):
        await subscription.run()
    assert answers == []
    assert (subscription.subscribed, subscription.lost) == (0, 0)

"""The catch-up stream and the example subscriber, against the real broker.

An integrator that was away reads every event of the last days from the
stream, from the start, from an offset it stored, or from a time; and the
example subscriber in ``examples/subscriber.py`` does so as documented. Its
live ``follow`` stays subscribed when its connection is cut: it connects,
declares and consumes again by itself, and what came meanwhile is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from faststream.rabbit import RabbitBroker

from examples.subscriber import Received, catch_up, follow
from ilmo_event_contracts import Envelope
from ilmo_event_contracts.integration import EventWithdrawn
from ilmo_shared.messaging.catch_up import CatchUpStream
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTEGRATION_EXCHANGE
from tests.support.amqp import declare_integration_exchange
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.producers import counting_publisher
from tests.support.proxy import relay_to, server_of, through


@pytest.fixture
async def broker(infrastructure: IsolatedInfrastructure) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    await broker.connect()
    await CatchUpStream().declare(broker)
    yield broker
    await broker.stop()


def _envelope(subject: str) -> Envelope:
    """An envelope for an integration event about the catalogue event ``subject``."""
    return Envelope.new(
        source="ilmo/test",
        type=EventWithdrawn.event_type,
        subject=subject,
        dataschema=EventWithdrawn.dataschema(),
    )


def _body(envelope: Envelope) -> bytes:
    return EventWithdrawn(event_id=envelope.subject or "", revision=2).model_dump_json().encode()


async def _publish(broker: RabbitBroker, *envelopes: Envelope) -> None:
    publisher = EventPublisher(broker)
    for envelope in envelopes:
        await publisher.publish(envelope, _body(envelope), exchange=INTEGRATION_EXCHANGE)


@contextlib.asynccontextmanager
async def reading(
    infrastructure: IsolatedInfrastructure, start: str | int | datetime
) -> AsyncIterator[list[Received]]:
    """The example subscriber reading the stream from ``start``, into a list, in the background.

    It reads as an outside system does: as an integrator user, who may read
    the stream and write to nothing of Ilmo's.
    """
    received: list[Received] = []
    url = infrastructure.integrator("catch-up")

    async def keep(event: Received) -> None:
        received.append(event)

    task = asyncio.create_task(catch_up(url, start, keep))
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _subjects(received: list[Received], run: str) -> list[str]:
    return [
        r.envelope.subject or "" for r in received if (r.envelope.subject or "").startswith(run)
    ]


async def test_a_late_reader_gets_every_event_from_the_start_from_an_offset_and_from_a_time(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker
) -> None:
    run = uuid.uuid4().hex[:8]
    early = [_envelope(f"{run}-early-{n}") for n in range(3)]
    await _publish(broker, *early)
    between = datetime.now(UTC)
    late = [_envelope(f"{run}-late-{n}") for n in range(3)]
    await _publish(broker, *late)
    everything = [e.subject for e in (*early, *late)]

    # Published before anyone read: all of it, in order, from the start.
    async with reading(infrastructure, "first") as received:
        await eventually(
            lambda: _done(received, run, 6), what="six events from the start of the stream"
        )
    assert _subjects(received, run) == everything
    ours = [r for r in received if (r.envelope.subject or "").startswith(run)]
    assert all(isinstance(r.event, EventWithdrawn) for r in ours)
    second = next(r for r in received if r.envelope.subject == everything[1])
    assert second.stream_offset is not None

    # From an offset the reader stored: exactly from that event on.
    async with reading(infrastructure, second.stream_offset) as from_offset:
        await eventually(lambda: _done(from_offset, run, 5), what="five events from the offset")
    assert _subjects(from_offset, run) == everything[1:]

    # From a time: everything published since. (A stream is read from the
    # chunk that holds that time, so an event just before it may come too.)
    async with reading(infrastructure, between) as since:
        await eventually(
            lambda: _done(since, run, 3, last=everything[-1]), what="the three later events"
        )
    assert _subjects(since, run)[-3:] == everything[3:]


async def test_the_example_subscriber_handles_a_redelivered_event_once(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker
) -> None:
    run = uuid.uuid4().hex[:8]
    twice = _envelope(f"{run}-twice")
    marker = _envelope(f"{run}-marker")
    await _publish(broker, twice, twice, marker)

    async with reading(infrastructure, "first") as received:
        await eventually(
            lambda: _done(received, run, 1, last=marker.subject), what="the marker after"
        )
    assert _subjects(received, run) == [twice.subject, marker.subject]


async def test_follow_subscribes_again_after_its_connection_is_cut_and_handles_what_came_once(
    infrastructure: IsolatedInfrastructure, caplog: pytest.LogCaptureFixture
) -> None:
    """Through a relay the test takes down, as a broker crash or a network cut would."""
    caplog.set_level(logging.INFO, logger="examples.subscriber")
    await declare_integration_exchange(infrastructure.amqp_url)
    run = uuid.uuid4().hex[:8]
    before, meanwhile, after = (_envelope(f"{run}-{when}") for when in ("before", "cut", "after"))
    url = infrastructure.integrator("follow")
    queue = infrastructure.integrator_queue("follow", "events")
    received: list[Received] = []

    async def keep(event: Received) -> None:
        received.append(event)

    def handled(envelope: Envelope) -> Callable[[], Awaitable[bool]]:
        return lambda: _done(received, run, 1, last=envelope.subject)

    with relay_to(*server_of(url)) as relay:
        task = asyncio.create_task(follow(through(url, relay), queue, ["event.*"], keep))
        try:
            async with counting_publisher(infrastructure) as owner:  # registration's user
                await eventually(_said(caplog, "subscribed"), what="the first subscription")
                await owner.publish(before, _body(before), exchange=INTEGRATION_EXCHANGE)
                await eventually(handled(before), what="the event before the cut")

                relay.down()
                await eventually(_said(caplog, "connection lost"), what="the loss noticed")
                await owner.publish(meanwhile, _body(meanwhile), exchange=INTEGRATION_EXCHANGE)
                # It keeps trying while the relay refuses connections.
                await eventually(_said(caplog, "could not subscribe"), what="a refused attempt")

                relay.up()
                await eventually(_said(caplog, "subscribed again"), what="a new subscription")
                await owner.publish(after, _body(after), exchange=INTEGRATION_EXCHANGE)
                await eventually(handled(after), what="the event after the cut")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    handled_subjects = Counter(_subjects(received, run))
    assert handled_subjects == {e.subject: 1 for e in (before, meanwhile, after)}


def _said(caplog: pytest.LogCaptureFixture, start: str) -> Callable[[], Awaitable[bool]]:
    """Whether the subscriber logged a line beginning with ``start`` (``subscribed`` exactly)."""

    async def check() -> bool:
        lines = [record.getMessage() for record in caplog.records]
        if start == "subscribed":
            return start in lines
        return any(line.startswith(start) for line in lines)

    return check


async def _done(received: list[Received], run: str, count: int, last: str | None = None) -> bool:
    subjects = _subjects(received, run)
    if last is not None:
        return last in subjects
    return len(subjects) >= count

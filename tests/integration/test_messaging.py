"""Publisher and subscription helpers against the real broker."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import anyio.to_thread
import pytest
from faststream.rabbit import RabbitBroker

from ilmo_event_contracts import Attendance, Envelope, Language, RegistrationAccepted
from ilmo_shared.logging import correlation_scope, current_correlation_id
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.subscription import (
    ORIGINAL_ROUTING_KEY_HEADER,
    REASON_HEADER,
    Subscription,
)
from ilmo_shared.messaging.topology import DELIVERY_LIMIT, RedeliveryPolicy, retry_queue_name
from ilmo_shared.outbox import outbox_entry
from tests.support.amqp import amqp_connection, drain, event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.settling import finished


def accepted(**changes: object) -> RegistrationAccepted:
    values: dict[str, object] = {
        "registration_id": uuid.uuid4(),
        "event_id": "seminar-2026",
        "attendance": Attendance.REMOTE,
        "language": Language.SV,
        "first_name": "Åsa",
        "last_name": "Öhman",
        "email": "asa.ohman@example.fi",
        "registered_at": datetime.now(UTC),
    }
    values.update(changes)
    return RegistrationAccepted.model_validate(values)


def envelope_for(event: RegistrationAccepted) -> Envelope:
    entry = outbox_entry(event, source="ilmo/test")
    return Envelope.model_validate(entry["envelope"])


@pytest.fixture
async def broker(infrastructure: IsolatedInfrastructure) -> AsyncIterator[RabbitBroker]:
    """The consuming side: a made-up service's queues, as the administrator."""
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    yield broker
    await broker.stop()


@pytest.fixture
async def producer(infrastructure: IsolatedInfrastructure) -> AsyncIterator[EventPublisher]:
    """Publishes as registration, the owner of ``registration.*``."""
    broker = RabbitBroker(infrastructure.amqp_url_as("registration"), logger=None)
    await broker.connect()
    yield EventPublisher(broker)
    await broker.stop()


def unique_service() -> str:
    return f"svc{uuid.uuid4().hex[:6]}"


async def test_published_events_carry_the_envelope_and_are_persistent(
    infrastructure: IsolatedInfrastructure, producer: EventPublisher
) -> None:
    event = accepted()
    async with event_tap(infrastructure.amqp_url, "registration.*") as tap:
        with correlation_scope("corr-123"):
            envelope = envelope_for(event)
        await producer.publish(envelope, event.model_dump_json().encode())
        [seen] = await tap.wait_for(1)
    # Who published it, as RabbitMQ verified: the connection's user.
    assert seen.user_id == infrastructure.owners.user_of("registration")
    assert seen.routing_key == "registration.accepted"
    assert seen.delivery_mode == 2  # persistent
    assert seen.message_id == envelope.id
    assert seen.content_type == "application/json"
    assert seen.correlation_id == "corr-123"
    for attribute in ("id", "source", "type", "specversion", "time", "subject", "datacontenttype"):
        assert f"cloudEvents:{attribute}" in seen.headers, attribute
    assert seen.headers["cloudEvents:subject"] == str(event.registration_id)
    assert seen.headers["cloudEvents:correlationid"] == "corr-123"
    assert RegistrationAccepted.model_validate_json(seen.body) == event


async def test_an_event_published_before_any_consumer_runs_is_not_lost(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker, producer: EventPublisher
) -> None:
    service = unique_service()
    received: list[tuple[RegistrationAccepted, Envelope, str | None]] = []
    done = asyncio.Event()

    async def handle(event: RegistrationAccepted, envelope: Envelope) -> None:
        received.append((event, envelope, current_correlation_id()))
        done.set()

    subscription = Subscription(service, "registrations").on(RegistrationAccepted, handle)
    await broker.connect()
    await subscription.declare(broker)  # durable queue exists, nobody consumes yet

    event = accepted()
    with correlation_scope("before-consumer"):
        envelope = envelope_for(event)
    await producer.publish(envelope, event.model_dump_json().encode())
    await broker.stop()

    consumer = RabbitBroker(infrastructure.amqp_url, logger=None)
    subscription.attach(consumer, prefetch=10, owners=infrastructure.owners)
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
    finally:
        await consumer.stop()
    [(got, got_envelope, correlation)] = received
    assert got == event
    assert got_envelope.id == envelope.id
    assert correlation == "before-consumer"


async def test_queues_are_durable_quorum_queues_with_a_delivery_limit_and_dead_lettering(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker
) -> None:
    service = unique_service()

    async def ignore(_event: RegistrationAccepted, _envelope: Envelope) -> None:
        return None

    await broker.connect()
    await Subscription(service, "registrations").on(RegistrationAccepted, ignore).declare(broker)
    with infrastructure.management() as api:
        vhost = infrastructure.vhost
        queue = api.get(f"/api/queues/{vhost}/{service}.registrations").json()
        bindings = api.get(f"/api/queues/{vhost}/{service}.registrations/bindings").json()
        dead_letters = api.get(f"/api/queues/{vhost}/{service}.dead-letter").json()
    assert queue["durable"] is True
    assert queue["arguments"]["x-queue-type"] == "quorum"
    assert queue["arguments"]["x-delivery-limit"] == DELIVERY_LIMIT
    assert queue["arguments"]["x-dead-letter-exchange"] == "ilmo.dead-letter"
    assert queue["arguments"]["x-dead-letter-strategy"] == "at-least-once"
    assert {(b["source"], b["routing_key"]) for b in bindings if b["source"]} == {
        ("ilmo.internal", "registration.accepted")
    }
    assert dead_letters["arguments"]["x-queue-type"] == "quorum"


async def test_unreadable_messages_are_dead_lettered_with_a_reason_and_do_not_block_the_queue(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker, producer: EventPublisher
) -> None:
    service = unique_service()
    handled: list[RegistrationAccepted] = []
    done = asyncio.Event()

    async def handle(event: RegistrationAccepted, _envelope: Envelope) -> None:
        handled.append(event)
        done.set()

    subscription = Subscription(service, "registrations").on(RegistrationAccepted, handle)
    subscription.attach(broker, prefetch=10, owners=infrastructure.owners)
    await broker.start()
    await subscription.declare(broker)

    good = accepted()
    async with amqp_connection(infrastructure.amqp_url_as("registration")) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("ilmo.internal")
        valid_headers = envelope_for(good).to_headers()
        registration = infrastructure.owners.user_of("registration")
        for headers, body in [
            ({}, b"{}"),  # no envelope at all
            (valid_headers, b"not json"),
            (valid_headers, b'{"registration_id": "not-a-uuid"}'),
        ]:
            await exchange.publish(
                aio_pika.Message(body, headers=headers, user_id=registration),
                routing_key="registration.accepted",
            )
        await producer.publish(envelope_for(good), good.model_dump_json().encode())

    await asyncio.wait_for(done.wait(), timeout=20)
    assert handled == [good]
    parked = await drain(infrastructure.amqp_url, f"{service}.dead-letter", expect=3)
    reasons = [message.headers[REASON_HEADER] for message in parked]
    assert "no headers" in reasons[0]
    assert "body does not match registration.accepted" in reasons[1]
    assert "registration_id" in reasons[2]
    assert all(m.headers[ORIGINAL_ROUTING_KEY_HEADER] == "registration.accepted" for m in parked)


async def test_a_failing_handler_is_retried_with_growing_delays_then_dead_lettered_with_a_reason(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker, producer: EventPublisher
) -> None:
    service = unique_service()
    attempts: list[float] = []
    handled_behind: list[RegistrationAccepted] = []
    poison, behind = accepted(), accepted()

    async def handle(event: RegistrationAccepted, _envelope: Envelope) -> None:
        if event != poison:
            handled_behind.append(event)
            return
        attempts.append(asyncio.get_running_loop().time())
        raise RuntimeError("storage is on fire for asa.ohman@example.fi")

    policy = RedeliveryPolicy(delays=(0.3, 0.8), max_attempts=4)
    subscription = Subscription(service, "registrations", retry=policy).on(
        RegistrationAccepted, handle
    )
    subscription.attach(broker, prefetch=1, owners=infrastructure.owners)
    await broker.start()
    await subscription.declare(broker)
    publisher = producer
    await publisher.publish(envelope_for(poison), poison.model_dump_json().encode())
    await publisher.publish(envelope_for(behind), behind.model_dump_json().encode())

    [parked] = await drain(infrastructure.amqp_url, f"{service}.dead-letter", expect=1, timeout=60)
    assert RegistrationAccepted.model_validate_json(parked.body) == poison
    assert parked.headers[REASON_HEADER] == "handler failed 4 times, last with RuntimeError"
    assert "example.fi" not in parked.headers[REASON_HEADER]
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.3
    assert gaps[1] >= 0.8
    assert gaps[2] >= 0.8
    # The poison message never held up the one behind it.
    assert handled_behind == [behind]


async def test_a_handler_that_recovers_handles_the_event_once_and_parks_nothing(
    infrastructure: IsolatedInfrastructure, broker: RabbitBroker, producer: EventPublisher
) -> None:
    service = unique_service()
    calls = 0
    done = asyncio.Event()

    async def flaky(_event: RegistrationAccepted, _envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("database restarting")
        done.set()

    subscription = Subscription(
        service, "registrations", retry=RedeliveryPolicy(delays=(0.2,), max_attempts=5)
    ).on(RegistrationAccepted, flaky)
    subscription.attach(broker, prefetch=1, owners=infrastructure.owners)
    await broker.start()
    await subscription.declare(broker)
    event = accepted()
    await producer.publish(envelope_for(event), event.model_dump_json().encode())
    await asyncio.wait_for(done.wait(), timeout=20)
    async with amqp_connection(infrastructure.amqp_url) as connection:
        channel = await connection.channel()

        async def nothing_can_come_back() -> bool:
            """Handled, and no copy left in the queue or waiting in its delay queue."""
            if not finished(subscription.queue_name)["registration.accepted"]:
                return False
            for name in (subscription.queue_name, retry_queue_name(subscription.queue_name, 0.2)):
                queue = await channel.declare_queue(name, passive=True)
                if queue.declaration_result.message_count:
                    return False
            return True

        await eventually(nothing_can_come_back, what="the event handled, no copy left")
        assert calls == 3
        dlq = await channel.declare_queue(f"{service}.dead-letter", passive=True)
        assert dlq.declaration_result.message_count == 0


async def test_a_message_reaches_its_handler_without_a_hop_to_a_worker_thread(
    infrastructure: IsolatedInfrastructure,
    broker: RabbitBroker,
    producer: EventPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # FastStream resolves a handler's context parameters through fast_depends,
    # which runs a synchronous resolver in anyio's thread pool: a round trip
    # through a worker thread per message, for nothing but a lookup.
    service = unique_service()
    threads: list[int] = []
    done = asyncio.Event()
    events = [accepted() for _ in range(3)]

    async def handle(_event: RegistrationAccepted, _envelope: Envelope) -> None:
        threads.append(threading.get_ident())
        if len(threads) == len(events):
            done.set()

    subscription = Subscription(service, "registrations").on(RegistrationAccepted, handle)
    subscription.attach(broker, prefetch=10, owners=infrastructure.owners)
    await broker.start()
    await subscription.declare(broker)

    hops: list[str] = []
    to_worker_thread = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(getattr(func, "func", func), "__qualname__", "?"))  # not its arguments
        return await to_worker_thread(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    for event in events:
        await producer.publish(envelope_for(event), event.model_dump_json().encode())
    await asyncio.wait_for(done.wait(), timeout=20)
    assert threads == [threading.get_ident()] * len(events)
    assert hops == []

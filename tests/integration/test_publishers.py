"""Who may publish what, against the real broker (docs/security.md).

RabbitMQ enforces the users' permissions and the ``user_id`` of what they
publish; the consumers refuse an event type from anyone but its owner; and
a consumer's own retries and an operator's replay are still accepted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import aiormq
import pytest
from faststream.rabbit import RabbitBroker

from ilmo_event_contracts import Attendance, Envelope, RegistrationAccepted
from ilmo_shared.dead_letters import browse
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.subscription import PUBLISHER_HEADER, REASON_HEADER, Subscription
from ilmo_shared.messaging.topology import RedeliveryPolicy
from ilmo_shared.outbox import outbox_entry
from tests.support.amqp import amqp_connection, declare_integration_exchange
from tests.support.capacity import accepted
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually


def envelope_for(event: RegistrationAccepted) -> Envelope:
    return Envelope.model_validate(outbox_entry(event, source="ilmo/registration")["envelope"])


def message(
    event: RegistrationAccepted, envelope: Envelope, **properties: object
) -> aio_pika.Message:
    return aio_pika.Message(
        event.model_dump_json().encode(),
        headers=envelope.to_headers(),
        message_id=envelope.id,
        type=envelope.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **properties,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
async def exchanges(infrastructure: IsolatedInfrastructure) -> None:
    """``ilmo.events`` exists, as it does once any service has started."""
    await declare_integration_exchange(infrastructure.amqp_url)


async def test_an_integrator_reads_ilmo_events_in_its_own_queues_and_can_publish_nothing(
    infrastructure: IsolatedInfrastructure,
) -> None:
    url = infrastructure.integrator("kela")
    own_queue = infrastructure.integrator_queue("kela", "registrations")
    async with amqp_connection(url) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("ilmo.events")  # passive: it may not configure it
        queue = await channel.declare_queue(own_queue, durable=True, auto_delete=True)
        await queue.bind(exchange, "registration.#")

        # What registration publishes arrives in the integrator's queue.
        event = accepted("seminar", attendance=Attendance.REMOTE)
        async with amqp_connection(infrastructure.amqp_url_as("registration")) as registration:
            producer = await registration.channel(publisher_confirms=True)
            events = await producer.get_exchange("ilmo.events")
            await events.publish(
                message(
                    event,
                    envelope_for(event),
                    user_id=infrastructure.owners.user_of("registration"),
                ),
                "registration.accepted",
            )
        received = await eventually(lambda: queue.get(fail=False), what="the event delivered")
        assert received is not None
        assert received.user_id == infrastructure.owners.user_of("registration")
        await received.ack()

        # A queue outside its prefix: refused.
        elsewhere = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await elsewhere.declare_queue(f"capacity.sneaky-{uuid.uuid4().hex[:6]}")

        # Publishing to ilmo.events: the broker closes the channel with access refused.
        publishing = await connection.channel(publisher_confirms=True)
        events = await publishing.get_exchange("ilmo.events")
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await events.publish(message(event, envelope_for(event)), "registration.cancelled")

        # Nor into a queue through the default exchange.
        direct = await connection.channel(publisher_confirms=True)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await direct.default_exchange.publish(
                message(event, envelope_for(event)), "capacity.seat-decisions"
            )


async def test_a_service_publishes_only_its_own_event_types_and_only_as_itself(
    infrastructure: IsolatedInfrastructure,
) -> None:
    event = accepted("seminar", attendance=Attendance.REMOTE)
    async with amqp_connection(infrastructure.amqp_url_as("streaming")) as connection:
        # Its own type: fine.
        allowed = await connection.channel(publisher_confirms=True)
        events = await allowed.get_exchange("ilmo.events")
        await events.publish(
            aio_pika.Message(b"{}", user_id=infrastructure.owners.user_of("streaming")),
            "stream.link.revoked",
        )
        # Another service's type on ilmo.events: its topic permissions refuse the routing key.
        other_type = await connection.channel(publisher_confirms=True)
        events = await other_type.get_exchange("ilmo.events")
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await events.publish(message(event, envelope_for(event)), "registration.cancelled")
        # Claiming to be registration: RabbitMQ checks user_id against the connection's user.
        impostor = await connection.channel(publisher_confirms=True)
        events = await impostor.get_exchange("ilmo.events")
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await events.publish(
                message(
                    event,
                    envelope_for(event),
                    user_id=infrastructure.owners.user_of("registration"),
                ),
                "stream.link.revoked",
            )


@pytest.fixture
async def probe(infrastructure: IsolatedInfrastructure) -> AsyncIterator[Probe]:
    probe = Probe(infrastructure)
    await probe.start()
    yield probe
    await probe.stop()


class Probe:
    """A consumer of ``registration.accepted`` running as capacity's broker user.

    Its handler fails while ``failures`` says so for an event: once is a retry,
    twice parks the message (two attempts at most).
    """

    def __init__(self, infrastructure: IsolatedInfrastructure) -> None:
        self.broker = RabbitBroker(infrastructure.amqp_url_as("capacity"), logger=None)
        self.failures: dict[str, int] = {}
        self.handled: list[str] = []
        self.subscription = Subscription(
            "capacity",
            f"probe-{uuid.uuid4().hex[:6]}",
            retry=RedeliveryPolicy(delays=(0.1,), max_attempts=2),
        ).on(RegistrationAccepted, self.handle)
        self.subscription.attach(self.broker, prefetch=4, owners=infrastructure.owners)

    async def handle(self, _event: RegistrationAccepted, envelope: Envelope) -> None:
        if self.failures.get(envelope.id, 0) > 0:
            self.failures[envelope.id] -= 1
            raise ConnectionError("not yet")
        self.handled.append(envelope.id)

    def has_handled(self, event_id: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return event_id in self.handled

        return check

    async def start(self) -> None:
        await self.broker.start()
        await self.subscription.declare(self.broker)

    async def stop(self) -> None:
        await self.broker.stop()


async def parked_in(infrastructure: IsolatedInfrastructure, message_id: str) -> dict[str, object]:
    """The headers of ``message_id`` once it is parked in capacity's dead-letter queue."""
    async with amqp_connection(infrastructure.amqp_url) as connection:
        channel = await connection.channel()

        async def parked() -> dict[str, object] | None:
            for found in await browse(channel, "capacity.dead-letter"):
                if found.message_id == message_id:
                    return found.headers
            return None

        headers = await eventually(parked, what=f"{message_id} parked", timeout=30)
        assert headers is not None
        return headers


async def ilmo_dlq(
    url: str, *arguments: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The operator's command, as a process (off the event loop, which the probe needs)."""
    command = [str(Path(sys.executable).parent / "ilmo-dlq"), "--amqp-url", url, *arguments]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False, env=env
    )


async def test_a_retried_and_a_replayed_message_are_still_accepted(
    infrastructure: IsolatedInfrastructure, probe: Probe
) -> None:
    registration_broker = RabbitBroker(infrastructure.amqp_url_as("registration"), logger=None)
    await registration_broker.connect()
    try:
        publisher = EventPublisher(registration_broker)
        retried, replayed = (
            accepted("seminar", attendance=Attendance.REMOTE),
            accepted("seminar", attendance=Attendance.REMOTE),
        )
        retried_envelope, replayed_envelope = envelope_for(retried), envelope_for(replayed)
        probe.failures = {retried_envelope.id: 1, replayed_envelope.id: 2}
        await publisher.publish(retried_envelope, retried.model_dump_json().encode())
        await publisher.publish(replayed_envelope, replayed.model_dump_json().encode())
    finally:
        await registration_broker.stop()

    # A retry comes back from the delay queue as capacity's own message, and is handled.
    await eventually(probe.has_handled(retried_envelope.id), what="the retried event handled")
    headers = await parked_in(infrastructure, replayed_envelope.id)
    assert headers[PUBLISHER_HEADER] == infrastructure.owners.user_of("registration")

    environment = {
        **os.environ,
        "ILMO_CAPACITY_BROKER_USER": infrastructure.owners.user_of("capacity"),
    }
    # Replayed as anyone but capacity's user, the copy would be refused as forged: the tool says so.
    wrong = await ilmo_dlq(
        infrastructure.amqp_url, "replay", "capacity", replayed_envelope.id, env=environment
    )
    assert wrong.returncode == 2
    assert "connects as" in wrong.stderr
    done = await ilmo_dlq(
        infrastructure.amqp_url_as("capacity"),
        "replay",
        "capacity",
        replayed_envelope.id,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    await eventually(probe.has_handled(replayed_envelope.id), what="the replayed event handled")
    assert probe.handled.count(replayed_envelope.id) == 1


async def test_a_header_naming_the_owner_is_no_use_to_a_forger(
    infrastructure: IsolatedInfrastructure, probe: Probe
) -> None:
    forged = accepted("seminar", attendance=Attendance.REMOTE)
    envelope = envelope_for(forged)
    forger = infrastructure.owners.user_of("streaming")
    async with amqp_connection(infrastructure.amqp_url_as("streaming")) as connection:
        channel = await connection.channel(publisher_confirms=True)
        copy = message(forged, envelope, user_id=forger)
        copy.headers[PUBLISHER_HEADER] = infrastructure.owners.user_of("registration")
        await channel.default_exchange.publish(copy, probe.subscription.queue_name)
    headers = await parked_in(infrastructure, envelope.id)
    assert headers[REASON_HEADER] == f"publisher {forger} may not publish registration.accepted"
    assert envelope.id not in probe.handled

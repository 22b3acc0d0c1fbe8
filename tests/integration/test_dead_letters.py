"""The operator's dead-letter tool against the real broker: list, show, replay."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

from faststream.rabbit import RabbitBroker

from ilmo_event_contracts import Attendance, Envelope, RegistrationAccepted
from ilmo_shared.dead_letters import browse, replay
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.messaging.topology import RedeliveryPolicy
from ilmo_shared.outbox import outbox_entry
from tests.support.amqp import amqp_connection
from tests.support.capacity import accepted
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import free_port


async def test_parked_messages_are_listed_in_place_and_replayed_once_into_their_queue(
    infrastructure: IsolatedInfrastructure,
) -> None:
    service = f"svc{uuid.uuid4().hex[:6]}"
    broken = True
    handled: list[str] = []
    replayed_event = asyncio.Event()

    async def handle(_event: RegistrationAccepted, envelope: Envelope) -> None:
        if broken:
            raise LookupError("dependency missing")
        handled.append(envelope.id)
        replayed_event.set()

    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    subscription = Subscription(
        service, "registrations", retry=RedeliveryPolicy(delays=(0.1,), max_attempts=1)
    ).on(RegistrationAccepted, handle)
    subscription.attach(broker, prefetch=4, owners=infrastructure.owners)
    await broker.start()
    await subscription.declare(broker)
    producer = RabbitBroker(infrastructure.amqp_url_as("registration"), logger=None)
    await producer.connect()
    try:
        event = accepted("seminar", attendance=Attendance.REMOTE)
        envelope = Envelope.model_validate(outbox_entry(event, source="ilmo/test")["envelope"])
        await EventPublisher(producer).publish(envelope, event.model_dump_json().encode())

        async with amqp_connection(infrastructure.amqp_url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            dlq = f"{service}.dead-letter"
            [message] = await eventually(
                lambda: browse(channel, dlq), what=f"a message parked in {dlq}", timeout=10
            )
            assert message.message_id == envelope.id
            assert message.event_type == "registration.accepted"
            assert message.source_queue == f"{service}.registrations"
            assert message.reason == "handler failed 1 times, last with LookupError"
            assert len(await browse(channel, dlq)) == 1  # browsing leaves it there

            broken = False
            # The consumer's own user replays (here the administrator, as it consumes).
            assert (
                await replay(channel, dlq, {"not-this-one"}, user_id=infrastructure.credentials[0])
                == 0
            )
            assert await replay(channel, dlq, None, user_id=infrastructure.credentials[0]) == 1
            await asyncio.wait_for(replayed_event.wait(), timeout=20)
            assert await browse(channel, dlq) == []
            assert await replay(channel, dlq, None, user_id=infrastructure.credentials[0]) == 0
        assert handled == [envelope.id]
    finally:
        await producer.stop()
        await broker.stop()


def test_the_console_command_lists_every_service_queue(
    infrastructure: IsolatedInfrastructure,
) -> None:
    # The services' queues exist once a service declared them; declare them as they would.
    async def declare() -> None:
        broker = RabbitBroker(infrastructure.amqp_url, logger=None)
        await broker.connect()
        for service in ("registration", "capacity", "notification", "streaming"):
            await (
                Subscription(service, "dlq-probe").on(RegistrationAccepted, _ignore).declare(broker)
            )
        await broker.stop()

    asyncio.run(declare())
    command = Path(sys.executable).parent / "ilmo-dlq"
    # A cluster whose first node is down: the tool uses the one that answers.
    nodes = f"amqp://guest:guest@127.0.0.1:{free_port()}/,{infrastructure.amqp_url}"
    finished = subprocess.run(
        [str(command), "--amqp-url", nodes, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    lines = [line for line in finished.stdout.splitlines() if line.endswith("message(s)")]
    assert [line.split(".")[0] for line in lines] == [
        "registration",
        "capacity",
        "notification",
        "streaming",
    ]


async def _ignore(_event: RegistrationAccepted, _envelope: Envelope) -> None:
    return None

"""``ilmo-dlq``: list, inspect and replay the messages a service could not handle.

Every service parks what it cannot handle in its ``<service>.dead-letter``
queue, with the reason in a header (``x-ilmo-dead-letter-reason``) or, when
RabbitMQ's delivery limit was hit, in ``x-death``. Operators look at them
here and, once the cause is fixed, replay them into the queue they came from
(only that queue: the other subscribers of the event already handled it).
Replay keeps the CloudEvents id, so replaying twice is harmless: consumers
deduplicate on it.

Messages are read with get-and-requeue, which keeps them in the queue; only
``replay`` removes a message, after its copy was confirmed by the broker,
and ``ParkedErasure`` (below) one about an erased registration.

Parked messages may carry personal data (a ``registration.accepted`` with a
name and an address), which must not outlive the registration's erasure.
So every service, on ``registration.erased``, drops the messages about that
registration from its own dead-letter queue (``ParkedErasure``), and each
dead-letter queue has a message TTL set by a broker policy
(``dead_letter_policy``, 14 days by default): a parked message an operator
never looked at goes after that, whatever it carried (docs/operations.md).

``replay`` must connect as the service's own broker user (``ilmo-<service>``,
or ``ILMO_<SERVICE>_BROKER_USER``): the copy's ``user_id`` is then the
service's, and the publisher the consumer verified when the message first
arrived travels in ``x-ilmo-publisher``, which the consumer trusts only on a
message from its own user (docs/security.md). Replayed as anyone else, the
message would be refused as forged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from faststream.rabbit import RabbitBroker

from ilmo_shared.messaging.subscription import (
    ATTEMPT_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    PUBLISHER_HEADER,
    REASON_HEADER,
)
from ilmo_shared.messaging.topology import dead_letter_queue
from ilmo_shared.messaging.users import SERVICES, configured_user, user_of
from ilmo_shared.settings import BrokerSettings, broker_nodes, load_settings
from ilmo_shared.tls import broker_context

_DROPPED_ON_REPLAY = (
    REASON_HEADER,
    ATTEMPT_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    "x-death",
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


@dataclass(frozen=True)
class ParkedMessage:
    """What an operator needs to know about one dead-lettered message."""

    message_id: str
    event_type: str
    source_queue: str
    reason: str
    headers: dict[str, Any]
    body: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> ParkedMessage:
        headers: dict[str, Any] = dict(message.headers or {})
        deaths = headers.get("x-death")
        first_death: dict[str, Any] = {}
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            first_death = deaths[0]
        reason = headers.get(REASON_HEADER) or first_death.get("reason") or "unknown"
        source = str(message.routing_key or first_death.get("queue") or "")
        return cls(
            message_id=str(message.message_id or headers.get("cloudEvents:id") or "?"),
            event_type=str(message.type or headers.get("cloudEvents:type") or "?"),
            source_queue=source,
            reason=_text(reason),
            headers=headers,
            body=message.body,
        )


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


async def browse(channel: AbstractChannel, queue_name: str) -> list[ParkedMessage]:
    """Every message in a dead-letter queue, left in place."""
    queue = await channel.declare_queue(queue_name, passive=True)
    taken: list[AbstractIncomingMessage] = []
    try:
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            taken.append(message)
        return [ParkedMessage.of(message) for message in taken]
    finally:
        for message in taken:
            await message.nack(requeue=True)


async def replay(
    channel: AbstractChannel, queue_name: str, message_ids: set[str] | None, *, user_id: str
) -> int:
    """Send parked messages back to their source queue; ``None`` means all of them.

    ``user_id`` is the channel's user, which must be the consuming service's.
    """
    queue = await channel.declare_queue(queue_name, passive=True)
    replayed = 0
    kept: list[AbstractIncomingMessage] = []
    try:
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            parked = ParkedMessage.of(message)
            if message_ids is not None and parked.message_id not in message_ids:
                kept.append(message)
                continue
            headers = {k: v for k, v in parked.headers.items() if k not in _DROPPED_ON_REPLAY}
            if PUBLISHER_HEADER not in headers and message.user_id:
                # Parked by the broker (delivery limit): user_id is still the publisher's.
                headers[PUBLISHER_HEADER] = message.user_id
            await channel.default_exchange.publish(
                aio_pika.Message(
                    parked.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    type=message.type,
                    correlation_id=message.correlation_id,
                    timestamp=message.timestamp,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    user_id=user_id,
                ),
                routing_key=parked.source_queue,
            )
            await message.ack()
            replayed += 1
    finally:
        for message in kept:
            await message.nack(requeue=True)
    return replayed


def is_about(message: AbstractIncomingMessage, registration_id: str) -> bool:
    """Whether a parked message is about the registration: its subject, or its id in the body.

    The body is searched too, so that a message whose envelope could not be
    read (parked as unreadable) is still found by the id it carries.
    """
    subject = (message.headers or {}).get("cloudEvents:subject")
    if _text(subject) == registration_id:
        return True
    return registration_id.encode() in message.body


async def drop_parked(queue: AbstractQueue, registration_id: str) -> int:
    """Remove every message about ``registration_id`` from ``queue``; the others stay.

    Messages are taken without acknowledging them, all of them, so that a
    requeued one is not taken twice; those about the registration are then
    acknowledged (removed), the rest requeued. Returns how many were removed.
    """
    taken: list[AbstractIncomingMessage] = []
    dropped = 0
    try:
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            taken.append(message)
        for message in taken:
            if is_about(message, registration_id):
                await message.ack()
                dropped += 1
    finally:
        for message in taken:
            if not is_about(message, registration_id):
                await message.nack(requeue=True)
    return dropped


class ParkedErasure:
    """Drops a registration's messages from the service's own dead-letter queue on erasure.

    One purge at a time in a process: ``drop_parked`` holds every message of
    the queue while it looks, so a second purge running at the same moment
    would see an empty queue and miss its registration's messages. Replicas
    purging at the same moment can still miss one another's; the queue's
    TTL (``ilmo-dead-letter-ttl`` policy) bounds how long such a message
    stays (docs/security.md, "Retention and erasure").
    """

    def __init__(self, broker: RabbitBroker, service: str) -> None:
        self._broker = broker
        self._service = service
        self._one_at_a_time = asyncio.Lock()

    async def erase(self, registration_id: str) -> int:
        """How many parked messages about the registration were removed."""
        async with self._one_at_a_time:
            queue = await self._broker.declare_queue(dead_letter_queue(self._service))
            return await drop_parked(queue, registration_id)


def _queue_for(service: str) -> str:
    if service not in SERVICES:
        raise SystemExit(f"ilmo-dlq: unknown service {service!r}; one of {', '.join(SERVICES)}")
    return f"{service}.dead-letter"


async def _connect(settings: BrokerSettings) -> AbstractConnection:
    """A connection to the first of the cluster's nodes that answers (over TLS with amqps://)."""
    failure: Exception | None = None
    context = broker_context(settings)
    for node in settings.amqp_url:
        try:
            return await aio_pika.connect(str(node), timeout=10, ssl_context=context)
        except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as error:
            failure = error
    raise SystemExit(f"ilmo-dlq: no broker node answers ({type(failure).__name__})")


def service_user(service: str) -> str:
    """The broker user ``service`` runs as: ``ILMO_<SERVICE>_BROKER_USER`` or ``ilmo-<service>``."""
    return configured_user(service, os.environ)


async def _run(arguments: argparse.Namespace) -> int:
    # The service's own broker settings (ILMO_AMQP_URL and its TLS files, from
    # the environment or ILMO_SECRETS_DIR); --amqp-url wins over the URL.
    overrides = {"amqp_url": arguments.amqp_url} if arguments.amqp_url else {}
    settings = load_settings(BrokerSettings, "ilmo-dlq", **overrides)
    arguments.amqp_url = ",".join(str(node) for node in settings.amqp_url)
    if arguments.command == "replay":
        user = user_of(broker_nodes(arguments.amqp_url)[0])
        if user != service_user(arguments.service):
            print(
                f"ilmo-dlq: replay into {arguments.service}'s queue connects as "
                f"{service_user(arguments.service)} (its own broker user), not {user}: "
                "a copy from another user would be refused as forged",
                file=sys.stderr,
            )
            return 2
    connection = await _connect(settings)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        if arguments.command == "list":
            for service in [arguments.service] if arguments.service else SERVICES:
                parked = await browse(channel, _queue_for(service))
                print(f"{service}.dead-letter: {len(parked)} message(s)")
                for message in parked:
                    print(
                        f"  {message.message_id}  {message.event_type}  "
                        f"from {message.source_queue}  reason: {message.reason}"
                    )
        elif arguments.command == "show":
            for message in await browse(channel, _queue_for(arguments.service)):
                if message.message_id == arguments.message_id:
                    headers = {k: _text(v) for k, v in message.headers.items()}
                    print(json.dumps({"headers": headers}, indent=2, ensure_ascii=False))
                    print(message.body.decode(errors="replace"))
                    return 0
            print(f"ilmo-dlq: no message {arguments.message_id}", file=sys.stderr)
            return 1
        else:
            wanted = None if arguments.all else set(arguments.message_ids)
            user = user_of(broker_nodes(arguments.amqp_url)[0])
            count = await replay(channel, _queue_for(arguments.service), wanted, user_id=user)
            print(f"replayed {count} message(s) from {arguments.service}.dead-letter")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """``ilmo-dlq list|show|replay``: the operator's view of dead-lettered messages."""
    parser = argparse.ArgumentParser(prog="ilmo-dlq", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--amqp-url",
        help="the broker, or the nodes of a cluster, comma-separated (default: ILMO_AMQP_URL)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="count and summarise parked messages")
    listing.add_argument("service", nargs="?", choices=SERVICES)
    show = commands.add_parser("show", help="headers and body of one message")
    show.add_argument("service", choices=SERVICES)
    show.add_argument("message_id")
    again = commands.add_parser("replay", help="send messages back to the queue they failed in")
    again.add_argument("service", choices=SERVICES)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("message_ids", nargs="*", default=[])
    which.add_argument("--all", action="store_true")
    arguments = parser.parse_args(argv)
    if arguments.command == "replay" and not arguments.all and not arguments.message_ids:
        parser.error("replay needs message ids or --all")
    raise SystemExit(asyncio.run(_run(arguments)))

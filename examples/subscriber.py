"""An outside system's subscriber to Ilmo's events, as docs/integrating.md describes it.

It depends on ``ilmo-event-contracts`` (pydantic only) and aio-pika, nothing
else of Ilmo. Two ways to receive events:

- ``follow``: a durable queue of the integrator's own (named under its
  prefix), bound to the routing keys it wants on ``ilmo.events``. Events
  wait there while the system is down; nothing before the first binding.
- ``catch_up``: reads the catch-up stream, which keeps every event for seven
  days, from where the system chooses: ``"first"``, an offset it stored, or
  a time. Nothing is removed by reading.

Either way it reads the CloudEvents envelope from the headers, reads the body
into the integration event model of its type (``ilmo_event_contracts.
integration``), skips event types it does not know (new types may appear),
and deduplicates on the envelope id: delivery is at least once.

Run it: ``python -m examples.subscriber --url amqp://user:pass@host/vhost
--since 2026-12-01T08:00:00+02:00`` prints one line per event.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from ilmo_event_contracts.envelope import Envelope, EnvelopeError
from ilmo_event_contracts.integration import IntegrationEvent, integration_event_class_for

EXCHANGE = "ilmo.events"
CATCH_UP_STREAM = "ilmo.events.catch-up"


@dataclass(frozen=True)
class Received:
    """One event as the subscriber sees it: its envelope, the event, where it is in the stream."""

    envelope: Envelope
    event: IntegrationEvent
    stream_offset: int | None = None


Handle = Callable[[Received], Awaitable[None]]


class Deduplicator:
    """Remembers the last envelope ids seen, so that a redelivery is handled once."""

    def __init__(self, size: int = 100_000) -> None:
        self._seen: dict[str, None] = {}
        self._size = size

    def first_time(self, envelope_id: str) -> bool:
        if envelope_id in self._seen:
            return False
        self._seen[envelope_id] = None
        if len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]
        return True


def read(message: AbstractIncomingMessage) -> Received | None:
    """The event in ``message``; None for a type this subscriber does not know, or a bad one."""
    try:
        envelope = Envelope.from_headers(message.headers)
    except EnvelopeError:
        return None
    event_class = integration_event_class_for(envelope.type)
    if event_class is None:
        return None
    try:
        event = event_class.model_validate_json(message.body)
    except ValidationError:
        return None
    offset = message.headers.get("x-stream-offset") if message.headers else None
    return Received(envelope, event, offset if isinstance(offset, int) else None)


async def follow(url: str, queue_name: str, routing_keys: Sequence[str], handle: Handle) -> None:
    """Consume from the integrator's own durable queue until cancelled."""
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=50)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in routing_keys:
            await queue.bind(EXCHANGE, routing_key=key)
        await _consume(queue, handle)


async def catch_up(url: str, start: str | int | datetime, handle: Handle) -> None:
    """Read the catch-up stream from ``start`` until cancelled.

    A stream must be read with a prefetch and with acknowledgements; an
    acknowledgement only moves the reader's credit on, it removes nothing.
    """
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        stream = await channel.get_queue(CATCH_UP_STREAM, ensure=False)
        await _consume(stream, handle, arguments={"x-stream-offset": start})


async def _consume(
    queue: aio_pika.abc.AbstractQueue, handle: Handle, arguments: dict[str, Any] | None = None
) -> None:
    seen = Deduplicator()
    async with queue.iterator(arguments=arguments) as messages:
        async for message in messages:
            received = read(message)
            if received is not None and seen.first_time(received.envelope.id):
                await handle(received)
            await message.ack()


async def _print(received: Received) -> None:
    envelope = received.envelope
    print(f"{envelope.time.isoformat()} {envelope.type} {envelope.subject or ''}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="amqp://user:password@host:5672/vhost")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--since", help="read the catch-up stream from this ISO 8601 time")
    source.add_argument("--from-start", action="store_true", help="read the whole stream")
    source.add_argument("--queue", help="follow this queue of your own (under your prefix)")
    parser.add_argument("--key", action="append", default=[], help="routing key (with --queue)")
    arguments = parser.parse_args(argv)
    if arguments.queue:
        work = follow(arguments.url, arguments.queue, arguments.key or ["#"], _print)
    else:
        start: str | datetime = (
            "first" if arguments.from_start else datetime.fromisoformat(arguments.since)
        )
        work = catch_up(arguments.url, start, _print)
    asyncio.run(work)


if __name__ == "__main__":
    main()

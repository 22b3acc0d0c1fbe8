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
and deduplicates on the envelope id: delivery is at least once. It
acknowledges each message after handling it.

Either way it stays subscribed (``Subscription``): when the connection or its
channel closes (a broker restart, a network cut), it waits a little (capped
exponential backoff with jitter) and connects, declares and consumes again,
until cancelled. It uses plain connections, not ``connect_robust``, whose
restore sometimes leaves a consumer behind after an abrupt broker loss. It
logs each loss and each new subscription (counts and error kinds, never a
message).

Run it: ``python -m examples.subscriber --url amqp://user:pass@host/vhost
--since 2026-12-01T08:00:00+02:00`` prints one line per event.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import (
    AMQPError,
    AuthenticationError,
    ChannelAccessRefused,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    ProbableAuthenticationError,
)
from pydantic import ValidationError

from ilmo_event_contracts.envelope import Envelope, EnvelopeError
from ilmo_event_contracts.integration import IntegrationEvent, integration_event_class_for

EXCHANGE = "ilmo.events"
CATCH_UP_STREAM = "ilmo.events.catch-up"

log = logging.getLogger(__name__)


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

    def already(self, envelope_id: str) -> bool:
        return envelope_id in self._seen

    def remember(self, envelope_id: str) -> None:
        self._seen[envelope_id] = None
        if len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]


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
    return Received(envelope, event, _stream_offset(message))


def _stream_offset(message: AbstractIncomingMessage) -> int | None:
    """Where a message read from a stream is in it; None for a queue's message."""
    offset = message.headers.get("x-stream-offset") if message.headers else None
    return offset if isinstance(offset, int) else None


async def follow(url: str, queue_name: str, routing_keys: Sequence[str], handle: Handle) -> None:
    """Consume from the integrator's own durable queue until cancelled, reconnecting as needed."""
    seen = Deduplicator()  # kept across connections: a redelivery mostly follows a reconnection

    async def declare(channel: AbstractChannel) -> Reading:
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in routing_keys:
            await queue.bind(EXCHANGE, routing_key=key)
        return Reading(queue)

    async def deliver(message: AbstractIncomingMessage) -> None:
        await _handle_once(message, seen, handle)
        await message.ack()

    await Subscription(url, declare, deliver, prefetch=50).run()


async def catch_up(url: str, start: str | int | datetime, handle: Handle) -> None:
    """Read the catch-up stream from ``start`` until cancelled, reconnecting as needed.

    A stream must be read with a prefetch and with acknowledgements; an
    acknowledgement only moves the reader's credit on, it removes nothing.
    After a reconnection it goes on from the offset after the last message
    it acknowledged, not from ``start`` again.
    """
    seen = Deduplicator()
    position: str | int | datetime = start

    async def declare(channel: AbstractChannel) -> Reading:
        stream = await channel.get_queue(CATCH_UP_STREAM, ensure=False)
        return Reading(stream, {"x-stream-offset": position})

    async def deliver(message: AbstractIncomingMessage) -> None:
        nonlocal position
        await _handle_once(message, seen, handle)
        await message.ack()
        offset = _stream_offset(message)
        if offset is not None:
            position = offset + 1

    await Subscription(url, declare, deliver, prefetch=100).run()


async def _handle_once(
    message: AbstractIncomingMessage, seen: Deduplicator, handle: Handle
) -> None:
    """Handle an event the first time its envelope id comes; remember it only once handled.

    Remembering it before would lose it when handling fails or the connection
    goes: it comes again, and would be skipped.
    """
    received = read(message)
    if received is not None and not seen.already(received.envelope.id):
        await handle(received)
        seen.remember(received.envelope.id)


# ------------------------------------------------------------------ staying subscribed

# The TCP connection and the AMQP handshake; then the channel, declarations
# and consume, which a broker that is still starting may leave unanswered.
CONNECT_TIMEOUT = 10.0
SETUP_TIMEOUT = 30.0

# What reconnecting will not mend: credentials the broker refuses, a queue
# outside the integrator's prefix, a queue that exists with other arguments.
REFUSED: tuple[type[BaseException], ...] = (
    AuthenticationError,
    ProbableAuthenticationError,
    ChannelAccessRefused,
    ChannelPreconditionFailed,
)
# What a lost connection (or a broker that is starting) raises: try again.
# TimeoutError is an OSError; an acknowledgement on a closed channel raises
# ChannelInvalidStateError.
LOST: tuple[type[BaseException], ...] = (AMQPError, OSError, ChannelInvalidStateError)


def _upper_half() -> float:
    return random.uniform(0.5, 1.0)  # noqa: S311 - spreading reconnections, not a secret


@dataclass
class Backoff:
    """Waits between attempts to subscribe: doubling from ``first`` up to ``cap``, with jitter.

    Each wait is drawn from the upper half of its step, so that the many
    subscribers that lost the same broker do not knock on it in step when it
    comes back; the cap keeps one that waited through a long outage quick to
    notice its end.
    """

    first: float = 0.5
    cap: float = 30.0
    jitter: Callable[[], float] = field(default=_upper_half)
    failures: int = 0

    def next_delay(self) -> float:
        """The wait after one more failure."""
        # 2**60 outgrows any cap; a float 2**failures would overflow after 1024
        # failures (some hours of an outage) and stop the subscriber.
        step = min(self.cap, self.first * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return step * self.jitter()

    def reset(self) -> None:
        """Subscribed: the next loss starts from ``first`` again."""
        self.failures = 0


class Reading(NamedTuple):
    """What one connection consumes: a queue, and the consumer arguments to start with."""

    queue: AbstractQueue
    arguments: dict[str, Any] | None = None


Declare = Callable[[AbstractChannel], Awaitable[Reading]]
Deliver = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Subscription:
    """Stays subscribed: connect, declare, consume; when the connection goes, all of it again.

    It uses a plain connection, not ``aio_pika.connect_robust``: after an
    abrupt broker loss a robust connection sometimes comes back without its
    consumer (aio-pika issue #231), and the subscriber then hears nothing,
    silently. Here every connection declares afresh what it reads
    (``declare``), so nothing rests on a library restoring channels and
    consumers. ``deliver`` handles each message, one at a time, and
    acknowledges it after handling; a message not acknowledged when the
    connection went comes again on the next one.

    ``lost`` and ``subscribed`` count connections lost after subscribing and
    subscriptions made (the first included), for logs and metrics.
    """

    def __init__(
        self,
        url: str,
        declare: Declare,
        deliver: Deliver,
        *,
        prefetch: int,
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url
        self._declare = declare
        self._deliver = deliver
        self._prefetch = prefetch
        self._backoff = backoff or Backoff()
        self._consuming = False
        self._attempts = 0  # failed in a row
        self.lost = 0
        self.subscribed = 0

    @property
    def consuming(self) -> bool:
        """Subscribed right now (as far as it knows): for a health check."""
        return self._consuming

    async def run(self) -> None:
        """Stay subscribed until cancelled.

        Raises what reconnecting will not mend (``REFUSED``), and an error of
        ``deliver`` that is not a ``LOST`` one: a bug in handling should stop
        the subscriber, not loop. (A ``LOST`` one, such as an OSError of the
        handler's own database, reconnects, and the message comes again.)
        """
        while True:
            try:
                reason: BaseException | None = await self._session()
            except REFUSED:
                raise
            except LOST as error:
                reason = error
            delay = self._backoff.next_delay()
            self._say_why(reason, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> BaseException | None:
        """One connection: subscribe, consume until it or its channel closes, say why it ended."""
        self._consuming = False
        connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT)
        async with connection:
            closed: asyncio.Future[BaseException | None] = (
                asyncio.get_running_loop().create_future()
            )
            connection.close_callbacks.add(partial(_set_once, closed))
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            async with asyncio.timeout(SETUP_TIMEOUT):
                channel = await connection.channel()
                channel.close_callbacks.add(partial(_set_once, closed))
                await channel.set_qos(prefetch_count=self._prefetch)
                reading = await self._declare(channel)
                await reading.queue.consume(inbox.put, arguments=reading.arguments)
            self._now_subscribed()
            return await self._consume(inbox, closed)

    async def _consume(
        self,
        inbox: asyncio.Queue[AbstractIncomingMessage],
        closed: asyncio.Future[BaseException | None],
    ) -> BaseException | None:
        """Deliver messages until the connection or the channel closes, which ends it."""
        delivering = asyncio.ensure_future(self._deliver_each(inbox))
        either: set[asyncio.Future[Any]] = {delivering, closed}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not delivering.done():
                delivering.cancel()  # the message being handled comes again on the next connection
                await asyncio.gather(delivering, return_exceptions=True)
        if closed.done():
            # Whatever delivering raised meanwhile (an acknowledgement on the
            # closed channel) is the loss itself.
            return closed.result()
        await delivering  # it only ends by raising: an error of handling, or a LOST one
        return None

    async def _deliver_each(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> None:
        while True:
            await self._deliver(await inbox.get())

    def _now_subscribed(self) -> None:
        self._consuming = True
        self._backoff.reset()
        self._attempts = 0
        self.subscribed += 1
        if self.subscribed == 1:
            log.info("subscribed")
        else:
            log.warning(
                "subscribed again (resubscriptions: %d, connections lost: %d)",
                self.subscribed - 1,
                self.lost,
            )

    def _say_why(self, reason: BaseException | None, delay: float) -> None:
        """Log the loss or the failed attempt: the kind of error only, never a message."""
        kind = type(reason).__name__ if reason is not None else "closed"
        if self._consuming:
            self._consuming = False
            self.lost += 1
            log.warning(
                "connection lost (%s; connections lost: %d); reconnecting in %.1f s",
                kind,
                self.lost,
                delay,
            )
        else:
            self._attempts += 1
            log.info(
                "could not subscribe (%s; failed attempts: %d); next attempt in %.1f s",
                kind,
                self._attempts,
                delay,
            )


def _set_once(
    closed: asyncio.Future[BaseException | None], _sender: object, error: BaseException | None
) -> None:
    """Close callback of the connection and of the channel: the first one to close says why."""
    if not closed.done():
        closed.set_result(error)


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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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

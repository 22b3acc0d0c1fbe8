"""An outside observer on the broker: what an integrating system would see.

Tests use plain aio-pika here rather than the project's own subscriber, so the
assertions do not rest on the code under test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from tests.support.polling import eventually


@dataclass(frozen=True)
class ObservedMessage:
    """One message as it came off the wire."""

    routing_key: str
    headers: dict[str, Any]
    body: bytes
    delivery_mode: int | None
    message_id: str | None
    content_type: str | None
    correlation_id: str | None
    user_id: str | None = None

    @property
    def data(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> ObservedMessage:
        return cls(
            routing_key=str(message.routing_key or ""),
            headers=dict(message.headers or {}),
            body=message.body,
            delivery_mode=int(message.delivery_mode) if message.delivery_mode else None,
            message_id=message.message_id,
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            user_id=message.user_id,
        )


class EventTap:
    """A private queue bound to an exchange that records everything published there."""

    def __init__(self, queue: AbstractQueue) -> None:
        self._queue = queue
        self.messages: list[ObservedMessage] = []

    async def wait_for(
        self, count: int, *, routing_key: str | None = None, timeout: float = 20.0
    ) -> list[ObservedMessage]:
        """Collect messages until ``count`` match (or fail after ``timeout`` seconds)."""

        def matching() -> list[ObservedMessage]:
            return [m for m in self.messages if routing_key is None or m.routing_key == routing_key]

        async def enough() -> bool:
            # One message at a time, so that no more is taken than ``count`` needs.
            while len(matching()) < count:
                if not await self._take_one():
                    return False
            return True

        await eventually(
            enough,
            what=f"{count} {routing_key or 'messages'} on the tap",
            timeout=timeout,
            interval=0.05,
            detail=lambda: f"saw {len(matching())} of {count}",
        )
        return matching()

    async def first_where(
        self, wanted: Callable[[ObservedMessage], bool], *, what: str, timeout: float = 20.0
    ) -> ObservedMessage:
        """The first message ``wanted`` accepts, however many others arrive before it.

        The vhost is shared within a test session, so a process of an
        earlier test may still publish while this tap listens.
        """

        async def found() -> ObservedMessage | None:
            while True:
                match = next((m for m in self.messages if wanted(m)), None)
                if match is not None or not await self._take_one():
                    return match

        return await eventually(found, what=what, timeout=timeout, interval=0.05)

    async def take_arrived(self) -> None:
        """Record every message that has arrived so far, without waiting for more."""
        while await self._take_one():
            pass

    async def _take_one(self) -> bool:
        message = await self._queue.get(no_ack=True, fail=False)
        if message is None:
            return False
        self.messages.append(ObservedMessage.of(message))
        return True


@asynccontextmanager
async def amqp_connection(url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(url)
    try:
        yield connection
    finally:
        await connection.close()


async def declare_integration_exchange(url: str) -> None:
    """``ilmo.events`` exists, as it does once any service has started.

    ``url`` is the operator's (or a service's): an integrator may only look it up.
    """
    async with amqp_connection(url) as connection:
        channel = await connection.channel()
        await channel.declare_exchange("ilmo.events", aio_pika.ExchangeType.TOPIC, durable=True)


@asynccontextmanager
async def event_tap(
    url: str, binding: str = "#", *, exchange: str = "ilmo.internal"
) -> AsyncIterator[EventTap]:
    """Bind a temporary queue to ``exchange`` (declaring it as the services do).

    ``ilmo.internal`` by default, where the services' own events are;
    ``ilmo.events`` to see what outside systems see.
    """
    async with amqp_connection(url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"test.tap.{uuid.uuid4().hex[:8]}", exclusive=True)
        await queue.bind(declared, binding)
        yield EventTap(queue)


async def drain(
    url: str, queue_name: str, *, expect: int, timeout: float = 20.0
) -> list[ObservedMessage]:
    """Take ``expect`` messages off an existing queue (e.g. a dead-letter queue)."""
    async with amqp_connection(url) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        taken: list[ObservedMessage] = []

        async def all_taken() -> bool:
            while len(taken) < expect:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    return False
                await message.ack()
                taken.append(ObservedMessage.of(message))
            return True

        await eventually(
            all_taken,
            what=f"{expect} messages on {queue_name}",
            timeout=timeout,
            detail=lambda: f"got {len(taken)} of {expect}",
        )
        return taken


async def purge_queue(url: str, name: str) -> None:
    """Drop what earlier tests (or e2e processes) of this session left in a service's queue."""
    async with amqp_connection(url) as connection:
        channel = await connection.channel()
        try:
            queue = await channel.get_queue(name, ensure=True)
        except aio_pika.exceptions.ChannelClosed:
            return  # not declared yet
        await queue.purge()

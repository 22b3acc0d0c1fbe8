"""Publishing as Ilmo's services do: each event type from the broker user of its owner."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.rabbit import RabbitBroker, RabbitExchange

from ilmo_event_contracts import Envelope
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from tests.support.infrastructure import IsolatedInfrastructure


class CountingPublisher:
    """Publishes each event as its producer does, and counts what it published, by event type.

    A consumer accepts an event type only from the broker user of the service
    that owns it, so each event goes out on a connection as that service's
    user (one per owner, opened at its first event).
    """

    def __init__(self, infrastructure: IsolatedInfrastructure) -> None:
        self._infrastructure = infrastructure
        self._publishers: dict[str, EventPublisher] = {}
        self._brokers: list[RabbitBroker] = []
        self.published: Counter[str] = Counter()

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        url = self._infrastructure.amqp_url_of_owner(envelope.type)
        if url not in self._publishers:
            broker = RabbitBroker(url, logger=None)
            await broker.connect()
            self._brokers.append(broker)
            self._publishers[url] = EventPublisher(broker)
        await self._publishers[url].publish(envelope, body, exchange=exchange)
        if exchange is INTERNAL_EXCHANGE:  # what the services' queues receive
            self.published[envelope.type] += 1

    async def close(self) -> None:
        for broker in self._brokers:
            await broker.stop()


@asynccontextmanager
async def counting_publisher(
    infrastructure: IsolatedInfrastructure,
) -> AsyncIterator[CountingPublisher]:
    publisher = CountingPublisher(infrastructure)
    try:
        yield publisher
    finally:
        await publisher.close()

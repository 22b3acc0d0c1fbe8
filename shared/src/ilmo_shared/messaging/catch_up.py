"""The catch-up stream: every event on ``ilmo.events``, kept for a week, readable from any point.

An outside system that binds its own queue to ``ilmo.events`` loses what was
published while its queue did not exist, and a system that was down for a day
may find its queue's backlog, but not what happened before it first bound.
A RabbitMQ stream (``x-queue-type: stream``, RabbitMQ 3.9 and later) bound
with ``#`` keeps every event for ``RETENTION`` whatever reads it, and a
consumer chooses where to start with ``x-stream-offset``: ``first``, an
offset it stored, or a timestamp ("everything since yesterday 08:00").
Reading does not remove anything, so any number of integrators share it.

It is declared by the registration service at start (declaring is
idempotent); ``docs/integrating.md`` shows a subscriber that reads it.
"""

from __future__ import annotations

from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue

from ilmo_shared.messaging.topology import INTEGRATION_EXCHANGE

CATCH_UP_STREAM_NAME = "ilmo.events.catch-up"
# Seven days, as RabbitMQ writes it; older segments are removed as a whole.
RETENTION = "7D"
# Bounded too by size, so that a flood cannot fill the broker's disk: 10 GiB.
MAX_BYTES = 10 * 1024**3

CATCH_UP_STREAM = RabbitQueue(
    CATCH_UP_STREAM_NAME,
    queue_type=QueueType.STREAM,
    durable=True,
    arguments={"x-max-age": RETENTION, "x-max-length-bytes": MAX_BYTES},
)


class CatchUpStream:
    """Declares the catch-up stream and binds it to every routing key of ``ilmo.events``."""

    async def declare(self, broker: RabbitBroker) -> None:
        exchange = await broker.declare_exchange(INTEGRATION_EXCHANGE)
        stream = await broker.declare_queue(CATCH_UP_STREAM)
        await stream.bind(exchange, routing_key="#")

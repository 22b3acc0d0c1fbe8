"""Publishing events: persistent, confirmed by the broker, with the envelope set."""

from __future__ import annotations

import aiormq
from faststream.rabbit import RabbitBroker, RabbitExchange
from prometheus_client import Counter

from ilmo_event_contracts.envelope import CONTENT_TYPE, Envelope
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.messaging.users import connection_user

EVENTS_PUBLISHED = Counter(
    "ilmo_events_published_total", "Events confirmed by the broker.", ["exchange", "type"]
)


class PublishNotConfirmedError(RuntimeError):
    """The broker did not confirm a message; it must be published again."""


class EventPublisher:
    """Publishes events (on ``ilmo.internal`` unless told) with the event type as routing key.

    Every message is persistent and awaited until the broker confirms it
    (FastStream's default channel has publisher confirms on); a nack or a
    timeout raises, so the caller (the outbox relay) keeps the event and
    retries. FastStream publishes non-persistent messages unless told, hence
    the explicit ``persist=True``. Every message carries the AMQP ``user_id``
    of the connection's user, which RabbitMQ verifies: consumers accept an
    event type only from the user of the service that owns it.
    """

    def __init__(self, broker: RabbitBroker, *, confirm_timeout: float = 10.0) -> None:
        self._broker = broker
        self._confirm_timeout = confirm_timeout

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        """Publish one event on ``exchange``; return only once the broker has confirmed it."""
        confirmation = await self._broker.publish(
            body,
            exchange=exchange,
            routing_key=envelope.type,
            # An event nobody has bound a queue for yet is not an error.
            mandatory=False,
            persist=True,
            timeout=self._confirm_timeout,
            headers=envelope.to_headers(),
            content_type=CONTENT_TYPE,
            message_id=envelope.id,
            message_type=envelope.type,
            timestamp=envelope.time,
            correlation_id=envelope.correlationid,
            user_id=connection_user(self._broker),
        )
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise PublishNotConfirmedError(f"broker did not confirm event {envelope.id}")
        EVENTS_PUBLISHED.labels(exchange.name, envelope.type).inc()

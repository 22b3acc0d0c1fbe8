"""Typed subscriptions: one durable queue per ``<service>.<purpose>``, handlers per event type.

A subscription owns one quorum queue bound to ``ilmo.internal`` with the
routing key of every event type it handles, so events about one thing that
must be handled in order (a registration accepted, then cancelled) share a
queue. Acknowledgement is explicit, never a library default:

- handled → ack;
- not understood (no envelope, unknown type, body not matching its schema)
  → republished to the dead-letter exchange with the reason in a header, then
  acked: retrying cannot fix it, and it must not block the queue;
- the handler raised → the message goes to a delay queue and comes back
  after a growing wait (``RedeliveryPolicy``), then acked; after the last attempt
  it is dead-lettered with the failure reason. Only if that republishing
  itself fails is the message nacked for an immediate redelivery, which the
  queue's delivery limit bounds.

Once the envelope is read, before anything else, the publisher is checked
(docs/security.md): an event type is accepted only from the broker user of
the service that owns it, as the message's AMQP ``user_id`` (verified by
RabbitMQ) says. Anything else is
dead-lettered with the reason and counted in ``ilmo_events_refused_total``,
and no handler sees it. The check is made at first receipt: a retry or a
parked message is republished by this consumer, so its ``user_id`` becomes
the consumer's own; the consumer then records the publisher it verified in
``x-ilmo-publisher``, and trusts that header only on a message whose
``user_id`` is its own user (which no other user can set).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import structlog
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitExchange

# The message class itself; ``faststream.rabbit.RabbitMessage`` is that class
# annotated as a context parameter (see ``_the_message_itself``).
from faststream.rabbit.message import RabbitMessage
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from ilmo_event_contracts.envelope import Envelope, EnvelopeError
from ilmo_event_contracts.events import InternalEvent
from ilmo_shared.logging import correlation_scope
from ilmo_shared.messaging.topology import (
    DEAD_LETTER_EXCHANGE,
    INTERNAL_EXCHANGE,
    RedeliveryPolicy,
    dead_letter_queue,
    queue_name,
    retry_queue,
    retry_queue_name,
    work_queue,
)
from ilmo_shared.messaging.users import EventOwners, connection_user

EventT = TypeVar("EventT", bound=InternalEvent)
Handler = Callable[[EventT, Envelope], Awaitable[None]]

REASON_HEADER = "x-ilmo-dead-letter-reason"
ATTEMPT_HEADER = "x-ilmo-attempt"
ORIGINAL_ROUTING_KEY_HEADER = "x-ilmo-original-routing-key"
# The user_id the message first arrived with; set when this consumer republishes it.
PUBLISHER_HEADER = "x-ilmo-publisher"

EVENTS_CONSUMED = Counter(
    "ilmo_events_consumed_total",
    "Events taken from a queue, by outcome (handled, dead_lettered, failed).",
    ["queue", "type", "outcome"],
)
EVENTS_REFUSED = Counter(
    "ilmo_events_refused_total",
    "Events dead-lettered unhandled because of who published them (reason=publisher).",
    ["queue", "reason"],
)
HANDLING_SECONDS = Histogram(
    "ilmo_event_handling_seconds", "Time spent handling one event.", ["queue", "type"]
)

log = structlog.get_logger(__name__)


class UnprocessableMessageError(Exception):
    """A message that no retry can make sense of; it goes to the dead-letter queue."""


class RefusedPublisherError(UnprocessableMessageError):
    """A message from a user that may not publish its event type: parked, never handled."""


@dataclass(frozen=True)
class _Route(Generic[EventT]):
    event_class: type[EventT]
    handler: Handler[EventT]


class Subscription:
    """Handlers for the events one service consumes from one queue."""

    def __init__(
        self,
        service: str,
        purpose: str,
        *,
        single_active_consumer: bool = False,
        retry: RedeliveryPolicy | None = None,
    ) -> None:
        self.service = service
        self.retry = retry if retry is not None else RedeliveryPolicy()
        self.queue_name = queue_name(service, purpose)
        self._single_active_consumer = single_active_consumer
        self._routes: dict[str, _Route[Any]] = {}
        self._owners = EventOwners()

    def on(self, event_class: type[EventT], handler: Handler[EventT]) -> Subscription:
        """Handle ``event_class`` with ``handler(event, envelope)``."""
        self._routes[event_class.event_type] = _Route(event_class, handler)
        return self

    @property
    def routing_keys(self) -> list[str]:
        return sorted(self._routes)

    def attach(self, broker: RabbitBroker, *, prefetch: int, owners: EventOwners) -> None:
        """Register the consumer on the broker (before the broker starts).

        ``owners`` says which broker user may publish which event type.
        """
        self._owners = owners
        if not self._routes:
            raise ValueError(f"subscription {self.queue_name} handles no event type")
        queue = work_queue(
            self.queue_name,
            routing_key=self.routing_keys[0],
            single_active_consumer=self._single_active_consumer,
        )

        # ``Any``: FastStream refuses its message class as a parameter's type
        # (it expects the context annotation, see ``_the_message_itself``);
        # the decoder makes the argument the RabbitMessage.
        async def consume(message: Any) -> None:
            await self._consume(broker, cast(RabbitMessage, message))

        consume.__name__ = f"consume_{self.queue_name.replace('.', '_').replace('-', '_')}"
        broker.subscriber(
            queue,
            INTERNAL_EXCHANGE,
            ack_policy=AckPolicy.MANUAL,
            channel=Channel(prefetch_count=prefetch),
            decoder=_the_message_itself,
            title=self.queue_name,
        )(consume)

    async def declare(self, broker: RabbitBroker) -> None:
        """Declare the queue, its bindings and the service's dead-letter queue.

        Called after connecting and before consuming or publishing, so that a
        message published before any consumer runs is already routed to a
        durable queue and is not lost.
        """
        exchange = await broker.declare_exchange(INTERNAL_EXCHANGE)
        queue = await broker.declare_queue(
            work_queue(
                self.queue_name,
                routing_key=self.routing_keys[0],
                single_active_consumer=self._single_active_consumer,
            )
        )
        for routing_key in self.routing_keys:
            await queue.bind(exchange, routing_key)
        for delay in sorted(set(self.retry.delays)):
            await broker.declare_queue(retry_queue(self.queue_name, delay))
        dead_letters = await broker.declare_exchange(DEAD_LETTER_EXCHANGE)
        dlq = dead_letter_queue(self.service)
        await (await broker.declare_queue(dlq)).bind(dead_letters, dlq.routing_key)

    async def _consume(self, broker: RabbitBroker, message: RabbitMessage) -> None:
        event_type = str(message.raw_message.routing_key or "")
        started = time.perf_counter()
        publisher = self._publisher(broker, message)
        try:
            envelope, event, route = self._parse(message, publisher)
        except RefusedPublisherError as problem:
            await self._dead_letter(broker, message, str(problem), publisher)
            EVENTS_REFUSED.labels(self.queue_name, "publisher").inc()
            EVENTS_CONSUMED.labels(self.queue_name, event_type, "dead_lettered").inc()
            return
        except UnprocessableMessageError as problem:
            await self._dead_letter(broker, message, str(problem), publisher)
            EVENTS_CONSUMED.labels(self.queue_name, event_type, "dead_lettered").inc()
            return
        with correlation_scope(envelope.correlationid):
            try:
                await route.handler(event, envelope)
            except Exception as error:
                # The exception's type and stack only: its message may quote personal data.
                log.warning(
                    "event_handling_failed",
                    event_id=envelope.id,
                    type=envelope.type,
                    error=type(error).__name__,
                )
                EVENTS_CONSUMED.labels(self.queue_name, envelope.type, "failed").inc()
                await self._retry_later(broker, message, error, publisher)
                return
        await message.ack()
        EVENTS_CONSUMED.labels(self.queue_name, envelope.type, "handled").inc()
        HANDLING_SECONDS.labels(self.queue_name, envelope.type).observe(
            time.perf_counter() - started
        )

    def _publisher(self, broker: RabbitBroker, message: RabbitMessage) -> str | None:
        """The broker user that published the message, as far as RabbitMQ vouches for it.

        ``user_id`` is verified by RabbitMQ. On a message whose ``user_id`` is
        this consumer's own user (a retry or replay of its own), the publisher
        it verified at first receipt is in ``x-ilmo-publisher``.
        """
        raw = message.raw_message
        user_id = raw.user_id or None
        recorded = (raw.headers or {}).get(PUBLISHER_HEADER)
        if user_id is not None and user_id == connection_user(broker) and recorded is not None:
            return recorded.decode() if isinstance(recorded, bytes) else str(recorded)
        return user_id

    def _parse(
        self, message: RabbitMessage, publisher: str | None
    ) -> tuple[Envelope, InternalEvent, _Route[Any]]:
        try:
            envelope = Envelope.from_headers(message.headers)
        except EnvelopeError as error:
            raise UnprocessableMessageError(str(error)) from error
        if not self._owners.may_publish(publisher, envelope.type):
            raise RefusedPublisherError(
                f"publisher {publisher or '(none)'} may not publish {envelope.type}"
            )
        route = self._routes.get(envelope.type)
        if route is None:
            raise UnprocessableMessageError(f"no handler for event type {envelope.type!r}")
        expected_schema = route.event_class.dataschema()
        if envelope.dataschema not in (None, expected_schema):
            raise UnprocessableMessageError(
                f"unsupported schema {envelope.dataschema!r}, expected {expected_schema!r}"
            )
        try:
            event = route.event_class.model_validate_json(message.body)
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in error.errors())
            raise UnprocessableMessageError(
                f"body does not match {envelope.type}: {fields}"
            ) from error
        return envelope, event, route

    async def _retry_later(
        self, broker: RabbitBroker, message: RabbitMessage, error: Exception, publisher: str | None
    ) -> None:
        """Send a failed message round a delay queue, or park it once the attempts are spent."""
        raw = message.raw_message
        attempt = _as_int((raw.headers or {}).get(ATTEMPT_HEADER)) + 1
        try:
            if attempt >= self.retry.max_attempts:
                reason = f"handler failed {attempt} times, last with {type(error).__name__}"
                await self._dead_letter(broker, message, reason, publisher)
                return
            await _republish(
                broker,
                message,
                {ATTEMPT_HEADER: attempt, **_publisher_header(publisher)},
                routing_key=retry_queue_name(self.queue_name, self.retry.delay_for(attempt)),
            )
        except Exception:
            log.warning("retry_scheduling_failed", queue=self.queue_name, exc_info=True)
            await message.nack()
            return
        await message.ack()

    async def _dead_letter(
        self, broker: RabbitBroker, message: RabbitMessage, reason: str, publisher: str | None
    ) -> None:
        """Park an unprocessable message with its reason, then take it off the queue."""
        original_key = str(message.raw_message.routing_key or "")
        log.warning("event_dead_lettered", queue=self.queue_name, reason=reason)
        await _republish(
            broker,
            message,
            {
                REASON_HEADER: reason,
                ORIGINAL_ROUTING_KEY_HEADER: original_key,
                **_publisher_header(publisher),
            },
            routing_key=self.queue_name,
            exchange=DEAD_LETTER_EXCHANGE,
        )
        await message.ack()


async def _the_message_itself(message: RabbitMessage) -> RabbitMessage:
    """FastStream's decoder for our consumers: the handler's argument is the message itself.

    Asking for it as a context parameter (``faststream.rabbit.RabbitMessage``)
    has fast_depends resolve it with a synchronous function, which it runs in
    anyio's thread pool: a round trip through a worker thread per message
    (seen in the profile, docs/performance.md). As the decoded body it is
    handed straight to the handler on the event loop. It also spares the
    default decoder's JSON parsing of the body, which ``_parse`` validates
    from the bytes itself. Async, or FastStream would run it in a thread too.
    """
    return message


async def _republish(
    broker: RabbitBroker,
    message: RabbitMessage,
    extra_headers: dict[str, Any],
    *,
    routing_key: str,
    exchange: RabbitExchange | None = None,
) -> None:
    """Publish ``message`` again, body and properties as received, with ``extra_headers``.

    The copy's ``user_id`` is this connection's user (RabbitMQ refuses any
    other); the publisher verified at first receipt travels in ``extra_headers``.
    """
    raw = message.raw_message
    await broker.publish(
        raw.body,
        exchange=exchange,
        routing_key=routing_key,
        persist=True,
        mandatory=False,
        headers={**(raw.headers or {}), **extra_headers},
        content_type=raw.content_type,
        message_id=raw.message_id,
        message_type=raw.type,
        correlation_id=raw.correlation_id,
        user_id=connection_user(broker),
    )


def _publisher_header(publisher: str | None) -> dict[str, str]:
    return {} if publisher is None else {PUBLISHER_HEADER: publisher}


def _as_int(value: object) -> int:
    """A header value as a count; anything unreadable counts as zero."""
    if isinstance(value, (int, str, bytes)):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0

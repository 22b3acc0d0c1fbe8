"""Exchanges and queues, declared explicitly rather than left to library defaults.

Every work queue is a durable quorum queue with a delivery limit and an
at-least-once dead-letter policy, so a message that keeps failing ends up in
its service's dead-letter queue for an operator instead of looping forever or
being dropped. Queue arguments cannot change once a queue exists, so they are
all defined here, in one place.

Replication: on a cluster (``ILMO_AMQP_URL`` naming several nodes), every
quorum queue here has a member on every node of the cluster, because no
``x-quorum-initial-group-size`` is given and RabbitMQ 3.10 then places one
on each cluster member, running or not (measured: tests/integration/
test_rabbitmq_cluster.py; docs/reliability.md, "A three-node RabbitMQ
cluster"). Setting the argument explicitly would gain nothing for three
nodes and would break every existing queue: RabbitMQ compares it when a
queue is declared again and refuses the declaration (PRECONDITION_FAILED)
where it was not set before. For more than five nodes, or a queue declared
before its cluster grew, an operator adds members with ``rabbitmq-queues
grow`` (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs

from ilmo_event_contracts.events import INTERNAL_EXCHANGE as INTERNAL_EXCHANGE_NAME
from ilmo_event_contracts.integration import INTEGRATION_EXCHANGE as INTEGRATION_EXCHANGE_NAME

# Internal events, with the personal data the services need: Ilmo's services
# publish here and bind their queues here, and nobody else reads it.
INTERNAL_EXCHANGE = RabbitExchange(INTERNAL_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)
# Integration events, without personal data: for outside systems' queues.
INTEGRATION_EXCHANGE = RabbitExchange(
    INTEGRATION_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True
)
EVENT_EXCHANGES = {e.name: e for e in (INTERNAL_EXCHANGE, INTEGRATION_EXCHANGE)}
DEAD_LETTER_EXCHANGE = RabbitExchange("ilmo.dead-letter", type=ExchangeType.TOPIC, durable=True)

# A consumer crash requeues its whole unacknowledged batch and counts one
# failed delivery against each message; with prefetch in the tens, a limit
# this high keeps crashes alone from dead-lettering a good message while still
# bounding a poison message.
DELIVERY_LIMIT = 20


def queue_name(service: str, purpose: str) -> str:
    """Queue names say who listens and why: ``<service>.<purpose>``."""
    return f"{service}.{purpose}"


def work_queue(
    name: str, *, routing_key: str = "", single_active_consumer: bool = False
) -> RabbitQueue:
    """A durable quorum queue that dead-letters to ``ilmo.dead-letter`` under its own name.

    ``single_active_consumer`` serializes handling across replicas: one
    consumer receives while the others stand by, which is how decisions that
    must not race (seats of one event) are kept in order.
    """
    arguments: QuorumQueueArgs = {
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
        "x-dead-letter-routing-key": name,
        # At-least-once dead-lettering needs reject-publish overflow; without
        # it RabbitMQ may drop a message on its way to the dead-letter queue.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    if single_active_consumer:
        arguments["x-single-active-consumer"] = True
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=arguments,
        routing_key=routing_key,
    )


def dead_letter_queue(service: str) -> RabbitQueue:
    """The per-service queue where operators find messages that could not be handled."""
    return RabbitQueue(
        f"{service}.dead-letter",
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=f"{service}.#",
    )


@dataclass(frozen=True)
class RedeliveryPolicy:
    """How often and how late a failed message is tried again before it is dead-lettered.

    RabbitMQ 3.10 requeues a nacked message at once, so backoff has its own
    mechanism: one delay queue per step, whose message TTL dead-letters the
    message back into the work queue through the default exchange. Attempt
    ``n`` waits ``delays[n-1]`` seconds (the last delay repeats).
    """

    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 300.0)
    max_attempts: int = 6

    def delay_for(self, attempt: int) -> float:
        return self.delays[min(attempt, len(self.delays)) - 1]


def retry_queue_name(work_queue_name: str, delay: float) -> str:
    return f"{work_queue_name}.retry-{delay:g}s"


def retry_queue(work_queue_name: str, delay: float) -> RabbitQueue:
    """A delay step: messages wait ``delay`` seconds, then return to the work queue."""
    arguments: QuorumQueueArgs = {
        "x-message-ttl": int(delay * 1000),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": work_queue_name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    return RabbitQueue(
        retry_queue_name(work_queue_name, delay),
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=arguments,
    )

"""Knowing that a service has finished its work, instead of sleeping and then looking.

A check that nothing more arrives ("exactly one event", "no second mail")
used to wait a fixed while and look. These helpers wait for the work to be
done instead, after which anything more would need a new cause:

- ``Inflow``: every message the test published to a service's queue has been
  finished with there (handled or dead-lettered), read from the
  ``ilmo_events_consumed_total`` counter of this process (the services run
  in-process) against what the test's ``CountingPublisher`` sent;
- ``outbox_flushed``: no document holds outbox entries any more. The relay
  removes an entry only once the broker has confirmed it, so by then every
  event stored is on a tap's queue;
- ``relayed``: the outbox is flushed, and the tap has taken what arrived;
- ``quiescent``: the same for the services run as processes (end to end),
  read from their ``/metrics`` (on their operations listeners) and their
  databases.

``fixed_wait`` is the one exception: a check about time itself.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.messaging.subscription import EVENTS_CONSUMED
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import OUTBOX_FIELD
from ilmo_shared.storage import Document
from tests.support.amqp import EventTap
from tests.support.development import DEVELOPMENT
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.notification import MAILS_DUE
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.producers import CountingPublisher

FINISHED_OUTCOMES = ("handled", "dead_lettered")


def finished(queue: str) -> Counter[str]:
    """Messages ``queue`` has finished with in this process (handled or dead-lettered), by type."""
    done: Counter[str] = Counter()
    for metric in EVENTS_CONSUMED.collect():
        for sample in metric.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_total")
                and labels["queue"] == queue
                and labels["outcome"] in FINISHED_OUTCOMES
            ):
                done[labels["type"]] += int(sample.value)
    return done


@dataclass
class Inflow:
    """What a test publishes to one service queue, and how far the service has got with it.

    Made before the test publishes anything, with the queue empty (see
    ``tests.support.amqp.purge_queue``), so that every message finished from
    then on is one of the test's.
    """

    queue: str
    publisher: CountingPublisher
    before: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.before = finished(self.queue)

    def outstanding(self) -> dict[str, int]:
        """Published messages the queue has not finished with yet, by type."""
        now = finished(self.queue)
        done = {kind: now[kind] - self.before[kind] for kind in now}
        return {
            kind: count - done.get(kind, 0)
            for kind, count in self.publisher.published.items()
            if count > done.get(kind, 0)
        }

    async def all_finished(self, timeout: float = 20.0) -> None:
        """Until the queue has finished with every message published so far."""

        async def none_outstanding() -> bool:
            return not self.outstanding()

        await eventually(
            none_outstanding,
            what=f"{self.queue} to finish every message the test published",
            timeout=timeout,
            interval=0.05,
            detail=lambda: f"outstanding: {self.outstanding()}",
        )


async def outbox_flushed(
    collection: AsyncCollection[Document],
    query: Mapping[str, Any] | None = None,
    *,
    timeout: float = 20.0,
) -> None:
    """Until no document of ``collection`` (matching ``query``) holds outbox entries."""
    pending = {**(query or {}), f"{OUTBOX_FIELD}.0": {"$exists": True}}

    async def flushed() -> bool:
        return await collection.count_documents(pending) == 0

    await eventually(
        flushed, what=f"every outbox entry in {collection.full_name} published", timeout=timeout
    )


async def relayed(
    tap: EventTap,
    collection: AsyncCollection[Document],
    query: Mapping[str, Any] | None = None,
) -> None:
    """Until the outbox of ``collection`` (``query``) is published; then ``tap`` takes it.

    Call it once the work that stores events is done (the requests answered,
    the messages handled): when its entries are gone from the outbox the
    broker has confirmed them, so the tap holds every event it will publish.
    """
    await outbox_flushed(collection, query)
    await tap.take_arrived()


# ---------------------------------------------------------------- services run as processes

# The collections of each service whose documents hold an outbox.
OUTBOXES = {
    "registration": ("events", "registrations", "messages"),
    "capacity": ("seat_inventories",),
    "notification": ("mails",),
    "streaming": ("stream_links",),
}


async def quiescent(
    services: Mapping[str, ServiceProcess],
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    *,
    timeout: float = 60.0,
) -> None:
    """Until the services run as processes have nothing left to do, so nothing more can come.

    That is: every event any of them published has been finished with by
    every queue of theirs it is routed to, no outbox holds an entry, and no
    mail is due. The requests the test made were answered, so their events
    are stored. What the queues finished is read first (from ``/metrics``),
    then the outboxes, then what was published: work that moves on between
    the reads shows as not done yet (an event published after the queues
    were read counts as published and not as finished).
    """
    routes = await _routes(infrastructure, set(services))
    last: dict[str, object] = {}

    async def nothing_left() -> bool:
        finished_by = {name: _finished(await _metrics(s)) for name, s in services.items()}
        for name in services:
            for collection in OUTBOXES.get(name, ()):
                pending = await mongo[infrastructure.database_name(name)][
                    collection
                ].count_documents({f"{OUTBOX_FIELD}.0": {"$exists": True}})
                if pending:
                    last["outbox"] = f"{pending} in {name}.{collection}"
                    return False
        published: Counter[str] = Counter()
        for service in services.values():
            published.update(_published(await _metrics(service)))
        behind = {
            (queue, kind): published[kind] - finished_by[queue.split(".")[0]][queue][kind]
            for queue, kind in routes
            if published[kind] > finished_by[queue.split(".")[0]][queue][kind]
        }
        last["behind"] = behind
        if behind:
            return False
        if "notification" in services:
            mails = mongo[infrastructure.database_name("notification")]["mails"]
            due = await mails.count_documents(MAILS_DUE)
            last["mails due"] = due
            return due == 0
        return True

    await eventually(
        nothing_left,
        what=f"{sorted(services)} to have nothing left to do",
        timeout=timeout,
        interval=0.2,
        detail=lambda: f"last seen: {last}",
    )


async def _metrics(service: ServiceProcess) -> list[Sample]:
    """The service's Prometheus samples, from its operations listener."""
    async with httpx.AsyncClient(
        base_url=service.operations_url, headers=DEVELOPMENT, timeout=5
    ) as client:
        answer = await client.get("/metrics")
    answer.raise_for_status()
    return [
        sample
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    ]


def _finished(samples: list[Sample]) -> defaultdict[str, Counter[str]]:
    """Messages finished with (handled or dead-lettered), by queue and event type."""
    done: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for sample in samples:
        if (
            sample.name == "ilmo_events_consumed_total"
            and sample.labels["outcome"] in FINISHED_OUTCOMES
        ):
            done[sample.labels["queue"]][sample.labels["type"]] += int(sample.value)
    return done


def _published(samples: list[Sample]) -> Counter[str]:
    """Internal events the broker confirmed (those the services consume), by type."""
    return Counter(
        {
            sample.labels["type"]: int(sample.value)
            for sample in samples
            if sample.name == "ilmo_events_published_total"
            and sample.labels["exchange"] == INTERNAL_EXCHANGE.name
        }
    )


async def _routes(
    infrastructure: IsolatedInfrastructure, services: set[str]
) -> set[tuple[str, str]]:
    """(queue, routing key) of every binding of ``ilmo.internal`` to a queue of ``services``."""
    async with httpx.AsyncClient(
        base_url=infrastructure.management_url, auth=infrastructure.credentials, timeout=10
    ) as api:
        answer = await api.get(
            f"/api/exchanges/{quote(infrastructure.vhost, safe='')}/ilmo.internal/bindings/source"
        )
    answer.raise_for_status()
    return {
        (binding["destination"], binding["routing_key"])
        for binding in answer.json()
        if binding["destination"].split(".")[0] in services
    }


async def fixed_wait(seconds: float, *, because: str) -> None:
    """Let ``seconds`` pass: only where nothing can be awaited instead.

    Every other wait in the tests is for a condition (``tests.support.polling``)
    or for a service to have finished its work (above). What is left is a
    check about time itself: how many attempts a dispatcher makes on a server
    that is down is a rate, counted over a window of fixed length. ``because``
    says why, where it is called.
    """
    assert because, "say why a fixed wait is the only way"
    await asyncio.sleep(seconds)

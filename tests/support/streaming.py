"""The streaming service in-process, the events that drive it, and a view of what it publishes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.storage import Document
from ilmo_streaming.app import build_app
from ilmo_streaming.settings import StreamingSettings
from tests.support.amqp import EventTap, ObservedMessage, event_tap, purge_queue
from tests.support.development import DEVELOPMENT_TOKEN
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import operations_client, serving
from tests.support.polling import eventually
from tests.support.producers import CountingPublisher, counting_publisher
from tests.support.registration import MovableClock
from tests.support.settling import Inflow, relayed

LINK_SECRET = "test-stream-link-secret-0123456789abcdef"
PUBLIC_BASE_URL = "https://watch.ilmo.example.fi/live"
LINK_EVENTS = ("stream.link.provisioned", "stream.link.revoked")
STREAM_LINKS_QUEUE = "streaming.stream-links"  # the service's queue
LINKS = "stream_links"  # the collection whose documents hold the outbox


def streaming_settings(infrastructure: IsolatedInfrastructure) -> StreamingSettings:
    return StreamingSettings(
        **infrastructure.broker_settings("streaming"),
        mongodb_url=infrastructure.mongodb_url,
        mongodb_database=infrastructure.database_name("streaming_service"),
        stream_link_secret=LINK_SECRET,
        public_base_url=PUBLIC_BASE_URL,
        development_token=DEVELOPMENT_TOKEN,
    )


def watch_path(url: str) -> str:
    """The path of a personal link, to open it through the in-process client."""
    assert url.startswith(f"{PUBLIC_BASE_URL}/watch/"), url
    return "/watch/" + urlsplit(url).path.rsplit("/", 1)[1]


@dataclass
class RunningStreaming:
    # The public listener (personal links) and the operations one (link counts, metrics).
    http: httpx.AsyncClient
    operations: httpx.AsyncClient
    publisher: CountingPublisher
    inflow: Inflow
    tap: EventTap
    clock: MovableClock
    database_name: str
    database: AsyncDatabase[Document]

    def seen(self, registration_id: uuid.UUID | str) -> list[ObservedMessage]:
        """Link events about one registration as a consumer takes them: each envelope id once."""
        first: dict[str | None, ObservedMessage] = {}
        for m in self.tap.messages:
            if m.routing_key in LINK_EVENTS and m.data.get("registration_id") == str(
                registration_id
            ):
                first.setdefault(m.message_id, m)
        return list(first.values())

    def deliveries(self, registration_id: uuid.UUID | str, routing_key: str) -> int:
        """How many times a link event about the registration was put on the wire."""
        return sum(
            1
            for m in self.tap.messages
            if m.routing_key == routing_key
            and m.data.get("registration_id") == str(registration_id)
        )

    async def link_events(
        self, registration_id: uuid.UUID | str, count: int, timeout: float = 20.0
    ) -> list[ObservedMessage]:
        """Wait until ``count`` link events about the registration were published."""

        async def enough() -> bool:
            await self.tap.take_arrived()
            return len(self.seen(registration_id)) >= count

        await eventually(
            enough,
            what=f"{count} link events about {registration_id}",
            timeout=timeout,
            interval=0.05,
            detail=lambda: f"saw {len(self.seen(registration_id))} of {count}",
        )
        return self.seen(registration_id)

    async def handled(self) -> None:
        """Until the service has finished with every message published so far."""
        await self.inflow.all_finished()

    async def settled(self) -> None:
        """Until every message published is handled and every link event stored is on the tap."""
        await self.handled()
        await relayed(self.tap, self.database[LINKS])


@asynccontextmanager
async def running_streaming(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    clock: MovableClock | None = None,
) -> AsyncIterator[RunningStreaming]:
    """The service with its whole lifespan, a producer, a tap on ``ilmo.internal`` and a client."""
    settings = streaming_settings(infrastructure)
    clock = clock or MovableClock()
    await purge_queue(infrastructure.amqp_url, STREAM_LINKS_QUEUE)
    app = build_app(settings, clock=clock)
    async with (
        counting_publisher(infrastructure) as publisher,
        event_tap(infrastructure.amqp_url, "stream.#") as tap,
        serving(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://streaming"
        ) as http,
        operations_client(app, "http://streaming-operations") as operations,
    ):
        yield RunningStreaming(
            http,
            operations,
            publisher,
            Inflow(STREAM_LINKS_QUEUE, publisher),
            tap,
            clock,
            settings.mongodb_database,
            mongo[settings.mongodb_database],
        )

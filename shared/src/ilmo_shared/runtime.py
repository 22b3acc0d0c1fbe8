"""The life of a service process: connect, declare, consume, relay, serve, stop.

Every service is the same shape: a FastAPI app (health, metrics and the
service's own routes) whose lifespan owns the database client, the broker
connection with its subscriptions, and the outbox relay. Services describe
what is theirs (``ServiceParts``); this module wires it in one order that is
right for all of them: storage ready, queues declared, then consuming and
relaying, and the reverse on shutdown, so in-flight work finishes and pending
events are flushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.http import install_common
from ilmo_shared.logging import configure_logging
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.settings import ServiceSettings, SettingsT, load_settings
from ilmo_shared.storage import Document, connect, ping

log = structlog.get_logger(__name__)


@dataclass
class Infrastructure:
    """Connections a service's adapters are built on; created before the app starts."""

    service: str
    settings: ServiceSettings
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    broker: RabbitBroker
    publisher: EventPublisher

    @classmethod
    def create(cls, service: str, settings: ServiceSettings) -> Infrastructure:
        mongo = connect(str(settings.mongodb_url))
        broker = RabbitBroker(
            str(settings.amqp_url),
            app_id=f"ilmo-{service}",
            logger=None,  # our own structured logs, without message bodies
            graceful_timeout=15.0,
        )
        return cls(
            service=service,
            settings=settings,
            mongo=mongo,
            database=mongo[settings.mongodb_database],
            broker=broker,
            publisher=EventPublisher(broker),
        )

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events this service publishes."""
        return f"ilmo/{self.service}"


class Worker(Protocol):
    """A background task a service runs beside its consumers (e.g. a mail dispatcher)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceParts:
    """What a service brings to the common shape.

    ``workers`` start after the consumers and stop before the outbox relay's
    last flush, so events they store on the way out are still published.
    """

    title: str
    subscriptions: Sequence[Subscription] = ()
    routers: Sequence[APIRouter] = ()
    prepare_storage: Callable[[], Awaitable[None]] | None = None
    relay: OutboxRelay | None = None
    workers: Sequence[Worker] = ()


SHUTDOWN_STEP_SECONDS = 20.0


async def _bounded(step: str, work: Awaitable[None], seconds: float) -> None:
    """Await one shutdown step, giving up (with a warning) after ``seconds``."""
    try:
        await asyncio.wait_for(work, timeout=seconds)
    except TimeoutError:
        log.warning("shutdown_step_timed_out", step=step, seconds=seconds)


def create_app(infrastructure: Infrastructure, parts: ServiceParts) -> FastAPI:
    """The service's ASGI app, with everything it owns started in its lifespan."""
    broker = infrastructure.broker
    for subscription in parts.subscriptions:
        subscription.attach(broker, prefetch=infrastructure.settings.prefetch)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if parts.prepare_storage is not None:
            await parts.prepare_storage()
        await broker.connect()
        for subscription in parts.subscriptions:
            await subscription.declare(broker)
        await broker.start()
        if parts.relay is not None:
            parts.relay.start()
        for worker in parts.workers:
            worker.start()
        log.info("service_started", port=infrastructure.settings.http_port)
        try:
            yield
        finally:
            # Stop taking new messages and let in-flight handlers finish,
            # then publish what they stored, then close connections. Each
            # step is bounded: a shutdown that hangs is worse than one that
            # leaves a message to be redelivered.
            for subscriber in broker.subscribers:
                await _bounded("stop_consuming", subscriber.stop(), SHUTDOWN_STEP_SECONDS)
            for worker in parts.workers:
                await _bounded("stop_worker", worker.stop(), SHUTDOWN_STEP_SECONDS)
            if parts.relay is not None:
                await _bounded("flush_outbox", parts.relay.stop(), SHUTDOWN_STEP_SECONDS)
            await _bounded("close_broker", broker.stop(), SHUTDOWN_STEP_SECONDS)
            await _bounded("close_database", infrastructure.mongo.close(), SHUTDOWN_STEP_SECONDS)
            log.info("service_stopped")

    app = FastAPI(title=parts.title, lifespan=lifespan)

    async def broker_ready() -> bool:
        return await broker.ping(timeout=2.0)

    async def database_ready() -> bool:
        return await ping(infrastructure.database)

    install_common(app, {"broker": broker_ready, "database": database_ready})
    for router in parts.routers:
        app.include_router(router)
    return app


def serve(app: FastAPI, settings: ServiceSettings, service: str) -> None:
    """Run the app under uvicorn; SIGTERM and Ctrl-C shut it down gracefully."""
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


def run_service(
    service: str,
    settings_class: type[SettingsT],
    build_app: Callable[[SettingsT], FastAPI],
) -> None:
    """The body of every service's console command: settings, app, serve."""
    settings = load_settings(settings_class, f"ilmo-{service}")
    serve(build_app(settings), settings, service)

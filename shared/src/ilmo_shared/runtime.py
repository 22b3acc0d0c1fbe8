"""The shape of every service process: its connections, its parts, its app, its command.

Every service is the same shape: two FastAPI apps, the public one (health
and the service's own routes) and the operations one (health, metrics, the
public API's docs and the operator routes), served on two addresses by one
process (``ilmo_shared.listeners``). The public app's lifespan, run once for
both, starts a ``Lifecycle`` that owns the
database client, the broker connection with its subscriptions, the outbox
relay and the workers. Services describe what is theirs (``ServiceParts``);
the lifecycle brings it up in one order that is right for all of them
(storage ready, queues declared, then consuming and relaying) whenever the
broker and the database answer, and stops it in the reverse order, so
in-flight work finishes and pending events are flushed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.rabbit import RabbitBroker
from faststream.security import BaseSecurity
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.http.body_limit import BodyLimitMiddleware
from ilmo_shared.http.correlation import CorrelationIdMiddleware
from ilmo_shared.http.cors import CrossOriginApi
from ilmo_shared.http.health import health_router
from ilmo_shared.http.metrics import HttpMetricsMiddleware
from ilmo_shared.http.operations import DOCS_PATHS, create_operations_app
from ilmo_shared.http.problems import SHARED_CATALOGUE, PageErrors, install_problem_handlers
from ilmo_shared.http.security_headers import SecurityHeadersMiddleware
from ilmo_shared.identity import Authorization, name_permissions
from ilmo_shared.leases import LEASES, DocumentLeases
from ilmo_shared.lifecycle import Lifecycle
from ilmo_shared.listeners import Listener, Listeners, ListenerUnavailableError
from ilmo_shared.logging import configure_logging
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.outbox import Outbox, OutboxRelay
from ilmo_shared.settings import (
    ServiceSettings,
    SettingsT,
    load_settings,
    report_invalid_setting,
)
from ilmo_shared.storage import Document, DocumentLocks, connect_with
from ilmo_shared.tls import broker_context

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
    relay: OutboxRelay
    # Who may call the admin routes and the operations listener (ilmo_shared.identity).
    authorization: Authorization

    @classmethod
    def create(cls, service: str, settings: ServiceSettings) -> Infrastructure:
        mongo = connect_with(settings)
        broker = RabbitBroker(
            # The first node; the lifecycle moves the broker to another when it is gone.
            str(settings.amqp_url[0]),
            # Over amqps://, a context that verifies the node's certificate and
            # host name; it stays with the broker when the lifecycle moves it
            # to another node (point_broker_at changes only the URL).
            security=broker_security(settings),
            app_id=f"ilmo-{service}",
            logger=None,  # our own structured logs, without message bodies
            graceful_timeout=15.0,
            # Bounds a connection attempt to a node that accepts TCP but not AMQP (booting).
            timeout=10.0,
            # aio-pika's robust connection retries a lost node this often.
            reconnect_interval=2.0,
        )
        publisher = EventPublisher(broker)
        database = mongo[settings.mongodb_database]
        return cls(
            service=service,
            settings=settings,
            mongo=mongo,
            database=database,
            broker=broker,
            publisher=publisher,
            relay=OutboxRelay(
                publisher,
                locks=DocumentLocks(replica_leases(settings, database)),
                sweep_interval=settings.outbox_sweep_seconds,
                follow_up=settings.outbox_follow_up_seconds,
            ),
            authorization=Authorization.from_settings(settings),
        )

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events this service publishes."""
        return f"ilmo/{self.service}"

    @property
    def locks(self) -> DocumentLocks:
        """Per-document write locks, shared by the service's stores and its outbox relay."""
        return self.relay.locks

    def outbox(self, collection_name: str) -> Outbox:
        """The outbox of one of the service's collections; the relay publishes what it holds."""
        return self.relay.outbox(self.database[collection_name], source=self.source)


def replica_leases(
    settings: ServiceSettings, database: AsyncDatabase[Document]
) -> DocumentLeases | None:
    """The leases replicas take turns by, when ``ILMO_REPLICA_LEASES`` is on."""
    if not settings.replica_leases:
        return None
    return DocumentLeases(
        database[LEASES],
        holder=settings.replica_name,
        lifetime=timedelta(seconds=settings.lease_seconds),
    )


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's TLS for the broker over amqps://; None over amqp://."""
    context = broker_context(settings)
    return None if context is None else BaseSecurity(ssl_context=context)


class Declaration(Protocol):
    """Broker topology a service declares before it consumes (beyond its own queues)."""

    async def declare(self, broker: RabbitBroker) -> None: ...


class Worker(Protocol):
    """A background task a service runs beside its consumers (e.g. a mail dispatcher)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceParts:
    """What a service brings to the common shape.

    ``workers`` start after the consumers and stop before the outbox relay's
    last flush, so events they store on the way out are still published.
    ``pages`` are where the service serves HTML for people, whose errors are
    pages rather than problem details. ``routers`` are served on the public
    listener; ``operator_routers`` on the operations listener only (seat
    counts, mail summaries and the like, which an ingress never routes to).
    """

    title: str
    description: str = ""
    subscriptions: Sequence[Subscription] = ()
    routers: Sequence[APIRouter] = ()
    operator_routers: Sequence[APIRouter] = ()
    prepare_storage: Callable[[], Awaitable[None]] | None = None
    workers: Sequence[Worker] = ()
    pages: PageErrors | None = None
    declarations: Sequence[Declaration] = ()
    # The service's package: its gettext catalogue translates the service's problem details.
    catalogue: str = SHARED_CATALOGUE
    # The sites whose scripts may call the public JSON API (ilmo_shared.http.cors); none: no CORS.
    cors_origins: Sequence[str] = ()


PROBLEMS_NOTE = (
    "Errors are RFC 9457 problem details (application/problem+json) whose `type` is a "
    "relative URI under /problems/. Their `title`, `detail` and field messages follow "
    "`Accept-Language` (fi, sv or en, named in `Content-Language`); English when it names "
    "none of them."
)


def create_app(infrastructure: Infrastructure, parts: ServiceParts) -> FastAPI:
    """The service's public ASGI app; its lifespan starts the ``Lifecycle`` and returns at once.

    HTTP is served from the first moment (health, and routes that answer 503
    while their storage is away); the lifecycle connects to the broker and
    the database in the background and starts the work when both answer.
    The lifecycle is ``app.state.lifecycle``; the operations listener's app
    (``ilmo_shared.http.operations``) is ``app.state.operations``. The public
    app serves no docs, no OpenAPI document and no metrics: those are on the
    operations app, and the public one answers 404 for them as for any
    unknown path.
    """
    broker = infrastructure.broker
    for subscription in parts.subscriptions:
        subscription.attach(
            broker,
            prefetch=infrastructure.settings.prefetch,
            owners=infrastructure.settings.event_owners(),
        )
    lifecycle = Lifecycle(infrastructure, parts)

    authorization = infrastructure.authorization

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        authorization.verifier.announce()
        lifecycle.start()
        try:
            yield
        finally:
            await lifecycle.stop()

    app = FastAPI(
        title=parts.title,
        description="\n\n".join(filter(None, (parts.description, PROBLEMS_NOTE))),
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.lifecycle = lifecycle
    settings = infrastructure.settings
    _add_middleware(app, settings, parts.pages)
    if parts.cors_origins:
        # Outermost: every answer of the API, errors included, carries the CORS headers.
        app.add_middleware(CrossOriginApi, origins=parts.cors_origins)
    # Outermost of all: every answer is counted and timed, a 413 or a CORS refusal too.
    # The public listener only: the operations one serves operators and Prometheus.
    app.add_middleware(HttpMetricsMiddleware)
    install_problem_handlers(app, parts.pages, parts.catalogue)
    app.include_router(health_router(lifecycle.readiness))
    for router in parts.routers:
        app.include_router(router)
    operations = create_operations_app(
        app,
        lifecycle.readiness,
        authorization,
        parts.operator_routers,
        description=PROBLEMS_NOTE,
    )
    name_permissions(app)
    name_permissions(operations)
    _add_middleware(operations, settings, no_csp_paths=DOCS_PATHS)
    app.state.operations = operations
    return app


def _add_middleware(
    app: FastAPI,
    settings: ServiceSettings,
    pages: PageErrors | None = None,
    no_csp_paths: Sequence[str] = (),
) -> None:
    """The middleware both listeners' apps have, in the same order.

    Added first, so innermost: the 413 and every other answer pass the
    security headers and then the correlation id on the way out.
    """
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, pages=pages)
    app.add_middleware(
        SecurityHeadersMiddleware,
        no_csp_paths=no_csp_paths,
        hsts_max_age=settings.hsts_max_age or None,
    )
    app.add_middleware(CorrelationIdMiddleware)


def serve(app: FastAPI, settings: ServiceSettings, service: str) -> None:
    """Serve both listeners under uvicorn; SIGTERM and Ctrl-C shut them down gracefully.

    An address that cannot be bound ends the process with exit code 1 and
    one ``listener_bind_failed`` line naming the listener, before anything
    connects. A server that refuses the configuration
    (``ConfigurationRefusedError``) ends it with exit code 2 and one line
    naming the setting, as a bad environment variable does; a fault of the
    lifecycle itself with 1.
    """
    configure_logging(service, settings.log_level)
    listeners = service_listeners(app, settings)
    try:
        listeners.bind()
    except ListenerUnavailableError as refused:
        log.error(
            "listener_bind_failed",
            listener=refused.listener,
            address=refused.address,
            reason=refused.reason,
        )
        raise SystemExit(1) from None
    lifecycle: Lifecycle = app.state.lifecycle
    lifecycle.on_fatal = listeners.stop
    listeners.run()
    if lifecycle.problem is not None:
        report_invalid_setting(
            f"ilmo-{service}", lifecycle.problem.setting, lifecycle.problem.reason
        )
        raise SystemExit(2)
    if lifecycle.crashed or not listeners.started:
        raise SystemExit(1)


def service_listeners(app: FastAPI, settings: ServiceSettings) -> Listeners:
    """The public listener (``ILMO_HTTP_*``) and the operations one (``ILMO_OPERATIONS_*``)."""
    operations: FastAPI = app.state.operations
    return Listeners(
        lifespan_app=app,
        servers=[
            Listener("public", server_config(app, settings)),
            Listener(
                "operations",
                server_config(
                    operations, settings, settings.operations_host, settings.operations_port
                ),
            ),
        ],
    )


def server_config(
    app: FastAPI, settings: ServiceSettings, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """uvicorn's configuration: a listener's address and its connection limits.

    The address is the public one unless ``host`` and ``port`` say otherwise;
    the limits are the same on both listeners. ``lifespan="off"``: the
    process runs the service's lifespan once for both (``Listeners``).

    - ``http="h11"``: the one HTTP implementation installed, named so that
      the header limit below holds (httptools would ignore it).
    - ``limit_concurrency`` (``ILMO_HTTP_LIMIT_CONCURRENCY``, 500): open
      connections and requests in progress at once. Past it uvicorn answers
      ``503 Service Unavailable`` (plain text, not problem details) at once
      instead of queueing work it cannot finish in time; a client retries as
      after any 503. 500 is far above a burst of registrations (each answered
      in milliseconds) and below the usual limit of 1024 open files, which
      the database pool and the broker connection share, so the process
      answers 503 rather than failing to accept. With the 1 MiB body cap it
      also bounds the bodies held at once.
    - ``timeout_keep_alive`` (``ILMO_HTTP_KEEP_ALIVE_SECONDS``, 5): an idle
      keep-alive connection holds a slot of the limit above, so it is closed
      soon. Behind a proxy that pools connections to the service, set it
      above the proxy's idle timeout, so the proxy closes first.
    - ``h11_max_incomplete_event_size`` (``ILMO_HTTP_MAX_HEADER_BYTES``,
      16 KiB): the request line and headers together, h11's own default made
      explicit; longer ones are refused with 400. Ilmo's longest address is a
      manage link with a 128-character token.
    - ``backlog`` stays uvicorn's 2048 (the kernel caps it at ``somaxconn``).

    uvicorn has no timeout for a client that sends its request slowly: the
    ingress in front bounds that (docs/security.md).
    """
    return uvicorn.Config(
        app,
        host=settings.http_host if host is None else host,
        port=settings.http_port if port is None else port,
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )


def run_service(
    service: str,
    settings_class: type[SettingsT],
    build_app: Callable[[SettingsT], FastAPI],
) -> None:
    """The body of every service's console command: settings, app, serve."""
    settings = load_settings(settings_class, f"ilmo-{service}")
    serve(build_app(settings), settings, service)

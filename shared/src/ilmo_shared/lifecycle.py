"""How a service comes up, and stays up, while its broker and database come and go.

A service process must start whatever else is up: after a reboot, in a
rolling restart or during a broker upgrade, the broker or the database may be
down when it starts. So the process serves HTTP at once (``/health/live`` 200,
``/health/ready`` 503 naming what it waits for) and connects in the
background, with capped exponential backoff and jitter:

1. **waiting**: the database answers a ping and its indexes are created; a
   broker node accepts a connection (the nodes are tried in turn);
2. **running**: once both are there, queues are declared, consumers start,
   then the outbox relay and the workers; readiness turns 200;
3. **stopping**: the reverse, each step bounded (``stop``).

While running, a watch probes both every second. An outage takes readiness to
503 and recovery brings it back, without a restart: PyMongo reconnects by
itself and aio-pika's robust connection restores channels and consumers. With
several broker nodes, a node that stays unreachable is left for the next one
that answers (``failover_after``).

Each change of a dependency's state is logged once, never each attempt.
An unreachable server is waited for; a server that refuses the credentials is
bad configuration, which no waiting fixes: the lifecycle records a
``ConfigurationRefusedError`` and asks the process to exit (``on_fatal``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog
from aiormq.exceptions import ProbableAuthenticationError
from faststream.rabbit import RabbitBroker
from prometheus_client import Gauge
from pymongo.errors import OperationFailure

from ilmo_shared.backoff import Backoff
from ilmo_shared.messaging.topology import EVENT_EXCHANGES

if TYPE_CHECKING:
    from ilmo_shared.runtime import Infrastructure, ServiceParts

log = structlog.get_logger(__name__)

DEPENDENCY_UP = Gauge(
    "ilmo_dependency_up", "1 while the service reaches this dependency.", ["dependency"]
)
SERVICE_READY = Gauge("ilmo_service_ready", "1 while the service is ready to do its work.")

# MongoDB error codes that mean "these credentials may not do this": waiting cannot help.
_REFUSED_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed
SHUTDOWN_STEP_SECONDS = 20.0


class Dependency(StrEnum):
    BROKER = "broker"
    DATABASE = "database"


class Phase(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    STOPPING = "stopping"


class ConfigurationRefusedError(Exception):
    """A server refused the service's configuration (credentials, permissions)."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


@dataclass(frozen=True)
class Readiness:
    """What ``/health/ready`` answers: ready only when running with both dependencies up."""

    phase: Phase
    # None: not tried yet (the first attempt is under way).
    up: dict[Dependency, bool | None]

    @property
    def ready(self) -> bool:
        return self.phase is Phase.RUNNING and all(self.up.values())

    def body(self) -> dict[str, object]:
        if self.ready:
            status = "ok"
        else:
            status = "starting" if self.phase is Phase.WAITING else "unavailable"
        return {
            "status": status,
            "phase": self.phase.value,
            "checks": {d.value: _check(up) for d, up in self.up.items()},
        }


def _check(up: bool | None) -> str:
    return "connecting" if up is None else ("ok" if up else "failing")


def node_name(url: str) -> str:
    """A broker node as logs may show it: host and port, never the credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (5671 if parts.scheme == 'amqps' else 5672)}"


def _refused_by_broker(error: BaseException) -> bool:
    return isinstance(error, ProbableAuthenticationError) and "ACCESS_REFUSED" in str(error)


async def _bounded(step: str, work: Awaitable[None], seconds: float) -> None:
    """Await one shutdown step, giving up (with a warning) after ``seconds``."""
    try:
        await asyncio.wait_for(work, timeout=seconds)
    except TimeoutError:
        log.warning("shutdown_step_timed_out", step=step, seconds=seconds)
    except Exception as error:
        log.warning("shutdown_step_failed", step=step, error=type(error).__name__)


class Ping:
    """One database ping at a time, given up on after ``timeout`` without waiting for it.

    ``asyncio.wait_for`` waits for the operation it cancels to finish, and a
    PyMongo operation may take long to let go (its condition variables
    re-acquire their lock even when cancelled; its blocking socket calls are
    shielded). The watch loop that tells ``/health/ready`` the database is back
    must never wait on that: a ping that does not answer in time counts as
    "down" at once and is left to end on its own, and no second one starts
    while it has not.
    """

    def __init__(self, ping: Callable[[], Awaitable[object]], timeout: float) -> None:
        self._ping = ping
        self._timeout = timeout
        self._pending: asyncio.Task[object] | None = None

    async def answered(self) -> bool:
        if self._pending is not None and not self._pending.done():
            return False  # the last one has not given up yet
        self._pending = asyncio.ensure_future(self._ping())
        done, _ = await asyncio.wait({self._pending}, timeout=self._timeout)
        if not done:
            self._pending.cancel()
            return False
        return not self._pending.cancelled() and self._pending.exception() is None


class Lifecycle:
    """Owns the order in which a service connects, starts its work, and stops."""

    def __init__(
        self,
        infrastructure: Infrastructure,
        parts: ServiceParts,
        *,
        probe_seconds: float = 1.0,
        connect_timeout: float = 10.0,
        failover_after: float = 10.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self._infrastructure = infrastructure
        self._parts = parts
        self._nodes = [str(url) for url in infrastructure.settings.amqp_url]
        self._node = 0
        self._probe_seconds = probe_seconds
        self._connect_timeout = connect_timeout
        self._failover_after = failover_after
        self._backoff = backoff
        self._database_ping = Ping(lambda: infrastructure.database.command("ping"), 2.0)
        self._up: dict[Dependency, bool | None] = {d: None for d in Dependency}
        self._running = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.phase = Phase.WAITING
        self.problem: ConfigurationRefusedError | None = None
        self.crashed = False
        # Set by whoever runs the process (``runtime.serve``): makes it exit.
        self.on_fatal: Callable[[], None] = lambda: None

    # ------------------------------------------------------------ outside view

    def readiness(self) -> Readiness:
        return Readiness(self.phase, dict(self._up))

    async def running(self) -> None:
        """Return once the service does its work (tests and tools wait on this)."""
        await self._running.wait()

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._run(), name="service-lifecycle")

    async def stop(self) -> None:
        """Stop in the reverse order of starting; quick when still waiting."""
        was_running = self.phase is Phase.RUNNING
        self.phase = Phase.STOPPING
        SERVICE_READY.set(0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        parts, broker = self._parts, self._infrastructure.broker
        if was_running:
            # Stop taking new messages and let in-flight handlers finish, then
            # publish what they stored. Each step is bounded: a shutdown that
            # hangs is worse than one that leaves a message to be redelivered.
            await self._stop_consuming()
            for worker in parts.workers:
                await _bounded("stop_worker", worker.stop(), SHUTDOWN_STEP_SECONDS)
            relay = self._infrastructure.relay
            await _bounded("flush_outbox", relay.stop(), SHUTDOWN_STEP_SECONDS)
        await _bounded("close_broker", broker.stop(), SHUTDOWN_STEP_SECONDS)
        await _bounded("close_database", self._infrastructure.mongo.close(), SHUTDOWN_STEP_SECONDS)
        log.info("service_stopped")

    # ------------------------------------------------------------ the background task

    async def _run(self) -> None:
        try:
            await self._come_up()
            await self._watch()
        except ConfigurationRefusedError as problem:
            self.problem = problem
            log.error("configuration_refused", setting=problem.setting, reason=problem.reason)
            self.on_fatal()
        except Exception:
            # A fault of the service itself: exit, so that a supervisor restarts it.
            self.crashed = True
            log.exception("service_lifecycle_failed")
            self.on_fatal()

    async def _come_up(self) -> None:
        await self._consume_once_connected(self._until_both)
        parts = self._parts
        self._infrastructure.relay.start()
        for worker in parts.workers:
            worker.start()
        self.phase = Phase.RUNNING
        self._running.set()
        SERVICE_READY.set(1)
        log.info(
            "service_started",
            port=self._infrastructure.settings.http_port,
            operations_port=self._infrastructure.settings.operations_port,
            broker=node_name(self._nodes[self._node]),
        )

    async def _until_both(self) -> None:
        try:
            async with asyncio.TaskGroup() as both:
                both.create_task(self._until_database())
                both.create_task(self._until_broker())
        except* ConfigurationRefusedError as refused:
            raise refused.exceptions[0] from None

    async def _consume_once_connected(self, connected: Callable[[], Awaitable[None]]) -> None:
        """Await ``connected()``, then declare the queues and consume; again if a server left."""
        backoff = self._backoff()
        while True:
            await connected()
            try:
                await self._declare_and_consume()
                return
            except ConfigurationRefusedError:
                raise
            except Exception as error:
                # A server went away between answering and the declarations.
                log.warning("consuming_not_started", error=type(error).__name__)
                await self._disconnect_broker()
                await asyncio.sleep(backoff.next_delay())

    async def _declare_and_consume(self) -> None:
        broker = self._infrastructure.broker
        # Both event exchanges, before the relay publishes to either: a
        # service may publish integration events nobody has declared yet.
        for exchange in EVENT_EXCHANGES.values():
            await broker.declare_exchange(exchange)
        for declaration in self._parts.declarations:
            await declaration.declare(broker)
        for subscription in self._parts.subscriptions:
            await subscription.declare(broker)
        await broker.start()

    async def _until_database(self) -> None:
        """Ping, then prepare storage (indexes), retrying with backoff until both succeed."""
        backoff = self._backoff()
        prepare = self._parts.prepare_storage
        while True:
            try:
                await self._infrastructure.database.command("ping")
                await self._give_back_previous_leases()
                if prepare is not None:
                    await prepare()
            except Exception as error:
                if isinstance(error, OperationFailure) and error.code in _REFUSED_CODES:
                    raise ConfigurationRefusedError(
                        "ILMO_MONGODB_URL", f"the database refused the credentials ({error.code})"
                    ) from None
                self._mark(Dependency.DATABASE, False, type(error).__name__)
            else:
                self._mark(Dependency.DATABASE, True)
                return
            await asyncio.sleep(backoff.next_delay())

    async def _give_back_previous_leases(self) -> None:
        """A named replica's previous run may have died holding leases: give them back."""
        leases = self._infrastructure.locks.leases
        if leases is None or not self._infrastructure.settings.replica_name:
            return
        if given_back := await leases.give_back_previous():
            log.info("leases.given_back_at_start", leases=given_back)

    async def _until_broker(self) -> None:
        """Connect to the first node that answers; a whole round of refusals waits a backoff."""
        backoff = self._backoff()
        broker = self._infrastructure.broker
        while True:
            for _ in self._nodes:
                url = self._nodes[self._node]
                point_broker_at(broker, url)
                try:
                    await asyncio.wait_for(broker.connect(), timeout=self._connect_timeout)
                except Exception as error:
                    if _refused_by_broker(error):
                        raise ConfigurationRefusedError(
                            "ILMO_AMQP_URL",
                            f"the broker at {node_name(url)} refused the credentials "
                            "(ACCESS_REFUSED)",
                        ) from None
                    self._mark(Dependency.BROKER, False, type(error).__name__, node_name(url))
                    await self._disconnect_broker()
                    self._node = (self._node + 1) % len(self._nodes)
                else:
                    self._mark(Dependency.BROKER, True, node=node_name(url))
                    return
            await asyncio.sleep(backoff.next_delay())

    async def _watch(self) -> None:
        """Probe both dependencies while running; log changes; leave a broker node that is gone."""
        broker_down_since: float | None = None
        while True:
            await asyncio.sleep(self._probe_seconds)
            database_up = await self._probe_database()
            self._mark(Dependency.DATABASE, database_up, "no answer to ping")
            broker_up = await self._infrastructure.broker.ping(timeout=0.2)
            node = node_name(self._nodes[self._node])
            self._mark(Dependency.BROKER, broker_up, "connection lost", node)
            if broker_up or len(self._nodes) < 2:
                broker_down_since = None
                continue
            broker_down_since = broker_down_since or time.monotonic()
            if time.monotonic() - broker_down_since >= self._failover_after:
                await self._fail_over()
                broker_down_since = None

    async def _probe_database(self) -> bool:
        return await self._database_ping.answered()

    async def _fail_over(self) -> None:
        """The node in use stays unreachable: reconnect to another, and consume there."""
        log.warning("broker_failing_over", left=node_name(self._nodes[self._node]))
        await self._stop_consuming()
        await self._disconnect_broker()
        self._node = (self._node + 1) % len(self._nodes)
        await self._consume_once_connected(self._until_broker)

    # ------------------------------------------------------------ small steps

    async def _stop_consuming(self) -> None:
        for subscriber in self._infrastructure.broker.subscribers:
            await _bounded("stop_consuming", subscriber.stop(), SHUTDOWN_STEP_SECONDS)

    async def _disconnect_broker(self) -> None:
        """Forget a half-made or lost connection, so the next attempt starts clean."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._infrastructure.broker.stop(), timeout=5.0)

    def _mark(
        self, dependency: Dependency, up: bool, reason: str | None = None, node: str | None = None
    ) -> None:
        """Record a dependency's state; log only when it changes."""
        if self._up[dependency] == up:
            return
        self._up[dependency] = up
        DEPENDENCY_UP.labels(dependency.value).set(1 if up else 0)
        fields = {"dependency": dependency.value, "phase": self.phase.value}
        if node is not None:
            fields["node"] = node
        if up:
            log.info("dependency_reachable", **fields)
        else:
            log.warning("dependency_unreachable", reason=reason, **fields)


def point_broker_at(broker: RabbitBroker, url: str) -> None:
    """Make the broker's next connection go to ``url``.

    FastStream takes one URL when the broker is built and keeps it among the
    keyword arguments of aio-pika's ``connect_robust``; it has no public way
    to change it. This is the one place that reaches in, and a unit test
    fails if FastStream stops keeping it there.
    """
    connection_arguments = broker._connection_kwargs
    connection_arguments["url"] = url

"""The four services as real processes, started from their console commands.

End-to-end tests drive these only from outside (HTTP, AMQP, SMTP), exactly as
a client would; each process gets the session's own vhost and databases and two
free ports (its public listener and its operations listener), and its output
goes to a log file that is printed when a test fails to start it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually_sync
from tests.support.registration import ADMIN_TOKEN, MANAGE_LINK_SECRET

SERVICES = ("registration", "capacity", "notification", "streaming")
STREAM_LINK_SECRET = "test-stream-link-secret-0123456789abcdef"
# The rate limits of every service process the tests start: never reached by the harness.
HARNESS_RATE_LIMIT = "1000000/minute"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each held until all are chosen, so none comes twice."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def replica_key(service: str, replica: int) -> str:
    """How ``running_services`` names a process: the service, then ``-2``, ``-3``… for more."""
    return service if replica == 1 else f"{service}-{replica}"


@dataclass
class ServiceProcess:
    """One running service."""

    name: str
    port: int
    operations_port: int
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # 1, 2, … among the processes of one service (``running_services(replicas=…)``).
    replica: int = 1

    @property
    def key(self) -> str:
        """``registration`` for the first replica, ``registration-2`` for the second, …"""
        return replica_key(self.name, self.replica)

    @property
    def url(self) -> str:
        """The public listener: what clients and people reach."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def operations_url(self) -> str:
        """The operations listener: metrics, docs, operator counts."""
        return f"http://127.0.0.1:{self.operations_port}"

    def start(self) -> None:
        command = Path(sys.executable).parent / f"ilmo-{self.name}"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(command)], env=self.environment, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/health/ready`` answers 200: the service does its work."""
        self._wait_for("/health/ready", "ready", timeout)

    def wait_live(self, timeout: float = 30.0) -> None:
        """Until the process answers HTTP at all (``/health/live``)."""
        self._wait_for("/health/live", "live", timeout)

    def _wait_for(self, path: str, state: str, timeout: float) -> None:
        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}{path}", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(answers, what=f"{self.name} {state}", timeout=timeout, detail=self.log)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """``/health/ready`` as (status code, body)."""
        answer = httpx.get(f"{self.url}/health/ready", timeout=2)
        return answer.status_code, dict(answer.json())

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait: the graceful path a process manager takes."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@contextmanager
def running_services(
    infrastructure: IsolatedInfrastructure,
    names: tuple[str, ...] = SERVICES,
    extra_environment: Mapping[str, str] | None = None,
    *,
    wait_ready: bool = True,
    process_type: type[ServiceProcess] = ServiceProcess,
    replicas: int = 1,
) -> Iterator[dict[str, ServiceProcess]]:
    """Start ``names`` as processes, wait until each is ready, stop them all afterwards.

    ``wait_ready=False`` returns once they are started, for tests of a start
    while the broker or the database is away. ``process_type`` starts each
    otherwise than from the venv's console command (tests.support.containers:
    from the container image), with the same settings. ``replicas`` > 1
    starts that many processes of each service on one database and vhost,
    with leases on (``ILMO_REPLICA_LEASES``), keyed ``registration``,
    ``registration-2``, …; links in mails point at the first.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="ilmo-e2e-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("ILMO_")}
    base.update(
        {
            "ILMO_MONGODB_URL": infrastructure.mongodb_url,
            "ILMO_LOG_LEVEL": "INFO",
            "ILMO_DEVELOPMENT_TOKEN": ADMIN_TOKEN,
            "ILMO_MANAGE_LINK_SECRET": MANAGE_LINK_SECRET,
            "ILMO_STREAM_LINK_SECRET": STREAM_LINK_SECRET,
            # The test SMTP servers are plain; the service's default requires STARTTLS.
            "ILMO_SMTP_TLS": "none",
            # Rate limits on, in Redis under the session's prefix, but far above
            # what one test posts: every request of the harness comes from
            # 127.0.0.1, and the chaos run and the benchmark post thousands.
            # Tests of the limits themselves set their own (extra_environment).
            "ILMO_REDIS_URL": infrastructure.redis_url,
            "ILMO_REDIS_KEY_PREFIX": infrastructure.redis_key_prefix,
            "ILMO_RATE_LIMIT_PER_CLIENT": HARNESS_RATE_LIMIT,
            "ILMO_RATE_LIMIT_PER_EVENT": HARNESS_RATE_LIMIT,
            # Requests for a manage link: the client's limit out of the way, the
            # address's left as configured (each test asks about addresses of its own).
            "ILMO_RATE_LIMIT_MANAGE_LINK_PER_CLIENT": HARNESS_RATE_LIMIT,
        }
    )
    chosen = iter(free_ports(2 * len(SERVICES) * replicas))
    ports = {name: next(chosen) for name in SERVICES}
    operations_ports = {name: next(chosen) for name in SERVICES}
    # Where people reach each service: links in emails point at these.
    base["ILMO_REGISTRATION_PUBLIC_URL"] = f"http://127.0.0.1:{ports['registration']}"
    # Where the console asks the other services for counts and mails.
    for other in ("capacity", "notification", "streaming"):
        url = f"http://127.0.0.1:{operations_ports[other]}"
        base[f"ILMO_{other.upper()}_OPERATIONS_URL"] = url
    base.update(extra_environment or {})
    services: dict[str, ServiceProcess] = {}
    try:
        for name in names:
            for replica in range(1, replicas + 1):
                port = ports[name] if replica == 1 else next(chosen)
                operations_port = operations_ports[name] if replica == 1 else next(chosen)
                environment = dict(base)
                environment.update(infrastructure.broker_environment(name))
                environment.update(extra_environment or {})
                environment["ILMO_MONGODB_DATABASE"] = infrastructure.database_name(name)
                environment["ILMO_HTTP_PORT"] = str(port)
                environment["ILMO_OPERATIONS_PORT"] = str(operations_port)
                environment["ILMO_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
                if replicas > 1:
                    environment["ILMO_REPLICA_LEASES"] = "true"
                    environment["ILMO_REPLICA_NAME"] = f"{name}-{replica}"
                key = replica_key(name, replica)
                service = process_type(
                    name,
                    port,
                    operations_port,
                    environment,
                    log_dir / f"{key}.log",
                    replica=replica,
                )
                services[service.key] = service
                service.start()
        for service in services.values():
            if wait_ready:
                service.wait_ready()
        yield services
    finally:
        for service in services.values():
            service.stop()

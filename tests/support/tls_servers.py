"""Servers of the tests' own that speak TLS: FerretDB, Redis and a second RabbitMQ node.

The shared infrastructure is left alone (colleagues and other sessions use
it): each server here runs from a temporary folder on free ports, with a
certificate from the test's own CA (tests.support.tls), and is stopped by
its process id when the test is done. Each waits until its TLS port
accepts connections, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.polling import eventually_sync
from tests.support.processes import free_ports
from tests.support.tls import IssuedCertificate

REPOSITORY = Path(__file__).resolve().parents[2]
FERRETDB = REPOSITORY / ".tools" / "bin" / "ferretdb"
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
REDIS_SERVER = "redis-server"


@dataclass(frozen=True)
class TlsServer:
    """A running server: its TLS port (127.0.0.1) and its log, for failure messages."""

    port: int
    log: Path

    def log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-30:])


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextmanager
def _running(
    command: Sequence[str],
    port: int,
    log: Path,
    *,
    what: str,
    environment: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[TlsServer]:
    """Run ``command`` until the block ends; it is up when ``port`` accepts connections."""
    server = TlsServer(port, log)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
    try:

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{what} exited ({process.returncode}):\n{server.log_tail()}")
            return _accepts(port)

        eventually_sync(
            answers,
            what=f"{what} on port {port}",
            timeout=timeout,
            interval=0.2,
            detail=server.log_tail,
        )
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def ferretdb_over_tls(
    folder: Path, certificate: IssuedCertificate, client_ca: Path | None = None
) -> Iterator[TlsServer]:
    """FerretDB (the binary ``make infra`` builds), SQLite in ``folder``, with a TLS listener.

    With ``client_ca`` it asks every client for a certificate signed by that CA.
    """
    if not FERRETDB.exists():
        raise AssertionError(f"{FERRETDB} is missing: run `make infra` (deploy/local/infra.sh up)")
    data = folder / "ferretdb"
    data.mkdir(parents=True)
    plain, tls = free_ports(2)
    with _running(
        [
            str(FERRETDB),
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            f"--state-dir={data}",
            f"--listen-addr=127.0.0.1:{plain}",
            f"--listen-tls=127.0.0.1:{tls}",
            f"--listen-tls-cert-file={certificate.certificate}",
            f"--listen-tls-key-file={certificate.key}",
            *([f"--listen-tls-ca-file={client_ca}"] if client_ca is not None else []),
            "--debug-addr=127.0.0.1:0",
            "--telemetry=disable",
        ],
        tls,
        folder / "ferretdb.log",
        what="FerretDB over TLS",
    ) as server:
        yield server


@contextmanager
def redis_over_tls(folder: Path, certificate: IssuedCertificate, ca: Path) -> Iterator[TlsServer]:
    """Debian's redis-server (built with TLS) on a TLS port only, keeping nothing on disk."""
    executable = shutil.which(REDIS_SERVER)
    if executable is None:
        raise AssertionError("redis-server is missing: run `make infra` (deploy/local/infra.sh up)")
    (port,) = free_ports(1)
    with _running(
        [
            executable,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(certificate.certificate),
            "--tls-key-file",
            str(certificate.key),
            "--tls-ca-cert-file",
            str(ca),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        port,
        folder / "redis.log",
        what="Redis over TLS",
    ) as server:
        yield server


def rabbitmq_tls_arguments(
    port: int, ca: Path, certificate: IssuedCertificate, *, client_certificates: bool = False
) -> str:
    """The Erlang arguments that give a RabbitMQ node a TLS listener.

    Without ``client_certificates`` the same ones deploy/local/infra.sh gives
    the shared node (port 5671): the server presents its certificate and
    asks clients for none. With it, every client must present one signed by
    ``ca``.
    """
    verify = "verify_peer" if client_certificates else "verify_none"
    required = "true" if client_certificates else "false"
    return (
        f'-rabbit ssl_listeners [{{"127.0.0.1",{port}}}] '
        f'-rabbit ssl_options [{{cacertfile,"{ca}"}},{{certfile,"{certificate.certificate}"}},'
        f'{{keyfile,"{certificate.key}"}},{{verify,{verify}}},{{fail_if_no_peer_cert,{required}}}]'
    )


@contextmanager
def rabbitmq_over_tls(
    folder: Path, certificate: IssuedCertificate, ca: Path, *, client_certificates: bool = False
) -> Iterator[TlsServer]:
    """A RabbitMQ node of the test's own: its own name, ports, database and logs, no plugins.

    Run as the current user with ``HOME`` in ``folder``, so its Erlang
    cookie is its own too; the shared node is never touched.
    """
    if not RABBITMQ_SERVER.exists():
        raise AssertionError(f"{RABBITMQ_SERVER} is missing: run `make infra`")
    folder.mkdir(parents=True, exist_ok=True)
    plugins = folder / "enabled_plugins"
    plugins.write_text("[].\n")
    plain, distribution, tls = free_ports(3)
    environment = {
        **os.environ,
        "HOME": str(folder),
        "RABBITMQ_NODENAME": f"ilmo-tls-{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(plain),
        "RABBITMQ_DIST_PORT": str(distribution),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": rabbitmq_tls_arguments(
            tls, ca, certificate, client_certificates=client_certificates
        ),
    }
    with _running(
        [str(RABBITMQ_SERVER)],
        tls,
        folder / "rabbitmq.log",
        what="RabbitMQ over TLS",
        environment=environment,
        timeout=120.0,
    ) as server:
        yield server

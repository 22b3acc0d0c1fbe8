"""The registration service, as a process, reaches its broker, database and Redis over TLS.

Everything it connects to is the test's own and speaks only what a
production setup would: a RabbitMQ node and FerretDB with certificates of a
throwaway CA, and Redis on a TLS port only. The CA files are settings, the
manage-link secret comes from a file in ``ILMO_SECRETS_DIR``, as in a
container. Ready means the service connected both over TLS and prepared its
storage; with another CA for the database it stays unready and says why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually_sync
from tests.support.processes import ServiceProcess, free_ports
from tests.support.registration import MANAGE_LINK_SECRET
from tests.support.tls import CertificateAuthority
from tests.support.tls_servers import (
    TlsServer,
    ferretdb_over_tls,
    rabbitmq_over_tls,
    redis_over_tls,
)


@dataclass(frozen=True)
class TlsWorld:
    ca: CertificateAuthority
    other: CertificateAuthority
    rabbitmq: TlsServer
    ferretdb: TlsServer
    redis: TlsServer
    folder: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    folder = tmp_path_factory.mktemp("tls-world")
    ca = CertificateAuthority.create(folder / "ca")
    other = CertificateAuthority.create(folder / "other", name="Some other CA")
    with (
        rabbitmq_over_tls(folder / "rabbitmq", ca.issue_server("rabbitmq"), ca.certificate) as rmq,
        ferretdb_over_tls(folder / "db", ca.issue_server("ferretdb")) as db,
        redis_over_tls(folder, ca.issue_server("redis"), ca.certificate) as redis,
    ):
        yield TlsWorld(ca, other, rmq, db, redis, folder)


def registration(world: TlsWorld, database_ca: Path, name: str) -> ServiceProcess:
    """The registration service's process, configured for TLS everywhere (not started)."""
    secrets = world.folder / f"secrets-{name}"
    secrets.mkdir()
    (secrets / "ILMO_MANAGE_LINK_SECRET").write_text(MANAGE_LINK_SECRET + "\n")
    port, operations_port = free_ports(2)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ILMO_")}
    environment.update(
        {
            "ILMO_SECRETS_DIR": str(secrets),
            "ILMO_AMQP_URL": f"amqps://guest:guest@localhost:{world.rabbitmq.port}/",
            "ILMO_AMQP_CA_FILE": str(world.ca.certificate),
            "ILMO_REGISTRATION_BROKER_USER": "guest",
            "ILMO_MONGODB_URL": f"mongodb://localhost:{world.ferretdb.port}/",
            "ILMO_MONGODB_CA_FILE": str(database_ca),
            "ILMO_MONGODB_DATABASE": f"tls_{name}",
            "ILMO_REDIS_URL": f"rediss://localhost:{world.redis.port}/0",
            "ILMO_REDIS_CA_FILE": str(world.ca.certificate),
            "ILMO_HTTP_PORT": str(port),
            "ILMO_OPERATIONS_PORT": str(operations_port),
        }
    )
    return ServiceProcess(
        "registration", port, operations_port, environment, world.folder / f"{name}.log"
    )


def test_registration_is_ready_over_tls_to_broker_and_database(world: TlsWorld) -> None:
    service = registration(world, world.ca.certificate, "trusted")
    service.start()
    try:
        service.wait_ready(timeout=90)
        status, body = service.readiness()
        assert status == 200, body
    finally:
        assert service.stop() == 0, service.log()


def test_registration_with_another_database_ca_stays_unready(world: TlsWorld) -> None:
    service = registration(world, world.other.certificate, "other")
    service.start()
    try:

        def only_the_database_failing() -> dict[str, object] | None:
            try:
                answer = httpx.get(f"{service.url}/health/ready", timeout=2)
            except httpx.HTTPError:
                return None
            body = dict(answer.json())
            failing = {"broker": "ok", "database": "failing"}
            return body if answer.status_code == 503 and body["checks"] == failing else None

        eventually_sync(
            only_the_database_failing,
            what="readiness: broker ok over TLS, database refused",
            timeout=60,
            detail=service.log,
        )
    finally:
        service.stop()

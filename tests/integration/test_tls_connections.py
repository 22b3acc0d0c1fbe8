"""TLS to the database, the broker and Redis, against real servers speaking real TLS.

Each server is the test's own (tests.support.tls_servers) with a certificate
of a throwaway CA (tests.support.tls); the code under test is the services'
own: ``ilmo_shared.storage.connect``, ``Infrastructure.create``'s broker with
the lifecycle's ``point_broker_at``, and registration's ``RateLimits``. Each
connection succeeds with the CA that signed the server's certificate and
fails with another CA, or with a certificate for another host name: what
would break if verification were off.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from prometheus_client import REGISTRY
from pymongo.errors import ServerSelectionTimeoutError
from starlette.requests import Request

from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.http.problems import Problem
from ilmo_shared.lifecycle import point_broker_at
from ilmo_shared.messaging.topology import dead_letter_queue
from ilmo_shared.runtime import Infrastructure
from ilmo_shared.settings import ServiceSettings
from ilmo_shared.storage import connect
from ilmo_shared.tls import client_context
from tests.support.processes import free_port
from tests.support.tls import CertificateAuthority
from tests.support.tls_servers import (
    TlsServer,
    ferretdb_over_tls,
    rabbitmq_over_tls,
    redis_over_tls,
)

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


@dataclass(frozen=True)
class Authorities:
    """The CA that signed the servers' certificates, and another one nobody uses."""

    trusted: CertificateAuthority
    other: CertificateAuthority


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> Authorities:
    folder = tmp_path_factory.mktemp("tls")
    return Authorities(
        CertificateAuthority.create(folder / "trusted"),
        CertificateAuthority.create(folder / "other", name="Some other CA"),
    )


# ---------------------------------------------------------------- MongoDB protocol


@pytest.fixture(scope="module")
def ferretdb(
    authorities: Authorities, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    certificate = authorities.trusted.issue_server("ferretdb")
    with ferretdb_over_tls(tmp_path_factory.mktemp("ferretdb"), certificate) as server:
        yield server


async def test_the_database_is_written_and_read_over_tls(
    ferretdb: TlsServer, authorities: Authorities
) -> None:
    client = connect(
        f"mongodb://localhost:{ferretdb.port}/", ca_file=authorities.trusted.certificate
    )
    database = f"tls_{uuid.uuid4().hex[:8]}"
    try:
        await client[database]["probe"].insert_one({"_id": "one", "seats": 3})
        assert await client[database]["probe"].find_one({"_id": "one"}) == {
            "_id": "one",
            "seats": 3,
        }
    finally:
        await client.drop_database(database)
        await client.close()


async def test_the_database_with_another_ca_is_refused(
    ferretdb: TlsServer, authorities: Authorities
) -> None:
    client = connect(
        f"mongodb://127.0.0.1:{ferretdb.port}/",
        ca_file=authorities.other.certificate,
        server_selection_timeout_ms=3_000,
    )
    try:
        with pytest.raises(ServerSelectionTimeoutError, match=VERIFY_FAILED):
            await client["probe"].command("ping")
    finally:
        await client.close()


async def test_a_database_certificate_for_another_host_is_refused(
    authorities: Authorities, tmp_path: Path
) -> None:
    elsewhere = authorities.trusted.issue_server(
        "elsewhere", names=("db.elsewhere.example",), addresses=()
    )
    with ferretdb_over_tls(tmp_path, elsewhere) as server:
        client = connect(
            f"mongodb://127.0.0.1:{server.port}/",
            ca_file=authorities.trusted.certificate,
            server_selection_timeout_ms=3_000,
        )
        try:
            with pytest.raises(ServerSelectionTimeoutError, match="match"):
                await client["probe"].command("ping")
        finally:
            await client.close()


async def test_a_client_certificate_is_presented_when_the_database_asks(
    authorities: Authorities, tmp_path: Path
) -> None:
    trusted = authorities.trusted
    server = trusted.issue_server("asking")
    client = trusted.issue_client("service")
    with ferretdb_over_tls(tmp_path, server, client_ca=trusted.certificate) as ferretdb:
        url = f"mongodb://localhost:{ferretdb.port}/"
        without = connect(url, ca_file=trusted.certificate, server_selection_timeout_ms=3_000)
        with_certificate = connect(
            url, ca_file=trusted.certificate, client_cert_file=client.combined
        )
        try:
            with pytest.raises(ServerSelectionTimeoutError):
                await without["probe"].command("ping")
            assert (await with_certificate["probe"].command("ping"))["ok"] == 1.0
        finally:
            await without.close()
            await with_certificate.close()


# ---------------------------------------------------------------- RabbitMQ


@pytest.fixture(scope="module")
def rabbitmq(
    authorities: Authorities, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    certificate = authorities.trusted.issue_server("rabbitmq")
    folder = tmp_path_factory.mktemp("rabbitmq")
    with rabbitmq_over_tls(folder, certificate, authorities.trusted.certificate) as server:
        yield server


def broker_settings(rabbitmq: TlsServer, ca: Path) -> ServiceSettings:
    """Two nodes: one that is gone, then the test's TLS node (guest may connect on loopback)."""
    return ServiceSettings(
        amqp_url=f"amqps://guest:guest@127.0.0.1:{free_port()}/,"
        f"amqps://guest:guest@localhost:{rabbitmq.port}/",
        amqp_ca_file=ca,
    )


async def test_the_service_broker_publishes_and_consumes_over_tls_after_moving_node(
    rabbitmq: TlsServer, authorities: Authorities
) -> None:
    settings = broker_settings(rabbitmq, authorities.trusted.certificate)
    broker = Infrastructure.create("capacity", settings).broker
    queue = f"tls-probe-{uuid.uuid4().hex[:8]}"
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @broker.subscriber(queue)
    async def take(body: str) -> None:
        received.set_result(body)

    # What the lifecycle does when the first node is gone: the TLS context stays.
    point_broker_at(broker, str(settings.amqp_url[1]))
    await asyncio.wait_for(broker.start(), timeout=30)
    try:
        await broker.publish("over tls", queue=queue)
        assert await asyncio.wait_for(received, timeout=15) == "over tls"
    finally:
        await broker.stop()


async def test_the_broker_with_another_ca_is_refused(
    rabbitmq: TlsServer, authorities: Authorities
) -> None:
    settings = broker_settings(rabbitmq, authorities.other.certificate)
    broker = Infrastructure.create("capacity", settings).broker
    point_broker_at(broker, str(settings.amqp_url[1]))
    try:
        with pytest.raises(Exception, match=VERIFY_FAILED):
            await asyncio.wait_for(broker.connect(), timeout=30)
    finally:
        await broker.stop()


async def test_a_client_certificate_is_presented_when_the_broker_asks(
    authorities: Authorities, tmp_path: Path
) -> None:
    trusted = authorities.trusted
    client = trusted.issue_client("service")
    with rabbitmq_over_tls(
        tmp_path, trusted.issue_server("asking"), trusted.certificate, client_certificates=True
    ) as node:
        url = f"amqps://guest:guest@localhost:{node.port}/"
        anonymous = Infrastructure.create(
            "capacity", ServiceSettings(amqp_url=url, amqp_ca_file=trusted.certificate)
        ).broker
        known = Infrastructure.create(
            "capacity",
            ServiceSettings(
                amqp_url=url,
                amqp_ca_file=trusted.certificate,
                amqp_client_cert_file=client.certificate,
                amqp_client_key_file=client.key,
            ),
        ).broker
        try:
            # TLS 1.3: the server checks the client's certificate after the
            # handshake and closes the connection (aio-pika: a ConnectionError).
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(anonymous.connect(), timeout=30)
            await asyncio.wait_for(known.connect(), timeout=30)
            assert await known.ping(timeout=5)
        finally:
            await anonymous.stop()
            await known.stop()


def ilmo_dlq_list(rabbitmq: TlsServer, ca: Path, secrets: Path) -> subprocess.CompletedProcess[str]:
    """``ilmo-dlq list capacity`` as an operator runs it in a container: the URL from a file."""
    secrets.mkdir(exist_ok=True)
    (secrets / "ILMO_AMQP_URL").write_text(f"amqps://guest:guest@localhost:{rabbitmq.port}/\n")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ilmo-dlq"), "list", "capacity"],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ILMO_SECRETS_DIR": str(secrets),
            "ILMO_AMQP_CA_FILE": str(ca),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_ilmo_dlq_reads_the_broker_over_tls_with_the_url_from_a_secret_file(
    rabbitmq: TlsServer, authorities: Authorities, tmp_path: Path
) -> None:
    connection = await aio_pika.connect(
        f"amqps://guest:guest@localhost:{rabbitmq.port}/",
        ssl_context=client_context(authorities.trusted.certificate),
    )
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(dead_letter_queue("capacity").name, durable=True)

    finished = await asyncio.to_thread(
        ilmo_dlq_list, rabbitmq, authorities.trusted.certificate, tmp_path
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["capacity.dead-letter: 0 message(s)"]

    refused = await asyncio.to_thread(
        ilmo_dlq_list, rabbitmq, authorities.other.certificate, tmp_path
    )
    assert refused.returncode != 0
    assert "no broker node answers" in refused.stderr


# ---------------------------------------------------------------- Redis


def a_registration_request() -> Request:
    return Request({"type": "http", "client": ("192.0.2.10", 40000), "headers": []})


def unavailable() -> float:
    return REGISTRY.get_sample_value("ilmo_rate_limit_unavailable_total") or 0.0


def redis_limits(server: TlsServer, ca: Path) -> RateLimits:
    return RateLimits(
        RegistrationSettings(
            redis_url=f"rediss://localhost:{server.port}/0",
            redis_ca_file=ca,
            redis_key_prefix=f"tls-{uuid.uuid4().hex[:8]}",
            rate_limit_per_client="1000/minute",
            rate_limit_per_event="2/minute",
        )
    )


@pytest.fixture(scope="module")
def redis(
    authorities: Authorities, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsServer]:
    certificate = authorities.trusted.issue_server("redis")
    folder = tmp_path_factory.mktemp("redis")
    with redis_over_tls(folder, certificate, authorities.trusted.certificate) as server:
        yield server


async def test_the_rate_limits_count_in_redis_over_tls(
    redis: TlsServer, authorities: Authorities
) -> None:
    limits = redis_limits(redis, authorities.trusted.certificate)
    before = unavailable()
    await limits.check_registration(a_registration_request(), "event-1")
    await limits.check_registration(a_registration_request(), "event-1")
    with pytest.raises(Problem) as refused:
        await limits.check_registration(a_registration_request(), "event-1")
    assert refused.value.status == 429
    assert unavailable() == before


async def test_redis_with_another_ca_is_not_used(
    redis: TlsServer, authorities: Authorities
) -> None:
    """The limits fail open (registration goes on) and count that Redis was not reachable."""
    limits = redis_limits(redis, authorities.other.certificate)
    before = unavailable()
    await limits.check_registration(a_registration_request(), "event-1")
    assert unavailable() == before + 1

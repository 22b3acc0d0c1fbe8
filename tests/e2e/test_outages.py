"""Services that start, and keep working, whatever else is up.

Each service process is started while the broker (or the database) is away,
behind a relay that refuses connections. It must answer ``/health/live`` at
once and ``/health/ready`` with 503 naming what it waits for, become ready
within seconds of the server coming back, and then do its work. Bad
configuration is another matter: it stops the service at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
from collections.abc import Callable

import httpx
import pytest

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually, eventually_sync
from tests.support.processes import ServiceProcess, running_services
from tests.support.proxy import relay_to, server_of, through
from tests.support.registration import bearer, create_event, register
from tests.support.smtp import SmtpTestServer, smtp_server

# How long a service may take to be ready once the server it waited for answers:
# the backoff's cap (5 s) and a connection's setup, with room for a loaded machine.
READY_WITHIN = 30.0


def await_readiness(
    services: dict[str, ServiceProcess],
    accept: Callable[[int, dict[str, object]], bool],
    what: str,
    timeout: float = READY_WITHIN,
) -> None:
    """Until every service's ``/health/ready`` satisfies ``accept``."""
    pending = dict(services)
    last: dict[str, tuple[int, dict[str, object]]] = {}

    def all_accepted() -> bool:
        for name, service in list(pending.items()):
            try:
                last[name] = service.readiness()
            except httpx.HTTPError:
                continue
            if accept(*last[name]):
                del pending[name]
        return not pending

    eventually_sync(
        all_accepted,
        what=f"every service {what}",
        timeout=timeout,
        detail=lambda: f"{sorted(pending)} never {what}; last answers {last}",
    )


def waiting_for(dependency: str) -> Callable[[int, dict[str, object]], bool]:
    def accept(status: int, body: dict[str, object]) -> bool:
        checks = body.get("checks")
        return (
            status == 503
            and body.get("status") == "starting"
            and isinstance(checks, dict)
            and checks.get(dependency) == "failing"
        )

    return accept


def ready(status: int, body: dict[str, object]) -> bool:
    return status == 200 and body.get("status") == "ok"


def unavailable(status: int, body: dict[str, object]) -> bool:
    return status == 503 and body.get("status") == "unavailable"


async def a_registration_goes_through(
    services: dict[str, ServiceProcess], smtp: SmtpTestServer
) -> None:
    """One in-person registration gets its seat and its mails: every service did its part."""
    async with httpx.AsyncClient(base_url=services["registration"].url, timeout=10) as client:
        event = await create_event(client)
        receipt = await register(client, event["id"])

        async def seated() -> bool:
            answer = await client.get(
                f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
            )
            return answer.status_code == 200 and answer.json()["status"] == "seat_reserved"

        await eventually(seated, what=f"a seat for {receipt['id']}", timeout=60)
    kinds = {m.kind for m in await smtp.wait_for(2, registration_id=receipt["id"], timeout=60)}
    assert kinds == {"registration_received", "seat_confirmed"}


def mail_to(smtp: SmtpTestServer) -> dict[str, str]:
    return {"ILMO_SMTP_HOST": smtp.host, "ILMO_SMTP_PORT": str(smtp.port)}


@pytest.mark.parametrize(
    ("server", "setting"), [("broker", "amqp_url"), ("database", "mongodb_url")]
)
async def test_services_started_while_a_server_is_down_serve_once_it_answers(
    infrastructure: IsolatedInfrastructure, server: str, setting: str
) -> None:
    url = getattr(infrastructure, setting)
    with smtp_server() as smtp, relay_to(*server_of(url), up=False) as relay:
        if setting == "amqp_url":
            behind = dataclasses.replace(infrastructure, amqp_url=through(url, relay))
        else:
            behind = dataclasses.replace(infrastructure, mongodb_url=through(url, relay))
        with running_services(
            behind, extra_environment=mail_to(smtp), wait_ready=False
        ) as services:
            for service in services.values():
                service.wait_live()
            await_readiness(services, waiting_for(server), f"said they wait for the {server}")

            relay.up()
            await_readiness(services, ready, f"became ready after the {server} came back")
            await a_registration_goes_through(services, smtp)

            # An outage after the start: readiness follows it, no restart needed.
            pids = {name: s.process.pid for name, s in services.items() if s.process}
            relay.down()
            await_readiness(services, unavailable, f"reported the lost {server}")
            relay.up()
            await_readiness(services, ready, f"recovered from the {server} outage")
            assert {n: s.process.pid for n, s in services.items() if s.process} == pids
            await a_registration_goes_through(services, smtp)
            for service in services.values():
                log = service.log_path.read_text()
                # One line per change of state, not one per attempt.
                assert log.count('"dependency_unreachable"') == 2, f"{service.name}:\n{log}"
                assert log.count('"service_started"') == 1


async def test_a_service_uses_whichever_broker_node_answers_and_moves_when_one_is_gone(
    infrastructure: IsolatedInfrastructure,
) -> None:
    host, port = server_of(infrastructure.amqp_url)
    with (
        smtp_server() as smtp,
        relay_to(host, port, up=False) as first,
        relay_to(host, port) as second,
    ):
        # Two "nodes" of one cluster: two relays to the same broker.
        nodes = (
            f"{through(infrastructure.amqp_url, first)},{through(infrastructure.amqp_url, second)}"
        )
        behind = dataclasses.replace(infrastructure, amqp_url=nodes)
        with running_services(
            behind, extra_environment=mail_to(smtp), wait_ready=False
        ) as services:
            await_readiness(services, ready, "became ready on the node that answers")
            await a_registration_goes_through(services, smtp)

            first.up()
            second.down()
            await_readiness(services, unavailable, "reported the lost node")
            # The failover waits ten seconds for the node to come back first.
            await_readiness(services, ready, "moved to the other node", timeout=60)
            await a_registration_goes_through(services, smtp)
            for service in services.values():
                assert '"broker_failing_over"' in service.log_path.read_text(), service.name


async def test_credentials_the_broker_refuses_stop_the_service_naming_the_setting(
    infrastructure: IsolatedInfrastructure,
) -> None:
    user, _ = infrastructure.users["capacity"]
    wrong = {**infrastructure.users, "capacity": (user, "wrong-password")}
    behind = dataclasses.replace(infrastructure, users=wrong)
    with running_services(behind, ("capacity",), wait_ready=False) as services:
        process = services["capacity"].process
        assert process is not None
        exit_code = await asyncio.to_thread(process.wait, 30)
        log = services["capacity"].log()
    assert exit_code == 2, log
    [line] = [line for line in log.splitlines() if "invalid setting" in line]
    assert line.startswith("ilmo-capacity: invalid setting ILMO_AMQP_URL:"), line
    assert "wrong-password" not in log


async def test_sigterm_while_waiting_for_the_servers_stops_the_service_at_once(
    infrastructure: IsolatedInfrastructure,
) -> None:
    with (
        relay_to(*server_of(infrastructure.amqp_url), up=False) as broker,
        relay_to(*server_of(infrastructure.mongodb_url), up=False) as database,
    ):
        behind = dataclasses.replace(
            infrastructure,
            amqp_url=through(infrastructure.amqp_url, broker),
            mongodb_url=through(infrastructure.mongodb_url, database),
        )
        with running_services(behind, ("notification",), wait_ready=False) as services:
            service = services["notification"]
            service.wait_live()
            await_readiness(services, waiting_for("broker"), "said they wait")
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            try:
                exit_code = await asyncio.to_thread(service.process.wait, 10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running 10 s after SIGTERM:\n{service.log()}")
            assert exit_code in (0, -signal.SIGTERM), service.log()
            assert '"service_stopped"' in service.log()

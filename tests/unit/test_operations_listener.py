"""The operations listener's app, and the two listeners served in one loop with one lifespan."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from ilmo_capacity.settings import CapacitySettings
from ilmo_notification.settings import NotificationSettings
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.http.operations import create_operations_app
from ilmo_shared.http.problems import PROBLEM_JSON, install_problem_handlers
from ilmo_shared.identity import Authorization, TokenVerifier
from ilmo_shared.listeners import Listener, Listeners, ListenerUnavailableError
from ilmo_shared.runtime import server_config
from ilmo_shared.settings import ServiceSettings, load_settings
from ilmo_streaming.settings import StreamingSettings
from tests.support.polling import eventually
from tests.support.processes import free_ports
from tests.support.signer import AUDIENCE, TestProvider


class Ready:
    ready = True

    def body(self) -> dict[str, object]:
        return {"status": "ok"}


def _public_app() -> FastAPI:
    app = FastAPI(title="Ilmo test", openapi_url=None, docs_url=None, redoc_url=None)
    install_problem_handlers(app)

    @app.get("/api/v1/things")
    async def things() -> list[str]:
        return []

    return app


def _operator_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/things/count")
    async def count() -> dict[str, int]:
        return {"things": 0}

    return router


DEVELOPMENT_TOKEN = "operations-test-development-token-0123"
OPERATOR = {"Authorization": f"Bearer {DEVELOPMENT_TOKEN}"}


def _authorization(provider: TestProvider | None = None) -> Authorization:
    return Authorization(
        TokenVerifier(
            issuer=provider.issuer if provider else None,
            audience=AUDIENCE,
            development_token=DEVELOPMENT_TOKEN,
            transport=provider.transport() if provider else None,
        )
    )


async def _get(
    app: FastAPI, path: str, headers: dict[str, str] | None = OPERATOR
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as client:
        return await client.get(path, headers=headers)


# ------------------------------------------------------------------ the operations app


async def test_the_operations_app_documents_the_public_api_and_serves_its_own_routes() -> None:
    public = _public_app()
    operations = create_operations_app(public, Ready, _authorization(), [_operator_router()])

    public_api = (await _get(operations, "/openapi.json")).json()
    own = (await _get(operations, "/operations/openapi.json")).json()
    docs = await _get(operations, "/docs")

    assert public_api["info"]["title"] == "Ilmo test"
    assert set(public_api["paths"]) == {"/api/v1/things"}
    assert set(own["paths"]) >= {"/api/v1/things/count", "/health/ready"}
    assert "/api/v1/things" not in own["paths"]
    assert docs.status_code == 200
    assert "'/openapi.json'" in docs.text
    assert (await _get(operations, "/redoc")).status_code == 200
    assert (await _get(operations, "/api/v1/things/count")).json() == {"things": 0}
    assert (await _get(operations, "/health/ready")).json() == {"status": "ok"}


async def test_the_operations_app_serves_metrics_and_answers_problems() -> None:
    operations = create_operations_app(_public_app(), Ready, _authorization())

    metrics = await _get(operations, "/metrics")
    unknown = await _get(operations, "/api/v1/things")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "ilmo_service_ready" in metrics.text
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM_JSON


async def test_only_health_is_open_and_roles_decide_the_rest() -> None:
    provider = TestProvider()
    operations = create_operations_app(
        _public_app(), Ready, _authorization(provider), [_operator_router()]
    )
    everything = ("/metrics", "/docs", "/redoc", "/openapi.json", "/operations/openapi.json")
    for path in (*everything, "/docs/oauth2-redirect", "/api/v1/things/count"):
        refused = await _get(operations, path, headers=None)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == 'Bearer realm="ilmo"'
        assert refused.headers["content-type"] == PROBLEM_JSON
    assert (await _get(operations, "/health/live", headers=None)).status_code == 200

    viewer = {"Authorization": f"Bearer {provider.token(roles=['viewer'])}"}
    operator = {"Authorization": f"Bearer {provider.token(roles=['operator'])}"}
    for path in everything:
        assert (await _get(operations, path, headers=viewer)).status_code == 403, path
        assert (await _get(operations, path, headers=operator)).status_code == 200, path
    assert (await _get(operations, "/api/v1/things/count", headers=viewer)).status_code == 200
    expired = {"Authorization": f"Bearer {provider.token(exp=1)}"}
    answer = await _get(operations, "/metrics", headers=expired)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="ilmo", error="invalid_token"'


# ------------------------------------------------------------------ settings


@pytest.mark.usefixtures("clean_environment")
def test_each_service_has_its_own_operations_port_on_the_loopback() -> None:
    settings = [RegistrationSettings(), CapacitySettings(), NotificationSettings()]
    settings.append(StreamingSettings())

    assert [s.operations_port for s in settings] == [9081, 9082, 9083, 9084]
    assert {s.operations_host for s in settings} == {"127.0.0.1"}


@pytest.mark.usefixtures("clean_environment")
def test_the_operations_port_may_not_be_the_public_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ILMO_HTTP_PORT", "9082")

    with pytest.raises(SystemExit) as exited:
        load_settings(CapacitySettings, "ilmo-capacity")

    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "ilmo-capacity: invalid setting ILMO_OPERATIONS_PORT: "
        "Value error, must differ from ILMO_HTTP_PORT\n"
    )


# ------------------------------------------------------------------ the two listeners


class Recorded:
    """How often the shared lifespan was entered and left."""

    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0


def _listeners(recorded: Recorded) -> tuple[Listeners, list[int]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        recorded.started += 1
        yield
        recorded.stopped += 1

    public = FastAPI(lifespan=lifespan)

    @public.get("/who")
    async def who() -> str:
        return "public"

    operations = FastAPI()

    @operations.get("/who")
    async def who_operations() -> str:
        return "operations"

    ports = free_ports(2)
    settings = ServiceSettings(http_port=ports[0], operations_port=ports[1])
    servers = [
        Listener("public", server_config(public, settings)),
        Listener("operations", server_config(operations, settings, "127.0.0.1", ports[1])),
    ]
    return Listeners(lifespan_app=public, servers=servers), ports


async def _answers(port: int) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return str((await client.get(f"http://127.0.0.1:{port}/who")).json())
    except httpx.HTTPError:
        return None


async def _serving(listeners: Listeners, ports: list[int]) -> asyncio.Task[None]:
    listeners.bind()
    task = asyncio.create_task(listeners.serve())
    for port, name in zip(ports, ("public", "operations"), strict=True):
        await eventually(functools.partial(_answers, port), what=f"{name} listener answers")
    return task


async def test_both_listeners_serve_under_one_lifespan_and_stop_together() -> None:
    recorded = Recorded()
    listeners, ports = _listeners(recorded)
    task = await _serving(listeners, ports)

    assert [await _answers(port) for port in ports] == ["public", "operations"]
    assert (recorded.started, recorded.stopped) == (1, 0)
    assert listeners.started
    listeners.stop()
    await asyncio.wait_for(task, 30)

    assert (recorded.started, recorded.stopped) == (1, 1)
    assert [await _answers(port) for port in ports] == [None, None]


async def test_when_one_listener_ends_the_other_is_stopped_too() -> None:
    recorded = Recorded()
    listeners, ports = _listeners(recorded)
    task = await _serving(listeners, ports)

    listeners.servers[1].should_exit = True
    await asyncio.wait_for(task, 30)

    assert recorded.stopped == 1
    assert await _answers(ports[0]) is None


async def test_sigterm_stops_both_listeners() -> None:
    recorded = Recorded()
    listeners, ports = _listeners(recorded)
    task = await _serving(listeners, ports)

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 30)

    assert all(server.should_exit for server in listeners.servers)
    assert not any(server.force_exit for server in listeners.servers)
    assert recorded.stopped == 1


def test_a_taken_address_is_named_and_nothing_stays_bound() -> None:
    listeners, ports = _listeners(Recorded())

    with (
        socket.create_server(("127.0.0.1", ports[1])),
        pytest.raises(ListenerUnavailableError) as refused,
    ):
        listeners.bind()

    assert refused.value.listener == "operations"
    assert refused.value.address == f"127.0.0.1:{ports[1]}"
    assert "in use" in refused.value.reason
    # The public address it had bound first is free again.
    with socket.create_server(("127.0.0.1", ports[0])):
        pass


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("192.0.2.9", "Cannot assign requested address"),  # TEST-NET-1: no host has it
        # The resolver's words vary (no such name, or no DNS at all): any is fine.
        ("no-such-host.invalid", None),
    ],
)
def test_an_address_that_is_not_this_host_s_is_named_with_why(
    host: str, reason: str | None
) -> None:
    config = server_config(FastAPI(), ServiceSettings(), host, free_ports(1)[0])

    with pytest.raises(ListenerUnavailableError) as refused:
        Listener("operations", config).bind()

    assert refused.value.listener == "operations"
    assert refused.value.address.startswith(f"{host}:")
    assert refused.value.reason == (reason or refused.value.reason)
    assert refused.value.reason

"""The gate in front of the development Hydra: one request at a time, passed on unchanged.

deploy/local/hydra_gate.py is a script, not a package: loaded here from its
file, with the network replaced by an upstream in the test. The gate in front
of the real Hydra is tested in tests/integration/test_identity_provider.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

SCRIPT = Path(__file__).parents[2] / "deploy" / "local" / "hydra_gate.py"
UPSTREAMS = {4444: "http://127.0.0.1:4454", 4445: "http://127.0.0.1:4455"}


@pytest.fixture(scope="module")
def hydra_gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hydra_gate", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hydra_gate"] = module
    spec.loader.exec_module(module)
    return module


class Upstream:
    """Hydra's two ports as the test sees them: what arrived, and how many at once."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.at_once = 0
        self.most_at_once = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        await asyncio.sleep(0.01)  # long enough for other requests to arrive meanwhile
        self.at_once -= 1
        headers = [("Location", "/login?x=1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        return httpx.Response(303, headers=headers, content=b"moved")


def gate_client(hydra_gate: ModuleType, upstream: Upstream, port: int) -> httpx.AsyncClient:
    app = hydra_gate.create_gate(UPSTREAMS, transport=httpx.MockTransport(upstream))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://127.0.0.1:{port}"
    )


async def test_requests_to_both_ports_reach_hydra_one_at_a_time(hydra_gate: ModuleType) -> None:
    upstream = Upstream()
    app = hydra_gate.create_gate(UPSTREAMS, transport=httpx.MockTransport(upstream))
    transport = httpx.ASGITransport(app=app)
    public = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4444")
    admin = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4445")

    answers = await asyncio.gather(
        *(public.get("/oauth2/auth") for _ in range(5)),
        *(admin.get("/admin/clients") for _ in range(5)),
    )

    assert [answer.status_code for answer in answers] == [303] * 10
    assert upstream.most_at_once == 1
    hosts = sorted(str(request.url.copy_with(path="/")) for request in upstream.requests)
    assert hosts == ["http://127.0.0.1:4454/"] * 5 + ["http://127.0.0.1:4455/"] * 5


async def test_a_request_and_its_answer_pass_unchanged(hydra_gate: ModuleType) -> None:
    upstream = Upstream()
    async with gate_client(hydra_gate, upstream, 4445) as client:
        answer = await client.put(
            "/admin/oauth2/auth/requests/login/accept",
            params={"login_challenge": "c-1"},
            json={"subject": "door"},
            headers={"Cookie": "csrf=x"},
        )

    sent = upstream.requests[0]
    assert sent.method == "PUT"
    assert str(sent.url) == (
        "http://127.0.0.1:4455/admin/oauth2/auth/requests/login/accept?login_challenge=c-1"
    )
    assert sent.content == b'{"subject":"door"}'
    assert sent.headers["cookie"] == "csrf=x"
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?x=1"
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert answer.content == b"moved"


async def test_hydra_not_answering_is_a_bad_gateway(hydra_gate: ModuleType) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    app = hydra_gate.create_gate(UPSTREAMS, transport=httpx.MockTransport(refused))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4444") as client:
        answer = await client.get("/.well-known/openid-configuration")

    assert answer.status_code == 502
    assert "Hydra does not answer at http://127.0.0.1:4454" in answer.text

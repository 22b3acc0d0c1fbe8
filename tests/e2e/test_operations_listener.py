"""Each service process serves two listeners: the public one and the operations one.

What operators read (metrics, the API's docs, seat counts, mail summaries,
link counts) answers on the operations address only, and only to a token
(here the development token; tests/integration/test_authorization_matrix.py
tries every role); the public address answers 404 problem details for it,
as for any unknown path. Both stop on
SIGTERM, and an address that cannot be bound stops the process before it
connects to anything.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually_sync
from tests.support.processes import ServiceProcess, running_services
from tests.support.registration import ADMIN, event_payload, unique_id

# The operator routes of each service (beside /metrics, /docs and the OpenAPI
# document, which every service moved); {event} is an event all of them know.
OPERATOR_ROUTES = {
    "registration": (),
    "capacity": ("/api/v1/events/{event}/seats",),
    "notification": ("/api/v1/mails/summary",),
    "streaming": ("/api/v1/events/{event}/stream-links",),
}
MOVED = ("/metrics", "/docs", "/redoc", "/openapi.json", "/operations/openapi.json")


@pytest.fixture(scope="module")
def services(infrastructure: IsolatedInfrastructure) -> Iterator[dict[str, ServiceProcess]]:
    with running_services(infrastructure) as running:
        yield running


@pytest.fixture(scope="module")
def event_id(services: dict[str, ServiceProcess]) -> str:
    """An event every service has heard of, so that its operator routes answer 200."""
    event = event_payload(id=unique_id())
    created = httpx.post(
        f"{services['registration'].url}/api/v1/events", json=event, headers=ADMIN, timeout=30
    )
    assert created.status_code == 201, created.text
    return str(event["id"])


def _known_to_all(services: dict[str, ServiceProcess], event_id: str) -> bool:
    for name, routes in OPERATOR_ROUTES.items():
        for route in routes:
            url = services[name].operations_url + route.format(event=event_id)
            if httpx.get(url, headers=ADMIN, timeout=5).status_code != 200:
                return False
    return True


@pytest.mark.parametrize("name", list(OPERATOR_ROUTES))
def test_what_operators_read_is_on_the_operations_listener_only(
    services: dict[str, ServiceProcess], event_id: str, name: str
) -> None:
    eventually_sync(
        lambda: _known_to_all(services, event_id), what=f"every service to know {event_id}"
    )
    service = services[name]
    paths = [*MOVED, *(route.format(event=event_id) for route in OPERATOR_ROUTES[name])]
    with (
        httpx.Client(base_url=service.url, timeout=5) as public,
        httpx.Client(base_url=service.operations_url, headers=ADMIN, timeout=5) as operations,
        httpx.Client(base_url=service.operations_url, timeout=5) as anonymous,
    ):
        for path in paths:
            assert operations.get(path).status_code == 200, path
            challenged = anonymous.get(path)
            assert challenged.status_code == 401, path
            assert challenged.headers["www-authenticate"] == 'Bearer realm="ilmo"', path
            refused = public.get(path)
            assert refused.status_code == 404, path
            assert refused.headers["content-type"] == "application/problem+json", path
            assert refused.json()["type"] == "/problems/not-found", path
        # Health answers on both: the ingress checks the public one, probes may read either.
        assert public.get("/health/ready").status_code == 200
        assert operations.get("/health/ready").status_code == 200
        assert anonymous.get("/health/ready").status_code == 200
        metrics = operations.get("/metrics").text
        assert "ilmo_service_ready 1.0" in metrics


def test_the_docs_describe_the_public_api(services: dict[str, ServiceProcess]) -> None:
    registration, streaming = services["registration"], services["streaming"]
    public_api = httpx.get(
        f"{registration.operations_url}/openapi.json", headers=ADMIN, timeout=5
    ).json()
    assert "/api/v1/events/{event_id}/registrations" in public_api["paths"]
    assert "/metrics" not in public_api["paths"]
    links = httpx.get(f"{streaming.operations_url}/openapi.json", headers=ADMIN, timeout=5).json()
    assert "/watch/{token}" in links["paths"]
    assert "/api/v1/events/{event_id}/stream-links" not in links["paths"]
    docs = httpx.get(f"{registration.operations_url}/docs", headers=ADMIN, timeout=5)
    assert "/openapi.json" in docs.text
    # The organisers' admin API stays public.
    listed = httpx.get(f"{registration.url}/api/v1/events", headers=ADMIN, timeout=5)
    assert listed.status_code == 200


def test_sigterm_stops_both_listeners_and_a_taken_address_stops_the_process(
    infrastructure: IsolatedInfrastructure,
) -> None:
    with running_services(infrastructure, ("capacity",)) as running:
        capacity = running["capacity"]
        assert capacity.stop() == 0, capacity.log()
        assert '"service_stopped"' in capacity.log()
        for port in (capacity.port, capacity.operations_port):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)

        with socket.create_server(("127.0.0.1", capacity.operations_port)):
            capacity.start()
            assert capacity.process is not None
            assert capacity.process.wait(timeout=30) == 1, capacity.log()
        log = capacity.log().rsplit('"service_stopped"', 1)[1]
        assert '"listener_bind_failed"' in log
        assert '"listener": "operations"' in log
        assert f":{capacity.operations_port}" in log
        # Nothing was started: no connection to the broker or the database was made.
        assert "dependency_reachable" not in log
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{capacity.url}/health/live", timeout=2)

        # Once the address is free again, the same process starts as before.
        capacity.start()
        capacity.wait_ready()

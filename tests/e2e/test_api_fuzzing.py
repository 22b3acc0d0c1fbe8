"""Property-based fuzzing of the registration API from its own OpenAPI schema.

Schemathesis generates requests for every operation the schema documents
(valid and invalid bodies, odd path parameters, with the admin token so the
admin operations are reached too) against the service running as a process.
It checks what a client may rely on: never a 5xx, every JSON API error is
problem details, and nothing is stored by a request that was refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.processes import ServiceProcess, running_services
from tests.support.registration import ADMIN, event_payload

EVENT_ID = "fuzzed-seminar"
EXAMPLES_PER_OPERATION = 30
accepted: list[tuple[str, str]] = []  # (method, path) of every 2xx that may have stored
calls: list[int] = []  # status of every call, to show how much was exercised


@pytest.fixture(scope="module")
def registration(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> Iterator[ServiceProcess]:
    # Configured as in production, with an identity provider, so the console's
    # sign-in pages are fuzzed as they really answer (the client need not
    # exist at the provider: nobody signs in here).
    console = {
        "ILMO_OIDC_ISSUER": identity.issuer,
        "ILMO_OIDC_CLIENT_ID": "fuzzed-console",
        "ILMO_OIDC_CLIENT_SECRET": "fuzzed-console-secret",
    }
    with running_services(
        infrastructure, names=("registration",), extra_environment=console
    ) as services:
        service = services["registration"]
        created = httpx.post(
            f"{service.url}/api/v1/events", json=event_payload(id=EVENT_ID), headers=ADMIN
        )
        assert created.status_code == 201, created.text
        yield service


def test_no_server_errors_and_every_api_error_is_problem_details(
    registration: ServiceProcess,
) -> None:
    # Hypothesis driven by hand rather than through schemathesis' pytest
    # plugin: the schema is only known once the service runs.
    # The public API's document, from the operations listener; the calls go to the public one.
    schema = schemathesis.openapi.from_url(
        f"{registration.operations_url}/openapi.json", headers=dict(ADMIN)
    )
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "the OpenAPI schema is invalid"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 8
    for operation in operations:
        # Half the cases aim at the real event, so the deeper paths (duplicates,
        # the registration window, the admin list) are reached, not only 404s.
        @given(case=st.tuples(operation.as_strategy(), st.booleans()).map(_aimed))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: CI stays reproducible
            suppress_health_check=list(HealthCheck),
        )
        def holds(case: Any) -> None:
            check(case, registration)

        holds()
    print(f"fuzzed {len(operations)} operations with {len(calls)} requests: {Counter(calls)}")


def _aimed(drawn: tuple[Any, bool]) -> Any:
    case, aim = drawn
    if aim and case.path_parameters and "event_id" in case.path_parameters:
        case.path_parameters["event_id"] = EVENT_ID
    return case


def check(case: Any, registration: ServiceProcess) -> None:
    response = case.call(base_url=registration.url, headers=dict(ADMIN), timeout=30)
    calls.append(response.status_code)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if case.path.startswith("/api/") and response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), where
        problem = response.json()
        assert problem["status"] == response.status_code, where
        assert problem["type"].startswith("/problems/"), where
    if 200 <= response.status_code < 300 and case.method in ("POST", "PATCH", "DELETE"):
        accepted.append((case.method, case.formatted_path))


def test_refused_requests_left_nothing_behind(registration: ServiceProcess) -> None:
    """Every stored registration of the fuzzed event came from an accepted POST."""
    answer = httpx.get(f"{registration.url}/api/v1/events/{EVENT_ID}/registrations", headers=ADMIN)
    assert answer.status_code == 200
    stored = answer.json()
    stored = stored if isinstance(stored, list) else stored.get("registrations", [])
    posted = [
        path
        for method, path in accepted
        if method == "POST" and path.endswith(f"/{EVENT_ID}/registrations")
    ]
    assert len(stored) == len(posted)

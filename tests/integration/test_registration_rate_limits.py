"""Rate limits on registration, against the real Redis, database and broker.

Each test counts under its own Redis key prefix (the session's, plus its
own), so that tests and sessions never share counters.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection
from structlog.testing import capture_logs

from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.processes import free_port
from tests.support.registration import create_event, registration_payload, running_registration

TOO_MANY = "/problems/too-many-requests"


def limits(infrastructure: IsolatedInfrastructure, **changes: Any) -> dict[str, Any]:
    """Settings that turn the limits on, under a key prefix of this test's own."""
    values: dict[str, Any] = {
        "redis_url": infrastructure.redis_url,
        "redis_key_prefix": f"{infrastructure.redis_key_prefix}-{uuid.uuid4().hex[:8]}",
        "rate_limit_per_client": "1000/minute",
        "rate_limit_per_event": "1000/minute",
    }
    return {**values, **changes}


async def post(
    client: httpx.AsyncClient, event_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{event_id}/registrations",
        json=registration_payload(),
        headers=headers or {},
    )


async def stored(registrations: AsyncCollection[Document], event_id: str) -> int:
    return await registrations.count_documents({"event_id": event_id})


def unavailable_total() -> float:
    return REGISTRY.get_sample_value("ilmo_rate_limit_unavailable_total") or 0.0


async def test_the_per_client_limit_answers_429_with_retry_after_and_stores_nothing(
    infrastructure: IsolatedInfrastructure, registrations: AsyncCollection[Document]
) -> None:
    settings = limits(infrastructure, rate_limit_per_client="3/minute")
    async with running_registration(infrastructure, **settings) as client:
        event = await create_event(client)
        for _ in range(3):
            assert (await post(client, event["id"])).status_code == 202
        refused = await post(client, event["id"])
        body = assert_problem(refused, 429, TOO_MANY)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["Retry-After"] in body["detail"]
        # Another event is refused too: the limit is the client's.
        other = await create_event(client)
        assert_problem(await post(client, other["id"]), 429, TOO_MANY)
    assert await stored(registrations, event["id"]) == 3
    assert await stored(registrations, other["id"]) == 0


async def test_a_spoofed_forwarded_header_is_ignored_unless_a_proxy_is_trusted(
    infrastructure: IsolatedInfrastructure,
) -> None:
    settings = limits(infrastructure, rate_limit_per_client="2/minute")
    async with running_registration(infrastructure, **settings) as client:
        event = await create_event(client)
        for n in range(2):
            response = await post(client, event["id"], {"X-Forwarded-For": f"198.51.100.{n}"})
            assert response.status_code == 202
        spoofed = await post(client, event["id"], {"X-Forwarded-For": "198.51.100.99"})
        assert_problem(spoofed, 429, TOO_MANY)


async def test_the_per_event_limit_holds_whatever_the_client(
    infrastructure: IsolatedInfrastructure, registrations: AsyncCollection[Document]
) -> None:
    settings = limits(
        infrastructure,
        rate_limit_per_client="1/minute",
        rate_limit_per_event="3/minute",
        trusted_proxy_header="X-Forwarded-For",
    )
    async with running_registration(infrastructure, **settings) as client:
        event = await create_event(client)
        other = await create_event(client)
        for n in range(3):
            forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert (await post(client, event["id"], forwarded)).status_code == 202
        refused = await post(client, event["id"], {"X-Forwarded-For": "203.0.113.50"})
        assert_problem(refused, 429, TOO_MANY)
        assert int(refused.headers["Retry-After"]) >= 1
        # The event's limit is its own: another event still takes a new client.
        fresh = await post(client, other["id"], {"X-Forwarded-For": "203.0.113.51"})
        assert fresh.status_code == 202
    assert await stored(registrations, event["id"]) == 3


async def test_two_replicas_sharing_one_redis_share_the_counters(
    infrastructure: IsolatedInfrastructure, registrations: AsyncCollection[Document]
) -> None:
    settings = limits(infrastructure, rate_limit_per_client="4/minute")
    async with (
        running_registration(infrastructure, **settings) as first,
        running_registration(infrastructure, **settings) as second,
    ):
        event = await create_event(first)
        for client in (first, second, first, second):
            assert (await post(client, event["id"])).status_code == 202
        assert_problem(await post(first, event["id"]), 429, TOO_MANY)
        assert_problem(await post(second, event["id"]), 429, TOO_MANY)
    assert await stored(registrations, event["id"]) == 4


@pytest.mark.filterwarnings("ignore")
async def test_registrations_are_accepted_while_redis_is_down(
    infrastructure: IsolatedInfrastructure, registrations: AsyncCollection[Document]
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = limits(infrastructure, redis_url=down, rate_limit_per_client="1/minute")
    before = unavailable_total()
    async with running_registration(infrastructure, **settings) as client:
        event = await create_event(client)
        with capture_logs() as logs:
            for _ in range(3):
                assert (await post(client, event["id"])).status_code == 202
    assert await stored(registrations, event["id"]) == 3
    assert unavailable_total() - before == 3
    # One warning for the outage (Redis is then left alone for a few seconds),
    # naming no client address.
    warnings = [entry for entry in logs if entry["event"] == "rate_limits_unavailable"]
    assert len(warnings) == 1
    assert "127.0.0.1" not in repr(warnings)


async def test_without_redis_the_limits_are_off_and_the_service_says_so(
    infrastructure: IsolatedInfrastructure,
) -> None:
    with capture_logs() as logs:
        async with running_registration(infrastructure) as client:
            event = await create_event(client)
            for _ in range(3):
                assert (await post(client, event["id"])).status_code == 202
    assert [entry["event"] for entry in logs].count("rate_limits_off") == 1

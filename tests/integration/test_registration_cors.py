"""CORS on the registration service's JSON API, the service running with its real storage.

A script on an allowed site may call the API: the browser's preflight is
answered with the methods and headers the API takes, and the answers name
the site and the headers its script may read. A script on any other site
gets no CORS headers, so its browser keeps the answers from it; the pages
for people and a service without the setting never send CORS headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import (
    create_event,
    registration_payload,
    running_registration,
)

ALLOWED = "https://app.example.fi"
FOREIGN = "https://evil.example.com"


@pytest.fixture
async def api(infrastructure: IsolatedInfrastructure) -> AsyncIterator[httpx.AsyncClient]:
    async with running_registration(
        infrastructure, cors_allowed_origins=(ALLOWED, "http://localhost:5173")
    ) as client:
        yield client


@pytest.fixture
async def event(api: httpx.AsyncClient) -> dict[str, Any]:
    return await create_event(api)


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, accept-language, authorization",
    }


async def test_a_preflight_from_an_allowed_site_is_answered(
    api: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    answer = await api.options(
        f"/api/v1/events/{event['id']}/registrations", headers=preflight(ALLOWED)
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    methods = {m.strip() for m in answer.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    allowed_headers = answer.headers["access-control-allow-headers"].lower()
    for header in ("content-type", "accept-language", "authorization"):
        assert header in allowed_headers
    assert "access-control-allow-credentials" not in answer.headers


async def test_a_preflight_from_a_foreign_site_is_refused(
    api: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    answer = await api.options(
        f"/api/v1/events/{event['id']}/registrations", headers=preflight(FOREIGN)
    )
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_answers_to_an_allowed_site_name_it_and_the_headers_its_script_may_read(
    api: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    answer = await api.post(
        f"/api/v1/events/{event['id']}/registrations",
        json=registration_payload(),
        headers={"Origin": ALLOWED},
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    exposed_list = answer.headers["access-control-expose-headers"].split(",")
    exposed = {header.strip().lower() for header in exposed_list}
    assert {"location", "retry-after", "content-language"} <= exposed
    assert "Origin" in answer.headers["vary"]

    problem = await api.get(
        "/api/v1/events/no-such-event", headers={"Origin": ALLOWED, "Accept-Language": "sv"}
    )
    assert problem.status_code == 404
    assert problem.headers["access-control-allow-origin"] == ALLOWED
    assert problem.headers["content-language"] == "sv"


async def test_answers_to_a_foreign_site_do_not_name_it(
    api: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    answer = await api.get(f"/api/v1/events/{event['id']}", headers={"Origin": FOREIGN})
    assert answer.status_code == 200
    # Starlette lists the exposed headers to anyone; without Allow-Origin they expose nothing.
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-credentials" not in answer.headers


async def test_pages_for_people_are_never_shared(api: httpx.AsyncClient) -> None:
    answer = await api.get(
        "/manage/00000000-0000-4000-8000-000000000000?token=x", headers={"Origin": ALLOWED}
    )
    assert answer.status_code == 404
    assert not [name for name in answer.headers if name.startswith("access-control-")]


async def test_without_the_setting_no_site_is_allowed(
    infrastructure: IsolatedInfrastructure,
) -> None:
    async with running_registration(infrastructure) as plain:
        event = await create_event(plain)
        answer = await plain.get(f"/api/v1/events/{event['id']}", headers={"Origin": ALLOWED})
        refused = await plain.options(
            f"/api/v1/events/{event['id']}/registrations", headers=preflight(ALLOWED)
        )
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    assert refused.status_code == 405
    assert "access-control-allow-origin" not in refused.headers

"""The real server refuses an oversized body with 413 problem details, stores nothing,
and sends the security headers on its JSON answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from pymongo import AsyncMongoClient

from ilmo_registration.storage import EVENT_COLLECTION, REGISTRATION_COLLECTION
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.processes import running_services
from tests.support.registration import (
    ADMIN_TOKEN,
    event_payload,
    registration_payload,
    unique_id,
)

LIMIT = 8192
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Content-Type": "application/json"}


def _padded(payload: dict[str, object], size: int) -> bytes:
    """``payload`` as JSON with trailing spaces, still valid, ``size`` bytes long."""
    body = json.dumps(payload).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_an_oversized_body_is_refused_with_413_and_nothing_is_stored(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = mongo[infrastructure.database_name("registration")]
    event_id, too_big_id = unique_id("limits"), unique_id("too-big")
    event = event_payload(id=event_id)
    many_items = [
        {**event["agenda"][0], "title": {"fi": f"Osio {n}"}, "speakers": []} for n in range(100)
    ]
    # Valid but for its size: a hundred agenda items.
    big_event = event_payload(id=too_big_id, agenda=many_items)
    assert len(json.dumps(big_event)) > LIMIT

    with running_services(
        infrastructure, ("registration",), {"ILMO_MAX_BODY_BYTES": str(LIMIT)}
    ) as services:
        async with httpx.AsyncClient(base_url=services["registration"].url) as client:
            too_big_event = await client.post(
                "/api/v1/events", content=json.dumps(big_event), headers={**ADMIN, **JSON}
            )
            created = await client.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            path = f"/api/v1/events/{event_id}/registrations"
            at_limit = await client.post(
                path,
                content=_chunks(_padded(registration_payload(), LIMIT)),
                headers=JSON,
            )
            over_declared = await client.post(
                path, content=_padded(registration_payload(), LIMIT + 1), headers=JSON
            )
            over_chunked = await client.post(
                path,
                content=_chunks(_padded(registration_payload(), 10 * LIMIT)),
                headers=JSON,
            )

    assert at_limit.status_code == 202, at_limit.text
    for refused in (too_big_event, over_declared, over_chunked):
        assert_problem(refused, 413, "/problems/content-too-large")
        assert refused.json()["detail"] == f"The request body is larger than {LIMIT} bytes."
        assert refused.headers["X-Correlation-ID"]
    assert await database[EVENT_COLLECTION].count_documents({"_id": too_big_id}) == 0
    assert await database[REGISTRATION_COLLECTION].count_documents({"event_id": event_id}) == 1


async def test_json_answers_carry_the_security_headers(
    infrastructure: IsolatedInfrastructure,
) -> None:
    with running_services(infrastructure, ("registration",)) as services:
        registration = services["registration"]
        async with (
            httpx.AsyncClient(base_url=registration.url) as client,
            httpx.AsyncClient(base_url=registration.operations_url, headers=ADMIN) as operations,
        ):
            answers = [
                await client.get("/api/v1/events"),
                await client.post("/api/v1/events", json={}, headers=ADMIN),
                await client.get("/health/ready"),
                await operations.get("/health/ready"),
                await operations.get("/openapi.json"),
                await operations.get("/metrics/nothing-here"),
            ]
            docs = await operations.get("/docs")

    for answer in answers:
        assert answer.headers["Content-Type"].startswith("application/")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Content-Security-Policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in answer.headers
    assert docs.status_code == 200
    assert "Content-Security-Policy" not in docs.headers

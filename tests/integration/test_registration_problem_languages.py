"""The registration service's problem details in the client's language, the service running
with its real storage and broker: Finnish, Swedish, and English when none of them is asked.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from tests.support.registration import ADMIN, MovableClock, event_payload, registration_payload


async def test_an_invalid_event_is_refused_in_swedish_with_the_fields_named_as_ever(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    body = event_payload(now=clock.now, id=f"lang-{uuid.uuid4().hex[:8]}", timezone="Mars/Olympus")
    body["ends_at"] = body["starts_at"]
    answer = await client.post(
        "/api/v1/events", json=body, headers={**ADMIN, "Accept-Language": "sv-FI, en;q=0.5"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-language"] == "sv"
    problem = answer.json()
    assert (problem["type"], problem["status"]) == ("/problems/validation", 422)
    assert problem["title"] == "Begäran innehåller ogiltiga uppgifter"
    assert {"field": "ends_at", "message": "måste vara efter starts_at"} in problem["errors"]
    assert {
        "field": "timezone",
        "message": "måste vara namnet på en IANA-tidszon, t.ex. Europe/Helsinki",
    } in problem["errors"]


async def test_a_registration_before_opening_is_refused_in_finnish(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    opens = (clock.now + timedelta(days=2)).replace(microsecond=0)
    body = event_payload(
        now=clock.now, id=f"lang-{uuid.uuid4().hex[:8]}", registration_opens_at=opens.isoformat()
    )
    created = await client.post("/api/v1/events", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    answer = await client.post(
        f"/api/v1/events/{body['id']}/registrations",
        json=registration_payload(),
        headers={"Accept-Language": "fi"},
    )
    assert answer.status_code == 409, answer.text
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == "/problems/registration-closed"
    assert problem["title"] == "Ilmoittautuminen ei ole auki"
    assert problem["detail"].startswith("Ilmoittautuminen alkaa ")
    assert answer.headers["content-language"] == "fi"


async def test_without_a_language_of_ours_the_answer_is_in_english(
    client: httpx.AsyncClient,
) -> None:
    for header in ({}, {"Accept-Language": "de-DE"}):
        answer = await client.get(
            f"/api/v1/registrations/{uuid.uuid4()}",
            headers={"Authorization": "Bearer not-a-token", **header},
        )
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"type": "/problems/not-found", "title": "Not found", "status": 404}
        assert answer.headers["content-language"] == "en"

"""The event catalogue of the registration service, against the real database and broker."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import EventPublished, EventUpdated
from ilmo_registration.app import build_app
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    bearer,
    create_event,
    event_payload,
    registration_operations,
    registration_payload,
    settings_for,
    unique_id,
)


@pytest.fixture
def events(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    return mongo[infrastructure.database_name("registration")]["events"]


def fields_at_fault(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body["errors"]}


async def test_creating_an_event_needs_a_token(
    client: httpx.AsyncClient, events: AsyncCollection[Document]
) -> None:
    event_id = unique_id()
    body = event_payload(id=event_id)
    for headers in ({}, {"Authorization": "Basic YTpi"}):
        response = await client.post("/api/v1/events", json=body, headers=headers)
        assert_problem(response, 401, "/problems/unauthorized")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="ilmo"'
    response = await client.post("/api/v1/events", json=body, headers=bearer("not-a-token"))
    assert_problem(response, 401, "/problems/unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ilmo", error="invalid_token"'
    assert await events.count_documents({"_id": event_id}) == 0

    response = await client.patch(f"/api/v1/events/{event_id}", json={"published": False})
    assert_problem(response, 401, "/problems/unauthorized")
    response = await client.get(f"/api/v1/events/{event_id}/registrations")
    assert_problem(response, 401, "/problems/unauthorized")


async def test_a_created_event_is_announced_with_its_whole_state(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient
) -> None:
    event_id = unique_id()
    body = event_payload(id=event_id)
    async with event_tap(infrastructure.amqp_url, "event.*") as tap:
        response = await client.post(
            "/api/v1/events", json=body, headers={**ADMIN, "X-Correlation-ID": "create-1"}
        )
        assert response.status_code == 201, response.text
        created = response.json()
        [seen] = [
            m
            for m in await tap.wait_for(1, routing_key="event.published")
            if m.data["event_id"] == event_id
        ]

    assert response.headers["Location"] == f"https://ilmo.example.fi/api/v1/events/{event_id}"
    assert created["id"] == event_id
    assert created["revision"] == 1
    assert created["published"] is True
    assert created["timezone"] == "Europe/Helsinki"
    assert created["stream_url"] == "https://stream.example.fi/seminar"
    assert created["title"] == body["title"]
    assert created["registration_open"] is True
    assert created["starts_at"].endswith(("+02:00", "+03:00"))  # shown in Helsinki time
    assert len(created["agenda"]) == 2
    assert created["agenda"][0]["speakers"][0]["name"] == "Maija Virtanen"

    published = EventPublished.model_validate_json(seen.body)
    assert published.revision == 1
    assert published.in_person_capacity == 40
    assert published.stream_url == "https://stream.example.fi/seminar"
    assert published.venue.arrival_instructions is not None
    assert published.starts_at.isoformat() == created["starts_at"]
    assert seen.headers["cloudEvents:subject"] == event_id
    assert seen.headers["cloudEvents:source"] == "ilmo/registration"
    # Ilmo's own id, answered in the header, travels on; the client's does not.
    assert seen.correlation_id == response.headers["X-Correlation-ID"] != "create-1"
    assert seen.delivery_mode == 2


async def test_an_event_id_is_generated_when_none_is_given_and_a_taken_id_is_refused(
    client: httpx.AsyncClient, events: AsyncCollection[Document]
) -> None:
    response = await client.post("/api/v1/events", json=event_payload(), headers=ADMIN)
    assert response.status_code == 201, response.text
    generated = response.json()["id"]
    assert re.fullmatch(r"tekoaly-hallinnossa-[0-9a-f]{8}", generated)

    response = await client.post(
        "/api/v1/events", json=event_payload(id=generated, in_person_capacity=1), headers=ADMIN
    )
    body = assert_problem(response, 409, "/problems/event-exists")
    assert generated in body["detail"]
    stored = await events.find_one({"_id": generated})
    assert stored is not None
    assert stored["in_person_capacity"] == 40


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": {"sv": "Bara svenska"}}, "title.fi"),
        ({"title": {"fi": "   "}}, "title.fi"),
        ({"ends_at": "2020-01-01T00:00:00+02:00"}, "ends_at"),
        ({"registration_closes_at": "2099-01-01T00:00:00+02:00"}, "registration_closes_at"),
        ({"registration_opens_at": "2099-01-01T00:00:00+02:00"}, "registration_opens_at"),
        ({"in_person_capacity": -1}, "in_person_capacity"),
        ({"in_person_capacity": "many"}, "in_person_capacity"),
        ({"stream_url": "http://stream.example.fi/"}, "stream_url"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"starts_at": "2026-09-11T09:00:00"}, "starts_at"),
        ({"id": "Not A Slug"}, "id"),
        ({"surprise": True}, "surprise"),
        ({"venue": {"name": "Sali"}}, "venue.address"),
        ({"stream_opens_minutes_before": -1}, "stream_opens_minutes_before"),
        ({"stream_opens_minutes_before": 1441}, "stream_opens_minutes_before"),
        ({"stream_closes_minutes_after": "120"}, "stream_closes_minutes_after"),
        ({"stream_closes_minutes_after": 2.5}, "stream_closes_minutes_after"),
    ],
)
async def test_an_invalid_event_is_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    events: AsyncCollection[Document],
    changes: dict[str, Any],
    field: str,
) -> None:
    event_id = unique_id()
    body = {**event_payload(id=event_id), **changes}
    response = await client.post("/api/v1/events", json=body, headers=ADMIN)
    problem = assert_problem(response, 422, "/problems/validation")
    assert field in fields_at_fault(problem), problem
    assert await events.count_documents({"_id": event_id}) == 0


async def test_agenda_items_must_lie_inside_the_event(client: httpx.AsyncClient) -> None:
    body = event_payload()
    body["agenda"][0]["starts_at"] = "2000-01-01T09:00:00+02:00"
    body["agenda"][1]["ends_at"] = "2999-01-01T09:00:00+02:00"
    response = await client.post("/api/v1/events", json=body, headers=ADMIN)
    problem = assert_problem(response, 422, "/problems/validation")
    assert {"agenda.0.starts_at", "agenda.1.ends_at"} <= fields_at_fault(problem)


async def test_a_patch_changes_the_given_fields_and_announces_the_new_state(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    events: AsyncCollection[Document],
) -> None:
    created = await create_event(client)
    event_id = created["id"]
    async with event_tap(infrastructure.amqp_url, "event.updated") as tap:
        response = await client.patch(
            f"/api/v1/events/{event_id}",
            json={"in_person_capacity": 55, "description": None},
            headers=ADMIN,
        )
        assert response.status_code == 200, response.text
        seen = await tap.first_where(lambda m: m.data["event_id"] == event_id, what="its event")
    changed = response.json()
    assert changed["revision"] == 2
    assert changed["in_person_capacity"] == 55
    assert changed["description"] is None
    assert changed["title"] == created["title"]
    assert changed["starts_at"] == created["starts_at"]
    updated = EventUpdated.model_validate_json(seen.body)
    assert (updated.revision, updated.in_person_capacity, updated.description) == (2, 55, None)
    assert updated.title.fi == created["title"]["fi"]

    # Changing nothing stores and announces nothing.
    response = await client.patch(
        f"/api/v1/events/{event_id}", json={"in_person_capacity": 55}, headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["revision"] == 2
    stored = await events.find_one({"_id": event_id})
    assert stored is not None
    assert stored["revision"] == 2


async def test_a_patch_is_validated_as_a_whole_event_and_a_bad_one_changes_nothing(
    client: httpx.AsyncClient, events: AsyncCollection[Document]
) -> None:
    created = await create_event(client)
    event_id = created["id"]
    before = await events.find_one({"_id": event_id}, projection={"outbox": 0})

    cases: list[tuple[dict[str, Any], str]] = [
        ({"ends_at": created["starts_at"]}, "ends_at"),
        ({"title": None}, "title"),
        ({"title": {"en": "English only"}}, "title.fi"),
        ({"id": "another-id"}, "id"),
        ({"stream_url": "ftp://stream.example.fi"}, "stream_url"),
        ({"stream_opens_minutes_before": 1441}, "stream_opens_minutes_before"),
        ({"stream_closes_minutes_after": -5}, "stream_closes_minutes_after"),
        ({"stream_closes_minutes_after": None}, "stream_closes_minutes_after"),
    ]
    for patch, field in cases:
        response = await client.patch(f"/api/v1/events/{event_id}", json=patch, headers=ADMIN)
        problem = assert_problem(response, 422, "/problems/validation")
        assert field in fields_at_fault(problem), (patch, problem)
    assert await events.find_one({"_id": event_id}, projection={"outbox": 0}) == before

    response = await client.patch("/api/v1/events/no-such-event", json={}, headers=ADMIN)
    assert_problem(response, 404, "/problems/not-found")


async def test_the_stream_window_is_stored_shown_to_admins_and_announced(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    events: AsyncCollection[Document],
) -> None:
    event_id = unique_id()
    body = event_payload(
        id=event_id, stream_opens_minutes_before=0, stream_closes_minutes_after=1440
    )
    async with event_tap(infrastructure.amqp_url, "event.*") as tap:
        response = await client.post("/api/v1/events", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        [seen] = [
            m
            for m in await tap.wait_for(1, routing_key="event.published")
            if m.data["event_id"] == event_id
        ]
        created = response.json()
        assert (created["stream_opens_minutes_before"], created["stream_closes_minutes_after"]) == (
            0,
            1440,
        )
        published = EventPublished.model_validate_json(seen.body)
        assert (published.stream_opens_minutes_before, published.stream_closes_minutes_after) == (
            0,
            1440,
        )
        shown = (await client.get(f"/api/v1/events/{event_id}", headers=ADMIN)).json()
        assert (shown["stream_opens_minutes_before"], shown["stream_closes_minutes_after"]) == (
            0,
            1440,
        )

        response = await client.patch(
            f"/api/v1/events/{event_id}", json={"stream_opens_minutes_before": 60}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        assert response.json()["revision"] == 2
        assert response.json()["stream_opens_minutes_before"] == 60
        [updated_message] = [
            m
            for m in await tap.wait_for(1, routing_key="event.updated")
            if m.data["event_id"] == event_id
        ]
    updated = EventUpdated.model_validate_json(updated_message.body)
    assert (updated.stream_opens_minutes_before, updated.stream_closes_minutes_after) == (60, 1440)
    stored = await events.find_one({"_id": event_id})
    assert stored is not None
    assert (stored["stream_opens_minutes_before"], stored["stream_closes_minutes_after"]) == (
        60,
        1440,
    )


async def test_an_event_created_without_a_stream_window_has_the_defaults(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    events: AsyncCollection[Document],
) -> None:
    created = await create_event(client)
    assert (created["stream_opens_minutes_before"], created["stream_closes_minutes_after"]) == (
        30,
        120,
    )
    # An event stored before the window was configurable has no such fields.
    await events.update_one(
        {"_id": created["id"]},
        {"$unset": {"stream_opens_minutes_before": "", "stream_closes_minutes_after": ""}},
    )
    shown = (await client.get(f"/api/v1/events/{created['id']}", headers=ADMIN)).json()
    assert (shown["stream_opens_minutes_before"], shown["stream_closes_minutes_after"]) == (
        30,
        120,
    )
    async with event_tap(infrastructure.amqp_url, "event.updated") as tap:
        response = await client.patch(
            f"/api/v1/events/{created['id']}", json={"in_person_capacity": 41}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        seen = await tap.first_where(
            lambda m: m.data["event_id"] == created["id"], what="its event"
        )
    assert (seen.data["stream_opens_minutes_before"], seen.data["stream_closes_minutes_after"]) == (
        30,
        120,
    )


async def test_only_published_events_are_public(client: httpx.AsyncClient) -> None:
    public = await create_event(client)
    draft = await create_event(client, published=False)

    listed = (await client.get("/api/v1/events")).json()
    ids = {event["id"] for event in listed}
    assert public["id"] in ids
    assert draft["id"] not in ids
    assert all(event["stream_url"] is None for event in listed)

    response = await client.get(f"/api/v1/events/{public['id']}")
    assert response.status_code == 200
    assert response.json()["stream_url"] is None
    assert_problem(await client.get(f"/api/v1/events/{draft['id']}"), 404, "/problems/not-found")
    assert_problem(await client.get("/api/v1/events/no-such-event"), 404, "/problems/not-found")
    response = await client.post(
        f"/api/v1/events/{draft['id']}/registrations", json=registration_payload()
    )
    assert_problem(response, 404, "/problems/not-found")

    # Administrators see drafts and the stream URL; a wrong token is not taken for "public".
    admin_view = await client.get(f"/api/v1/events/{draft['id']}", headers=ADMIN)
    assert admin_view.json()["stream_url"] == "https://stream.example.fi/seminar"
    admin_list = (await client.get("/api/v1/events", headers=ADMIN)).json()
    assert draft["id"] in {event["id"] for event in admin_list}
    assert_problem(
        await client.get("/api/v1/events", headers=bearer("wrong-token-0000000000")),
        401,
        "/problems/unauthorized",
    )

    # Publishing is a change like any other.
    response = await client.patch(
        f"/api/v1/events/{draft['id']}", json={"published": True}, headers=ADMIN
    )
    assert response.json()["published"] is True
    assert (await client.get(f"/api/v1/events/{draft['id']}")).status_code == 200


async def test_unknown_paths_and_methods_answer_with_problem_details(
    client: httpx.AsyncClient,
) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "/problems/not-found")
    response = await client.put("/api/v1/events", json={})
    assert_problem(response, 405, "/problems/method-not-allowed")
    response = await client.post(
        "/api/v1/events",
        content=b"{not json",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "/problems/validation")
    assert fields_at_fault(problem) == {"body"}


async def test_the_openapi_document_shows_the_problem_responses(
    infrastructure: IsolatedInfrastructure,
) -> None:
    async with registration_operations(infrastructure) as operations:
        document = (await operations.get("/openapi.json")).json()
    register = document["paths"]["/api/v1/events/{event_id}/registrations"]["post"]
    assert set(register["responses"]) == {"202", "400", "404", "409", "413", "422", "429", "503"}
    assert "application/problem+json" in register["responses"]["409"]["content"]
    assert "ProblemDetails" in document["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(document)
    cancel = document["paths"]["/api/v1/registrations/{registration_id}"]["delete"]
    assert {"401", "404", "409"} <= set(cancel["responses"])


async def test_every_admin_operation_refuses_without_a_valid_token(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """Function-level authorization: the document's "(admin)" operations, each tried."""
    document = build_app(settings_for(infrastructure)).openapi()
    admin_operations = [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("summary", "").endswith("(admin)")
    ]
    assert len(admin_operations) >= 4, admin_operations  # create, change, list, notice
    for method, template in admin_operations:
        path = template.replace("{event_id}", event["id"])
        for headers in ({}, bearer("wrong-admin-token-0000000000000000")):
            response = await client.request(method, path, json={}, headers=headers)
            assert_problem(response, 401, "/problems/unauthorized")

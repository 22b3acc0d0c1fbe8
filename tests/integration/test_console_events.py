"""The console's events screens in-process: the form, publishing, duplicating, who may do what."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_registration.catalogue import EventSpec
from ilmo_registration.console.event_form import inputs, of_spec
from ilmo_registration.schemas import EventCreate
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.console import SignedIn, csrf_token_in, signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, MovableClock, create_event, unique_id
from tests.support.sample_event import sample_event_script


def seminar(event_id: str) -> dict[str, str]:
    """The sample seminar as its form is sent, under a new id, as a draft."""
    body: dict[str, Any] = sample_event_script().sample_event(date.today())
    body["published"] = False
    spec: EventSpec = EventCreate.model_validate(body).to_spec()
    return inputs(of_spec(spec, event_id))


async def form_post(
    client: httpx.AsyncClient,
    session: SignedIn,
    path: str,
    fields: dict[str, str],
    page: str | None = None,
) -> httpx.Response:
    """POST ``fields`` to ``path`` from the form on ``page`` (by default the same address)."""
    shown = await client.get(page or path, headers=session.headers)
    assert shown.status_code == 200, shown.text
    return await client.post(
        path, data={**fields, "csrf_token": csrf_token_in(shown)}, headers=session.headers
    )


async def audit_actions(client: httpx.AsyncClient, event_id: str) -> list[str]:
    page = await client.get("/api/v1/audit", params={"event_id": event_id}, headers=ADMIN)
    assert page.status_code == 200, page.text
    # Reading the trail is recorded too: what the console did is the rest. Sorted: the
    # tests' clock stands still, so entries of one instant have no order of their own.
    entries = page.json()["entries"]
    return sorted(entry["action"] for entry in entries if entry["action"] != "audit-read")


async def test_an_organiser_creates_the_seminar_from_the_form(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    event_id = unique_id("seminar")

    created = await form_post(client, organiser, "/console/events/new", seminar(event_id))

    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/console/events/{event_id}"
    stored = await client.get(f"/api/v1/events/{event_id}", headers=ADMIN)
    assert stored.json()["title"]["fi"].startswith("Yhteiset työympäristöt")
    assert len(stored.json()["agenda"]) == 5
    assert stored.json()["published"] is False
    assert await audit_actions(client, event_id) == ["event-created"]


async def test_a_form_with_errors_comes_back_with_them_and_everything_typed(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    fields = seminar(unique_id("seminar"))
    fields["ends_at"] = ""
    fields["organiser.email"] = "not-an-address"

    page = await form_post(client, organiser, "/console/events/new?lang=en", fields)

    assert page.status_code == 422
    assert 'href="#f-ends_at"' in page.text
    assert 'href="#f-organiser-email"' in page.text
    assert 'aria-describedby="f-ends_at-error"' in page.text
    assert fields["venue.arrival_instructions.sv"] in page.text  # kept as typed


async def test_the_add_buttons_keep_what_was_typed(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    fields = {"title.fi": "Luonnos", "action": "add:agenda"}

    page = await form_post(client, organiser, "/console/events/new", fields)

    assert page.status_code == 200
    assert 'name="agenda.0.starts_at"' in page.text
    assert 'value="Luonnos"' in page.text
    assert "autofocus" in page.text.split('name="agenda.0.starts_at"')[1].split(">")[0]


async def test_editing_changes_the_event_through_the_same_rules_and_records_the_fields(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    event = await create_event(client, now=clock.now)
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    path = f"/console/events/{event['id']}/edit"
    form = await client.get(path, headers=organiser.headers)
    fields = dict(seminar(event["id"]))  # the same inputs, another content
    fields["in_person_capacity"] = "12"

    saved = await client.post(
        path, data={**fields, "csrf_token": csrf_token_in(form)}, headers=organiser.headers
    )

    assert saved.status_code == 303, saved.text
    stored = (await client.get(f"/api/v1/events/{event['id']}", headers=ADMIN)).json()
    assert stored["in_person_capacity"] == 12
    assert await audit_actions(client, event["id"]) == ["event-changed", "event-created"]


async def test_publishing_asks_first_then_publishes(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    draft = await create_event(client, now=clock.now, published=False)
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    assert (await client.get(f"/events/{draft['id']}")).status_code == 404

    published = await form_post(client, organiser, f"/console/events/{draft['id']}/publish", {})

    assert published.status_code == 303
    assert (await client.get(f"/events/{draft['id']}")).status_code == 200
    unpublished = await form_post(client, organiser, f"/console/events/{draft['id']}/unpublish", {})
    assert unpublished.status_code == 303
    assert (await client.get(f"/events/{draft['id']}")).status_code == 404
    assert await audit_actions(client, draft["id"]) == [
        "event-created",
        "event-published",
        "event-unpublished",
    ]


async def test_duplicating_makes_a_draft_with_the_same_content(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    event = await create_event(client, now=clock.now)
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)

    page = f"/console/events/{event['id']}"
    copied = await form_post(client, organiser, f"{page}/duplicate", {}, page=page)

    assert copied.status_code == 303
    new_id = copied.headers["location"].removeprefix("/console/events/").removesuffix("/edit")
    assert new_id != event["id"]
    copy = (await client.get(f"/api/v1/events/{new_id}", headers=ADMIN)).json()
    assert copy["published"] is False
    assert copy["title"] == event["title"]
    assert copy["agenda"] == event["agenda"]
    assert await audit_actions(client, new_id) == ["event-duplicated"]


async def test_a_viewer_sees_the_event_but_no_form_and_a_forged_post_is_refused(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    event = await create_event(client, now=clock.now)
    viewer = await signed_in(mongo, infrastructure, Role.VIEWER, now=clock.now)
    page = await client.get(f"/console/events/{event['id']}", headers=viewer.headers)
    assert page.status_code == 200
    assert "/edit" not in page.text

    form = await client.get(f"/console/events/{event['id']}/edit", headers=viewer.headers)
    forged = await client.post(
        f"/console/events/{event['id']}/unpublish",
        data={"csrf_token": viewer.csrf_token},
        headers=viewer.headers,
    )

    assert form.status_code == 403
    assert forged.status_code == 403
    assert (await client.get(f"/events/{event['id']}")).status_code == 200


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    event = await create_event(client, now=clock.now)
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    other = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)

    refused = await client.post(
        f"/console/events/{event['id']}/unpublish?lang=en",
        data={"csrf_token": other.csrf_token},
        headers=organiser.headers,
    )

    assert refused.status_code == 403
    assert "Your form could not be checked" in refused.text
    assert (await client.get(f"/events/{event['id']}")).status_code == 200


async def test_the_times_are_shown_in_the_events_zone(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    starts = datetime(2030, 1, 15, 7, 0, tzinfo=UTC)  # 9.00 in Helsinki (winter time)
    event = await create_event(
        client,
        now=clock.now,
        starts_at=starts.isoformat(),
        ends_at=starts.replace(hour=10).isoformat(),
        registration_closes_at=starts.replace(day=10).isoformat(),
        agenda=[],
    )
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)

    form = await client.get(f"/console/events/{event['id']}/edit", headers=organiser.headers)

    assert 'name="starts_at" value="2030-01-15T09:00"' in form.text

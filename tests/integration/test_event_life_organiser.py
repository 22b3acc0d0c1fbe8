"""The organiser's side of the event's life, against the real database and broker.

Cancelling an event (API and console) and messages to registrants
(console): each is stored once, with its events in the same write, however
often it is asked for; a cancelled event takes no registrations and no
changes, and its pages say so.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import EventCancelled, MessageRequested
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.integration.test_console_events import audit_actions, form_post, seminar
from tests.integration.test_registration_calendar import calendar_path
from tests.support.amqp import event_tap
from tests.support.console import signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MovableClock,
    create_event,
    registration_payload,
    unique_id,
)
from tests.support.settling import relayed

NOTE = {"fi": "Tilaisuus siirtyy keväälle.", "en": "The event moves to the spring."}
_MESSAGE_ID = re.compile(r'name="message_id" value="([0-9a-f-]{36})"')


@pytest.fixture
def database(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> dict[str, AsyncCollection[Document]]:
    names = ("events", "messages")
    base = mongo[infrastructure.database_name("registration")]
    return {name: base[name] for name in names}


async def test_cancelling_announces_it_once_in_both_forms_and_a_repeat_answers_the_same(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    database: dict[str, AsyncCollection[Document]],
) -> None:
    created = await create_event(client)
    event_id = created["id"]
    path = f"/api/v1/events/{event_id}/cancellation"
    async with (
        event_tap(infrastructure.amqp_url, "event.cancelled") as internal,
        event_tap(infrastructure.amqp_url, "event.cancelled", exchange="ilmo.events") as outside,
    ):
        first = await client.post(path, json={"note": NOTE}, headers=ADMIN)
        again = await client.post(path, json={"note": {"fi": "Toinen teksti."}}, headers=ADMIN)
        await relayed(internal, database["events"], {"_id": event_id})
        await outside.take_arrived()

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert first.json()["revision"] == created["revision"] + 1
    # The repeat changed nothing: the same revision, time and the first note.
    assert again.json() == first.json()
    assert first.json()["cancellation_note"] == {**NOTE, "sv": None}
    assert first.json()["cancelled_at"] is not None

    [fact] = [m for m in internal.messages if m.data["event_id"] == event_id]
    cancelled = EventCancelled.model_validate_json(fact.body)
    assert cancelled.revision == first.json()["revision"]
    assert cancelled.cancellation_note is not None
    assert cancelled.cancellation_note.fi == NOTE["fi"]
    [announced] = [m for m in outside.messages if m.data["event_id"] == event_id]
    # Outside systems get ids, revision and time: not the organiser's note.
    assert set(announced.data) == {"event_id", "revision", "cancelled_at"}
    assert announced.data["revision"] == cancelled.revision
    assert announced.delivery_mode == 2


async def test_a_cancelled_event_takes_no_registrations_or_changes_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    event_id = (await create_event(client))["id"]
    response = await client.post(
        f"/api/v1/events/{event_id}/cancellation", json={"note": NOTE}, headers=ADMIN
    )
    assert response.status_code == 200, response.text

    refused = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=registration_payload()
    )
    assert_problem(refused, 409, "/problems/event-cancelled")
    changed = await client.patch(
        f"/api/v1/events/{event_id}", json={"in_person_capacity": 10}, headers=ADMIN
    )
    assert_problem(changed, 409, "/problems/event-cancelled")
    unpublished = await client.patch(
        f"/api/v1/events/{event_id}", json={"published": False}, headers=ADMIN
    )
    assert_problem(unpublished, 409, "/problems/event-cancelled")

    for language, said in (
        ("fi", "Tämä tilaisuus on peruttu."),
        ("sv", "Detta evenemang är inställt."),
        ("en", "This event is cancelled."),
    ):
        page = await client.get(f"/events/{event_id}", params={"lang": language})
        assert page.status_code == 200
        assert said in page.text
        assert "/registration" not in page.text  # no Register button
    english = await client.get(f"/events/{event_id}", params={"lang": "en"})
    assert NOTE["en"] in english.text
    form = await client.get(f"/events/{event_id}/registration", params={"lang": "en"})
    assert "This event is cancelled." in form.text


async def test_after_cancellation_nobody_moves_on_site(client: httpx.AsyncClient) -> None:
    event_id = (await create_event(client, email_confirmation=False))["id"]
    taken = await client.post(
        f"/api/v1/events/{event_id}/registrations",
        json=registration_payload(attendance="remote"),
    )
    assert taken.status_code == 202, taken.text
    receipt = taken.json()
    cancelled = await client.post(f"/api/v1/events/{event_id}/cancellation", headers=ADMIN)
    assert cancelled.status_code == 200

    switched = await client.put(
        f"/api/v1/registrations/{receipt['id']}/attendance",
        json={"attendance": "in_person"},
        headers={"Authorization": f"Bearer {receipt['manage_token']}"},
    )
    assert_problem(switched, 409, "/problems/registration-closed")
    # The calendar file behind the manage page now cancels the entry it added.
    ics = await client.get(calendar_path(receipt["id"]))
    [entry] = Calendar.from_ical(ics.content).events
    assert str(entry["STATUS"]) == "CANCELLED"
    assert entry["SEQUENCE"] == 1


async def test_only_a_published_event_can_be_cancelled(client: httpx.AsyncClient) -> None:
    event_id = (await create_event(client, published=False))["id"]
    refused = await client.post(f"/api/v1/events/{event_id}/cancellation", headers=ADMIN)
    assert_problem(refused, 409, "/problems/event-not-published")
    unknown = await client.post(f"/api/v1/events/{unique_id()}/cancellation", headers=ADMIN)
    assert unknown.status_code == 404
    no_token = await client.post(f"/api/v1/events/{event_id}/cancellation")
    assert no_token.status_code == 401
    bad_note = await client.post(
        f"/api/v1/events/{event_id}/cancellation", json={"note": {"sv": "Inställt."}}, headers=ADMIN
    )
    assert_problem(bad_note, 422, "/problems/validation")
    assert "note.fi" in {error["field"] for error in bad_note.json()["errors"]}


async def test_the_console_asks_then_cancels_with_a_note_and_records_it(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    event_id = (await create_event(client))["id"]
    page = await client.get(f"/console/events/{event_id}", headers=organiser.headers)
    assert f"/console/events/{event_id}/cancel" in page.text

    asked = await client.get(
        f"/console/events/{event_id}/cancel", params={"lang": "en"}, headers=organiser.headers
    )
    assert asked.status_code == 200
    assert "This cannot be undone." in asked.text
    path = f"/console/events/{event_id}/cancel"
    # Swedish without Finnish: the note's Finnish input is at fault, nothing is cancelled.
    wrong = await form_post(client, organiser, path, {"note.sv": "Inställt."})
    assert wrong.status_code == 422
    assert 'id="f-note-fi"' in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    shown = await client.get(f"/api/v1/events/{event_id}", headers=ADMIN)
    assert shown.json()["cancelled_at"] is None

    done = await form_post(client, organiser, path, {"note.fi": NOTE["fi"], "note.sv": ""})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/console/events/{event_id}"
    page = await client.get(
        f"/console/events/{event_id}", params={"lang": "en"}, headers=organiser.headers
    )
    assert "Cancelled" in page.text
    assert NOTE["fi"] in page.text
    assert f"/console/events/{event_id}/edit" not in page.text
    edit = await client.get(f"/console/events/{event_id}/edit", headers=organiser.headers)
    assert edit.status_code == 409
    # Asking again is harmless, and recorded once.
    again = await form_post(client, organiser, path, {"note.fi": "Uudestaan."}, page=path)
    assert again.status_code == 303
    assert (await audit_actions(client, event_id)).count("event-cancelled") == 1

    manage_note = (await client.get(f"/api/v1/events/{event_id}", headers=ADMIN)).json()
    assert manage_note["cancellation_note"]["fi"] == NOTE["fi"]


async def test_a_message_is_previewed_then_stored_and_announced_once_when_sent_twice(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    database: dict[str, AsyncCollection[Document]],
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    event_id = (await create_event(client))["id"]
    base = f"/console/events/{event_id}/messages"
    message: dict[str, str] = {
        "audience": "on_site",
        "title.fi": "Sali vaihtuu",
        "title.sv": "Salen byts",
        "body.fi": "Olemme salissa B.\n\nTervetuloa!",
    }
    preview = await form_post(
        client, organiser, f"{base}/preview?lang=en", message, page=f"{base}/new"
    )
    assert preview.status_code == 200, preview.text
    # Each language as read; English falls back to Finnish entirely, Swedish for the body.
    assert "Salen byts" in preview.text
    assert preview.text.count("these readers get the Finnish text") == 2
    # Notification is not running here: the page says so and still offers to send.
    assert "the notification service did not answer" in preview.text
    found = _MESSAGE_ID.search(preview.text)
    assert found is not None
    message_id = found.group(1)

    async with event_tap(infrastructure.amqp_url, "message.requested") as tap:
        sent = [
            await form_post(
                client,
                organiser,
                f"{base}/send",
                {**message, "message_id": message_id},
                page=f"{base}/new",
            )
            for _ in range(2)
        ]
        await relayed(tap, database["messages"], {"_id": message_id})

    for answer in sent:
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"{base}/{message_id}"
    assert await database["messages"].count_documents({"event_id": event_id}) == 1
    [fact] = [m for m in tap.messages if m.data["message_id"] == message_id]
    requested = MessageRequested.model_validate_json(fact.body)
    assert requested.event_id == event_id
    assert requested.audience.value == "on_site"
    assert (requested.title.sv, requested.body.sv) == ("Salen byts", None)
    assert (await audit_actions(client, event_id)).count("message-sent") == 1

    listed = await client.get(base, headers=organiser.headers)
    assert listed.status_code == 200
    assert "Sali vaihtuu" in listed.text
    one = await client.get(f"{base}/{message_id}?lang=en", headers=organiser.headers)
    assert one.status_code == 200
    assert "The notification service did not answer" in one.text


async def test_a_message_without_a_finnish_text_comes_back_naming_the_inputs(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    event_id = (await create_event(client))["id"]
    base = f"/console/events/{event_id}/messages"
    fields = {"audience": "all", "title.sv": "Hej", "body.fi": "x" * 5001}
    answer = await form_post(client, organiser, f"{base}/preview", fields, page=f"{base}/new")
    assert answer.status_code == 422
    assert 'href="#f-title-fi"' in answer.text
    assert 'href="#f-body-fi"' in answer.text
    assert "5000" in answer.text
    forged = await form_post(
        client,
        organiser,
        f"{base}/send",
        {"audience": "all", "title.fi": "Hei", "body.fi": "Teksti", "message_id": "nope"},
        page=f"{base}/new",
    )
    assert forged.status_code == 422


async def test_the_event_form_keeps_reminders_and_the_mails_after_the_event(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    event_id = unique_id("seminar")
    fields: dict[str, Any] = {
        **seminar(event_id),
        "reminders.0.amount": "2",
        "reminders.0.unit": "days",
        "reminders.0.audience": "all",
        "reminders.1.amount": "45",
        "reminders.1.unit": "minutes",
        "reminders.1.audience": "stream",
        "promotion_cutoff_minutes": "90",
        "feedback_url": "https://palaute.example.fi/seminaari",
        "recording_url": "",
    }
    fields.pop("thank_you", None)  # unchecked: no thank-you mail
    created = await form_post(client, organiser, "/console/events/new", fields)
    assert created.status_code == 303, created.text
    stored = (await client.get(f"/api/v1/events/{event_id}", headers=ADMIN)).json()
    assert stored["reminders"] == [
        {"minutes_before": 2880, "audience": "all"},
        {"minutes_before": 45, "audience": "stream"},
    ]
    assert stored["promotion_cutoff_minutes"] == 90
    assert stored["thank_you_minutes_after"] is None
    assert stored["feedback_url"] == "https://palaute.example.fi/seminaari"

    edit = await client.get(f"/console/events/{event_id}/edit", headers=organiser.headers)
    assert 'name="reminders.0.amount" value="2"' in edit.text
    twice = {**fields, "reminders.1.amount": "2", "reminders.1.unit": "days"}
    twice["id"] = unique_id("seminar")
    refused = await form_post(client, organiser, "/console/events/new", twice)
    assert refused.status_code == 422
    assert 'href="#f-reminders-1-amount"' in refused.text


async def test_a_message_put_twice_over_the_api_is_stored_and_announced_once(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    database: dict[str, AsyncCollection[Document]],
) -> None:
    event_id = (await create_event(client))["id"]
    message_id = "6c0f3a56-0d0a-4c8e-9d44-3b1f9a0f2c11"
    path = f"/api/v1/events/{event_id}/messages/{message_id}"
    body = {"audience": "remote", "title": {"fi": "Linkki"}, "body": {"fi": "Katso striimi."}}

    async with event_tap(infrastructure.amqp_url, "message.requested") as tap:
        first = await client.put(path, json=body, headers=ADMIN)
        again = await client.put(path, json={**body, "audience": "all"}, headers=ADMIN)
        await relayed(tap, database["messages"], {"_id": message_id})

    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    # The repeat answers the message as first stored, and changes nothing.
    assert first.json() == again.json()
    assert first.json()["audience"] == "remote"
    assert first.json()["title"]["fi"] == "Linkki"
    assert [m.data["message_id"] for m in tap.messages] == [message_id]
    assert (await audit_actions(client, event_id)).count("message-sent") == 1

    stream_only = await client.put(
        f"/api/v1/events/{event_id}/messages/{message_id[:-1]}0",
        json={**body, "audience": "stream"},
        headers=ADMIN,
    )
    assert_problem(stream_only, 422, "/problems/validation")
    assert stream_only.json()["errors"][0]["field"] == "audience"
    unknown = await client.put(
        f"/api/v1/events/no-such-event/messages/{message_id}", json=body, headers=ADMIN
    )
    assert unknown.status_code == 404

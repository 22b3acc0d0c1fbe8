"""What outside systems see on ``ilmo.events``, and what Ilmo's services see on ``ilmo.internal``.

Two queues bound with ``#``, one to each exchange, as an integrating system
and a service would bind them, watch an event go from draft to published and
a person register, through the registration service against the real
database and broker.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Envelope, RegistrationAccepted, integration
from ilmo_shared.outbox import integration_envelope_id
from ilmo_shared.storage import Document
from tests.support.amqp import ObservedMessage, event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, MovableClock, create_event, registration_payload
from tests.support.settling import relayed

PERSONAL = ("Matti", "Meikäläinen", "Esimerkkikunta", "@example.fi", "stream.example.fi")


@pytest.fixture
def events(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    return mongo[infrastructure.database_name("registration")]["events"]


def about(messages: list[ObservedMessage], subject: str) -> list[ObservedMessage]:
    return [m for m in messages if m.headers.get("cloudEvents:subject") == subject]


async def test_outside_systems_see_published_events_and_registrations_without_personal_data(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    clock: MovableClock,
    events: AsyncCollection[Document],
    registrations: AsyncCollection[Document],
) -> None:
    async with (
        event_tap(infrastructure.amqp_url, exchange="ilmo.events") as outside,
        event_tap(infrastructure.amqp_url, exchange="ilmo.internal") as inside,
    ):
        draft = await create_event(client, now=clock.now, published=False)
        event_id = draft["id"]
        path = f"/api/v1/events/{event_id}"
        for change in ({"in_person_capacity": 30}, {"published": True}, {"in_person_capacity": 50}):
            response = await client.patch(path, json=change, headers=ADMIN)
            assert response.status_code == 200, response.text
        response = await client.post(
            f"{path}/registrations",
            json=registration_payload(needs="Induktiosilmukka", needs_consent=True),
            headers={"X-Correlation-ID": "register-outside"},
        )
        assert response.status_code == 202, response.text
        registration_id = response.json()["id"]
        await relayed(outside, events, {"_id": event_id})
        await relayed(outside, registrations, {"_id": registration_id})
        await inside.take_arrived()

    # Outside: nothing about the draft; announced once published, then updated.
    public = about(outside.messages, event_id)
    assert [m.routing_key for m in public] == ["event.published", "event.updated"]
    published = integration.EventPublished.model_validate_json(public[0].body)
    assert (published.revision, published.in_person_capacity) == (3, 30)
    assert integration.EventUpdated.model_validate_json(public[1].body).in_person_capacity == 50

    [joined] = about(outside.messages, registration_id)
    assert joined.routing_key == "registration.accepted"
    assert set(joined.data) == {
        "registration_id",
        "event_id",
        "attendance",
        "language",
        "registered_at",
    }
    for message in [*public, joined]:
        envelope = Envelope.from_headers(message.headers)
        assert envelope.dataschema == f"urn:ilmo:schema:integration:{message.routing_key}:v1"
        for private in [*PERSONAL, "Induktiosilmukka"]:
            assert private not in message.body.decode(), (message.routing_key, private)
            assert private not in str(message.headers), (message.routing_key, private)

    # Inside: every internal event as before, the draft's included, with personal data.
    internal = about(inside.messages, event_id)
    assert [m.routing_key for m in internal] == ["event.published"] + ["event.updated"] * 3
    assert [m.data["published"] for m in internal] == [False, False, True, True]
    assert internal[0].data["stream_url"] == "https://stream.example.fi/seminar"
    [accepted_message] = about(inside.messages, registration_id)
    accepted = RegistrationAccepted.model_validate_json(accepted_message.body)
    assert (accepted.first_name, accepted.last_name) == ("Matti", "Meikäläinen")
    assert accepted_message.headers["cloudEvents:dataschema"] == (
        "urn:ilmo:schema:registration.accepted:v1"
    )

    # The two forms of one fact: related ids, one correlation id.
    assert joined.message_id == integration_envelope_id(str(accepted_message.message_id))
    assert joined.correlation_id == accepted_message.correlation_id
    assert joined.correlation_id is not None
    # Nothing personal reached the outside exchange from any producer in this run.
    outside_bodies: list[Any] = [m.body.decode() for m in outside.messages]
    assert not any(accepted.email in body for body in outside_bodies)

"""Asking for one's manage link again, over the JSON API and the page, against the real stores.

The app runs in-process against the real database, broker and Redis, on a
clock the tests move. What is checked is what the asker sees (the same answer
whoever asks about whichever address) and what goes to the notification
service (``registration.manage_link_requested``, at most once per interval).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Language, RegistrationManageLinkRequested
from ilmo_shared.storage import Document
from tests.support.amqp import EventTap, event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.pages import Page, page_of
from tests.support.problems import assert_problem
from tests.support.registration import (
    MovableClock,
    bearer,
    create_event,
    register,
    running_registration,
)
from tests.support.settling import relayed

REQUESTED = "registration.manage_link_requested"
# Headers that differ between any two answers, whatever they answer.
PER_REQUEST = {"x-correlation-id", "date"}


def limited(infrastructure: IsolatedInfrastructure, **changes: Any) -> dict[str, Any]:
    """Settings with the limits on, under a Redis key prefix of this test's own."""
    return {
        "redis_url": infrastructure.redis_url,
        "redis_key_prefix": f"{infrastructure.redis_key_prefix}-{uuid.uuid4().hex[:8]}",
        **changes,
    }


@pytest.fixture
async def client(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The service on ``clock`` with its rate limits on, far above what a test asks."""
    settings = limited(
        infrastructure,
        rate_limit_manage_link_per_client="1000/minute",
        rate_limit_manage_link_per_address="1000/minute",
    )
    async with running_registration(infrastructure, clock, **settings) as client:
        yield client


async def ask(client: httpx.AsyncClient, event_id: str, email: str, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{event_id}/manage-link-requests", json={"email": email, **body}
    )


def requests_in(tap: EventTap) -> list[RegistrationManageLinkRequested]:
    return [
        RegistrationManageLinkRequested.model_validate_json(message.body)
        for message in tap.messages
        if message.routing_key == REQUESTED
    ]


def seen(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    """What an asker can tell of an answer: status, body and headers but the per-request ones."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in PER_REQUEST}
    return response.status_code, response.content, headers


async def test_only_a_live_registration_gets_its_link_and_every_asker_the_same_answer(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    clock: MovableClock,
) -> None:
    event = await create_event(client, now=clock.now)
    registered = await register(client, event["id"], email="maija@example.fi", language="sv")
    cancelled = await register(client, event["id"], email="peruttu@example.fi")
    gone = await client.delete(
        f"/api/v1/registrations/{cancelled['id']}", headers=bearer(cancelled["manage_token"])
    )
    assert gone.status_code == 200
    async with event_tap(infrastructure.amqp_url, REQUESTED) as tap:
        answers = [
            await ask(client, event["id"], " MAIJA@example.fi", language="en"),
            await ask(client, event["id"], "nobody@example.fi"),
            await ask(client, event["id"], "peruttu@example.fi"),
        ]
        await relayed(tap, registrations, {"event_id": event["id"]})
        asked = requests_in(tap)

    assert answers[0].status_code == 202, answers[0].text
    assert seen(answers[0]) == seen(answers[1]) == seen(answers[2])
    assert answers[0].headers["Cache-Control"] == "no-store"
    assert answers[0].json()["event_id"] == event["id"]
    assert "maija" not in answers[0].text
    [request] = asked
    assert str(request.registration_id) == registered["id"]
    assert request.event_id == event["id"]
    assert request.awaiting_confirmation is False
    assert request.expires_at is None
    assert request.language is Language.EN
    assert request.requested_at == clock.now.replace(
        microsecond=clock.now.microsecond // 1000 * 1000
    )


async def test_a_pending_registration_gets_its_link_with_its_expiry_at_most_once_a_while(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    clock: MovableClock,
) -> None:
    event = await create_event(client, now=clock.now, email_confirmation=True)
    pending = await register(client, event["id"], email="odottaa@example.fi")
    async with event_tap(infrastructure.amqp_url, REQUESTED) as tap:
        for _ in range(3):  # the second and third come within the interval: nothing more
            assert (await ask(client, event["id"], "odottaa@example.fi")).status_code == 202
        clock.now += timedelta(minutes=5)
        assert (await ask(client, event["id"], "odottaa@example.fi")).status_code == 202
        await relayed(tap, registrations, {"_id": pending["id"]})
        asked = requests_in(tap)

    assert [str(r.registration_id) for r in asked] == [pending["id"], pending["id"]]
    assert all(r.awaiting_confirmation for r in asked)
    assert all(r.expires_at is not None and r.expires_at > clock.now for r in asked)
    assert asked[1].requested_at - asked[0].requested_at == timedelta(minutes=5)
    # Asking changes nothing the registrant sees.
    shown = await client.get(
        f"/api/v1/registrations/{pending['id']}", headers=bearer(pending["manage_token"])
    )
    assert shown.json()["status"] == "pending_confirmation"


async def test_an_unknown_event_and_a_bad_body_are_problem_details(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    event = await create_event(client, now=clock.now)
    draft = await create_event(client, now=clock.now, published=False)
    assert_problem(
        await ask(client, "no-such-event", "maija@example.fi"), 404, "/problems/not-found"
    )
    assert_problem(await ask(client, draft["id"], "maija@example.fi"), 404, "/problems/not-found")
    for body, field in (
        ({"email": "maija.example.fi"}, "email"),
        ({"email": "maija@example.fi", "language": "de"}, "language"),
        ({"email": "maija@example.fi", "extra": 1}, "extra"),
        ({}, "email"),
    ):
        answer = await client.post(f"/api/v1/events/{event['id']}/manage-link-requests", json=body)
        problem = assert_problem(answer, 422, "/problems/validation")
        assert field in {error["field"] for error in problem["errors"]}, problem


# ------------------------------------------------------------------ rate limits


async def test_an_address_is_limited_alike_whether_registered_or_not(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> None:
    settings = limited(
        infrastructure,
        rate_limit_manage_link_per_client="1000/minute",
        rate_limit_manage_link_per_address="3/hour",
    )
    async with running_registration(infrastructure, clock, **settings) as client:
        event = await create_event(client, now=clock.now)
        await register(client, event["id"], email="rajattu@example.fi")
        refusals = []
        for address in ("rajattu@example.fi", "ei.ilmoittautunut@example.fi"):
            for _ in range(3):
                assert (await ask(client, event["id"], address)).status_code == 202
            refusals.append(await ask(client, event["id"], address.upper()))
        # Another address from the same client is not held back.
        assert (await ask(client, event["id"], "kolmas@example.fi")).status_code == 202

    for refused in refusals:
        body = assert_problem(refused, 429, "/problems/too-many-requests")
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused.headers["Retry-After"] in body["detail"]
    assert seen(refusals[0])[0::2] == seen(refusals[1])[0::2]


async def test_a_client_is_limited_whatever_the_addresses(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> None:
    settings = limited(infrastructure, rate_limit_manage_link_per_client="2/minute")
    async with running_registration(infrastructure, clock, **settings) as client:
        event = await create_event(client, now=clock.now)
        for n in range(2):
            assert (await ask(client, event["id"], f"osoite{n}@example.fi")).status_code == 202
        refused = await ask(client, event["id"], "osoite3@example.fi")
        assert_problem(refused, 429, "/problems/too-many-requests")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Registering is counted apart: its own limits.
        await register(client, event["id"])


# ------------------------------------------------------------------ the page


async def open_link_form(client: httpx.AsyncClient, path: str) -> Page:
    response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Cache-Control"] == "no-store"
    return page_of(response)


async def send_link_form(
    client: httpx.AsyncClient, path: str, email: str, page: Page | None = None
) -> httpx.Response:
    """Fill in and send the form as a person does: the form's token and its cookie."""
    page = page or await open_link_form(client, path)
    form = page.form("manage-link")
    action = urljoin(f"http://registration.test{path}", form.action)
    return await client.post(action, data={**form.fields, "email": email})


async def test_the_page_asks_for_the_address_and_answers_alike_in_the_page_language(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    clock: MovableClock,
) -> None:
    event = await create_event(client, now=clock.now)
    registered = await register(client, event["id"], email="sivu@example.fi", language="fi")
    # The event's page and its registration form lead here.
    for page_path in (f"/events/{event['id']}", f"/events/{event['id']}/registration"):
        links = page_of(await client.get(page_path)).links()
        assert any(href.split("?")[0].endswith("manage-link") for href in links), links
    path = f"/events/{event['id']}/manage-link?lang=sv"
    page = await open_link_form(client, path)
    assert page.lang == "sv"
    field = page.by_id("email")
    assert field is not None
    assert (field["type"], field["autocomplete"]) == ("email", "email")
    assert any(label.get("for") == "email" for label in page.named("label"))

    async with event_tap(infrastructure.amqp_url, REQUESTED) as tap:
        answers = [
            await send_link_form(client, path, "sivu@example.fi"),
            await send_link_form(client, path, "ei.ole@example.fi"),
        ]
        await relayed(tap, registrations, {"event_id": event["id"]})
        [request] = requests_in(tap)
    assert str(request.registration_id) == registered["id"]
    assert request.language is Language.SV
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    sent = await client.get(
        urljoin(f"http://registration.test{path}", answers[0].headers["Location"])
    )
    assert sent.status_code == 200
    text = page_of(sent).text
    assert "Om du är anmäld till det här evenemanget med adressen du angav" in text
    assert "sivu@example.fi" not in text


async def test_the_page_shows_what_to_fix_and_refuses_a_form_it_did_not_make(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    event = await create_event(client, now=clock.now)
    path = f"/events/{event['id']}/manage-link?lang=fi"
    wrong = await send_link_form(client, path, "sivu.example.fi")
    assert wrong.status_code == 422
    page = page_of(wrong)
    assert "Kirjoita sähköpostiosoite muodossa nimi@esimerkki.fi." in page.text
    field = page.by_id("email")
    assert field is not None
    assert field["aria-invalid"] == "true"
    assert "email-error" in field["aria-describedby"]
    assert page.form("manage-link").fields["email"] == "sivu.example.fi"
    summary = page.by_id("error-summary-title")
    assert summary is not None
    empty = await send_link_form(client, path, "")
    assert "Kirjoita sähköpostiosoitteesi." in page_of(empty).text

    forged = await client.post(
        f"/events/{event['id']}/manage-link", data={"email": "a@example.fi", "form_token": "x"}
    )
    assert forged.status_code == 403
    unknown = await client.get("/events/no-such-event/manage-link")
    assert unknown.status_code == 404


async def test_the_page_is_rate_limited_as_the_api_is(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> None:
    settings = limited(infrastructure, rate_limit_manage_link_per_address="1/hour")
    async with running_registration(infrastructure, clock, **settings) as client:
        event = await create_event(client, now=clock.now)
        path = f"/events/{event['id']}/manage-link?lang=fi"
        assert (await ask(client, event["id"], "kerran@example.fi")).status_code == 202
        refused = await send_link_form(client, path, "kerran@example.fi")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    page = page_of(refused)
    assert "Linkkiä on juuri pyydetty liian monta kertaa" in page.text
    assert page.form("manage-link").fields["email"] == "kerran@example.fi"

"""The manage page behind the link in emails, and its token on the JSON API.

The app runs in-process against the real database and broker; the link is
the one the notification service writes (``ilmo_shared.manage_links``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ServerSelectionTimeoutError
from structlog.testing import capture_logs

from ilmo_event_contracts import RegistrationCancelled, SeatWaitlisted
from ilmo_registration.storage import RegistrationStore
from ilmo_shared.manage_links import manage_link, manage_link_token
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.pages import Page
from tests.support.polling import eventually
from tests.support.registration import (
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    publish,
    register,
    registration_operations,
)
from tests.support.settling import relayed

PUBLIC_URL = "https://ilmo.example.fi"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def link_token(registration_id: str) -> str:
    return manage_link_token(MANAGE_LINK_SECRET, registration_id)


def page_path(registration_id: str) -> str:
    """The path of the link an email carries, as the notification service builds it."""
    link = urlsplit(manage_link(PUBLIC_URL, MANAGE_LINK_SECRET, registration_id))
    return f"{link.path}?{link.query}"


def assert_page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert "Traceback" not in response.text
    return response.text


async def test_the_link_in_the_email_shows_the_registration_and_its_status(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    receipt = await register(client, event["id"], language="sv", first_name="Åsa")
    html = assert_page(await client.get(page_path(receipt["id"])), 200)
    assert '<html lang="sv">' in html
    assert "AI i förvaltningen" in html
    assert "Åsa" in html
    assert "På plats" in html
    assert "Din anmälan har tagits emot" in html
    assert "kl. " in html
    assert "(finsk tid)" in html  # the zone in words (localized_time.zone_name)
    assert f'action="{receipt["id"]}/cancel"' in html
    assert f'name="token" value="{link_token(receipt["id"])}"' in html

    await publish(
        infrastructure,
        SeatWaitlisted(
            registration_id=uuid.UUID(receipt["id"]),
            event_id=event["id"],
            position=4,
            waitlisted_at=clock.now,
        ),
    )

    async def waitlisted() -> bool:
        response = await client.get(page_path(receipt["id"]))
        return "Du står på reservlistan, som nummer 4 i kön." in response.text

    await eventually(waitlisted, what="the page to show the place in the waiting list")


async def test_a_wrong_link_gets_the_same_404_page_whether_or_not_the_id_exists(
    client: httpx.AsyncClient, registrations: AsyncCollection[Document], event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    other = await register(client, event["id"])
    registration_id = receipt["id"]
    token = link_token(registration_id)
    wrong = [
        f"/manage/{registration_id}?token={link_token(other['id'])}",
        f"/manage/{registration_id}?token={token[:-1]}",
        f"/manage/{registration_id}?token={receipt['manage_token']}",
        f"/manage/{registration_id}?token=%C3%A9{token[2:]}",
        f"/manage/{registration_id}",
        f"/manage/{UNKNOWN_ID}?token={link_token(UNKNOWN_ID)}",
        f"/manage/{UNKNOWN_ID}?token={token}",
        f"/manage/{registration_id.upper()}?token={token}",
        f"/manage/not-an-id?token={token}",
        f"/manage/{registration_id}/somewhere?token={token}",
    ]
    pages = [assert_page(await client.get(path), 404) for path in wrong]
    assert len(set(pages)) == 1
    assert registration_id not in pages[0]
    assert "Page not found" in pages[0]

    # Nor does a wrong token cancel anything.
    for form in ({"token": link_token(other["id"])}, {"token": ""}, {}, {"nothing": "x"}):
        response = await client.post(f"/manage/{registration_id}/cancel", data=form)
        assert assert_page(response, 404) == pages[0]
    response = await client.post(
        f"/manage/{registration_id}/cancel",
        json={"token": token},  # a form is URL-encoded, not JSON
    )
    assert assert_page(response, 404) == pages[0]
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert stored["status"] == "accepted"

    assert_page(await client.put(f"/manage/{registration_id}?token={token}"), 405)


async def test_cancelling_from_the_page_redirects_back_and_cancels_once(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    receipt = await register(client, event["id"], language="en")
    registration_id = receipt["id"]
    token = link_token(registration_id)
    url = f"/manage/{registration_id}/cancel"
    clock.now += timedelta(days=10)  # registration has closed; the event has not started
    async with event_tap(infrastructure.amqp_url, "registration.cancelled") as tap:
        first = await client.post(url, data={"token": token})
        second = await client.post(url, data={"token": token})
        concurrent = await asyncio.gather(
            *(client.post(url, data={"token": token}) for _ in range(5))
        )
        await tap.wait_for(1)
        await relayed(tap, registrations, {"_id": registration_id})  # and a second, were there any
        mine = [m for m in tap.messages if m.data["registration_id"] == registration_id]

    for response in (first, second, *concurrent):
        assert response.status_code == 303, response.text
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    location = first.headers["Location"]
    assert urljoin(f"{PUBLIC_URL}{url}", location) == manage_link(
        PUBLIC_URL, MANAGE_LINK_SECRET, registration_id
    )
    assert len(mine) == 1
    cancelled = RegistrationCancelled.model_validate_json(mine[0].body)
    assert (str(cancelled.registration_id), cancelled.event_id) == (registration_id, event["id"])

    followed = await client.post(url, data={"token": token}, follow_redirects=True)
    html = assert_page(followed, 200)
    assert "Your registration has been cancelled." in html
    assert "<form" not in html
    shown = await client.get(f"/api/v1/registrations/{registration_id}", headers=bearer(token))
    assert shown.json()["status"] == "cancelled"
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert stored["status"] == "cancelled"


async def test_once_the_event_has_started_the_page_cannot_cancel(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    receipt = await register(client, event["id"], language="fi")
    token = link_token(receipt["id"])
    clock.now += timedelta(days=14, minutes=1)
    html = assert_page(await client.get(page_path(receipt["id"])), 200)
    # Only correcting one's details is still offered (until the event ends).
    assert [form.action.rsplit("/", 1)[-1] for form in Page(html).forms] == ["details"]
    assert "Tilaisuus on jo alkanut" in html

    response = await client.post(f"/manage/{receipt['id']}/cancel", data={"token": token})
    html = assert_page(response, 409)
    assert "Tilaisuus on jo alkanut" in html
    assert f'href="../{receipt["id"]}?token={token}"' in html
    shown = await client.get(f"/api/v1/registrations/{receipt['id']}", headers=bearer(token))
    assert shown.json()["status"] == "accepted"


async def test_the_link_token_is_a_bearer_token_on_the_json_api_too(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"])
    other = await register(client, event["id"])
    url = f"/api/v1/registrations/{receipt['id']}"
    token = link_token(receipt["id"])

    by_link = await client.get(url, headers=bearer(token))
    by_receipt = await client.get(url, headers=bearer(receipt["manage_token"]))
    assert by_link.status_code == by_receipt.status_code == 200, by_link.text
    assert by_link.json() == by_receipt.json()

    non_ascii = {b"Authorization": f"Bearer \u00e9{token[1:]}".encode("latin-1")}
    responses = [
        await client.get(url, headers=bearer(link_token(other["id"]))),
        await client.get(url, headers=bearer(other["manage_token"])),
        await client.get(url, headers=non_ascii),
    ]
    for response in responses:
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    response = await client.get(
        f"/api/v1/registrations/{UNKNOWN_ID}", headers=bearer(link_token(UNKNOWN_ID))
    )
    assert response.status_code == 404

    async with event_tap(infrastructure.amqp_url, "registration.cancelled") as tap:
        deleted = await client.delete(url, headers=bearer(token))
        again = await client.delete(url, headers=bearer(receipt["manage_token"]))
        await tap.wait_for(1)
        await relayed(tap, registrations, {"_id": receipt["id"]})
        mine = [m for m in tap.messages if m.data["registration_id"] == receipt["id"]]
    assert deleted.status_code == again.status_code == 200
    assert deleted.json()["status"] == "cancelled"
    assert len(mine) == 1


async def test_a_failure_behind_the_page_is_an_html_page_without_details(
    client: httpx.AsyncClient, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    receipt = await register(client, event["id"], first_name="Maija")

    async def broken(_store: object, _registration_id: str) -> None:
        raise RuntimeError("could not read maija.virtanen@example.fi")

    monkeypatch.setattr(RegistrationStore, "get", broken)
    with capture_logs() as logs:
        response = await client.get(page_path(receipt["id"]))
    html = assert_page(response, 500)
    assert "maija" not in html.lower()
    assert "Something went wrong" in html
    [failure] = [entry for entry in logs if entry["event"] == "request_failed"]
    assert failure["route"] == "/manage/{registration_id}"
    assert "maija" not in repr(logs).lower()

    async def unreachable(_store: object, _registration_id: str) -> None:
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(RegistrationStore, "get", unreachable)
    response = await client.post(
        f"/manage/{receipt['id']}/cancel", data={"token": link_token(receipt["id"])}
    )
    assert_page(response, 503)
    assert response.headers["Retry-After"] == "5"


async def test_the_pages_are_documented_apart_from_the_json_api(
    infrastructure: IsolatedInfrastructure,
) -> None:
    async with registration_operations(infrastructure) as operations:
        document = (await operations.get("/openapi.json")).json()
    page = document["paths"]["/manage/{registration_id}"]["get"]
    assert "text/html" in page["responses"]["200"]["content"]
    assert "422" not in page["responses"]
    assert "token" in {parameter["name"] for parameter in page["parameters"]}
    cancel = document["paths"]["/manage/{registration_id}/cancel"]["post"]
    assert {"303", "404", "409"} <= set(cancel["responses"])
    assert "422" not in cancel["responses"]
    assert "application/x-www-form-urlencoded" in cancel["requestBody"]["content"]


async def test_cancelling_asks_to_be_sure_first_and_keeps_the_chosen_language(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], language="fi", organisation="Kunta")
    registration_id = receipt["id"]
    token = link_token(registration_id)
    manage = Page(assert_page(await client.get(f"{page_path(registration_id)}&lang=en"), 200))
    assert manage.lang == "en"
    assert "Your details" in manage.text
    for held in ("Matti Meikäläinen", "Kunta", "On site", "Finnish", "Not asked"):
        assert held in manage.text, held
    switch = {a["hreflang"]: a["href"] for a in manage.named("a") if a.get("hreflang")}
    assert switch["sv"] == f"?token={token}&lang=sv"

    # The cancel button only opens the step that asks to be sure: nothing changes.
    button = manage.form("cancel")
    assert button.method == "get"
    step_path = f"/manage/{registration_id}/cancel"
    step = Page(assert_page(await client.get(step_path, params=button.fields), 200))
    assert step.lang == "en"
    assert "Do you want to cancel your registration?" in step.text
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert stored["status"] == "accepted"

    confirm = step.form("cancel")
    assert confirm.method == "post"
    done = await client.post(step_path, data=confirm.fields)
    assert done.status_code == 303
    assert done.headers["Location"] == f"../{registration_id}?token={token}&lang=en"
    after = Page(assert_page(await client.get(urljoin(step_path, done.headers["Location"])), 200))
    assert "Your registration has been cancelled." in after.text
    assert after.forms == []
    # Asking again once cancelled leads straight back to the page.
    again = await client.get(step_path, params={"token": token})
    assert again.status_code == 303
    wrong = await client.get(step_path, params={"token": link_token(UNKNOWN_ID)})
    assert_page(wrong, 404)

"""Confirmed addresses and repeat registrations, against the real database and broker.

The event asks for confirmation (``email_confirmation``, on by default): a
registration waits, pending, until the link in the mail is followed (the
mail is the notification service's; its link is derived here as there), and
a repeat of an address is answered like a new registration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import (
    RegistrationAccepted,
    RegistrationExpired,
    RegistrationRepeated,
    RegistrationSubmitted,
)
from ilmo_shared.manage_links import confirmation_link, manage_link_token
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import (
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    create_event,
    register,
    running_registration,
)
from tests.support.settling import relayed

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def event(client: httpx.AsyncClient, clock: MovableClock) -> dict[str, Any]:
    """A published event that asks registrants to confirm their address."""
    return await create_event(client, now=clock.now, email_confirmation=True)


def confirm_path(registration_id: str) -> tuple[str, str]:
    """The confirmation page's path and token, as the mail's link has them."""
    link = urlsplit(confirmation_link("https://x.example", MANAGE_LINK_SECRET, registration_id))
    return link.path, link.query.removeprefix("token=")


async def confirm(client: httpx.AsyncClient, registration_id: str) -> httpx.Response:
    path, token = confirm_path(registration_id)
    return await client.post(path, content=f"token={token}", headers=FORM)


async def test_a_registration_waits_for_its_address_and_counts_from_the_confirmation(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    assert event["email_confirmation"] is True
    async with event_tap(infrastructure.amqp_url, "registration.*") as tap:
        receipt = await register(client, event["id"], email="Aino.Confirm@Example.fi")
        await relayed(tap, registrations, {"_id": receipt["id"]})
        assert receipt["status"] == "pending_confirmation"
        [submitted_message] = tap.messages
        assert submitted_message.routing_key == "registration.submitted"
        submitted = RegistrationSubmitted.model_validate_json(submitted_message.body)
        assert submitted.email == "Aino.Confirm@example.fi"
        assert submitted.expires_at - submitted.submitted_at == timedelta(hours=24)

        url = f"/api/v1/registrations/{receipt['id']}"
        shown = await client.get(url, headers=bearer(receipt["manage_token"]))
        assert shown.json()["status"] == "pending_confirmation"

        # Opening the link (as a mail scanner would) shows a button and changes nothing.
        path, token = confirm_path(receipt["id"])
        page = await client.get(path, params={"token": token})
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert token in page.text
        assert page.headers["Cache-Control"] == "no-store"
        wrong = await client.get(
            path, params={"token": manage_link_token(MANAGE_LINK_SECRET, receipt["id"])}
        )
        assert wrong.status_code == 404
        stored = await registrations.find_one({"_id": receipt["id"]})
        assert stored is not None
        assert stored["status"] == "pending_confirmation"

        clock.now += timedelta(hours=2)
        confirmed = await confirm(client, receipt["id"])
        assert confirmed.status_code == 303, confirmed.text
        manage = confirmed.headers["Location"]
        assert manage.startswith(f"../manage/{receipt['id']}?token=")
        again = await confirm(client, receipt["id"])
        assert again.status_code == 303
        await relayed(tap, registrations, {"_id": receipt["id"]})

    accepted_messages = [m for m in tap.messages if m.routing_key == "registration.accepted"]
    assert len(accepted_messages) == 1
    accepted = RegistrationAccepted.model_validate_json(accepted_messages[0].body)
    assert accepted.email_confirmed is True
    # The deadline and the waiting-list order count from the confirmation.
    assert accepted.registered_at == submitted.submitted_at + timedelta(hours=2)
    shown = await client.get(url, headers=bearer(receipt["manage_token"]))
    assert shown.json()["status"] == "accepted"
    manage_page = await client.get(
        f"/manage/{receipt['id']}", params={"token": manage.split("token=")[1]}
    )
    assert manage_page.status_code == 200


async def test_only_accepted_registrations_reach_outside_systems(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    async with event_tap(infrastructure.amqp_url, "registration.*", exchange="ilmo.events") as tap:
        receipt = await register(client, event["id"])
        await register(client, event["id"], email="someone.else@example.fi")
        await relayed(tap, registrations, {"event_id": event["id"]})
        assert tap.messages == []
        assert (await confirm(client, receipt["id"])).status_code == 303
        [seen] = await tap.wait_for(1)
    assert seen.routing_key == "registration.accepted"
    assert "email" not in seen.data


async def test_a_repeat_registration_is_answered_like_a_new_one_and_mails_at_most_once_a_while(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    async with event_tap(infrastructure.amqp_url, "registration.repeated") as tap:
        first = await register(client, event["id"], email="repeat@example.fi")
        second = await register(client, event["id"], email=" REPEAT@example.fi")
        quiet = await register(client, event["id"], email="repeat@example.fi")
        clock.now += timedelta(minutes=16)
        later = await register(client, event["id"], email="repeat@example.fi")
        await relayed(tap, registrations, {"_id": first["id"]})
        pending_repeats = [RegistrationRepeated.model_validate_json(m.body) for m in tap.messages]

        assert (await confirm(client, first["id"])).status_code == 303
        clock.now += timedelta(minutes=16)
        active = await register(client, event["id"], email="repeat@example.fi")
        await relayed(tap, registrations, {"_id": first["id"]})
        repeats = [RegistrationRepeated.model_validate_json(m.body) for m in tap.messages]

    for receipt in (second, quiet, later, active):
        assert set(receipt) == set(first)
        assert receipt["status"] == "pending_confirmation"
        assert receipt["id"] != first["id"]
        assert len(receipt["manage_token"]) == len(first["manage_token"])
        # The id and token of a repeat lead nowhere: the same 404 as an unknown id.
        response = await client.get(
            f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
        )
        assert response.status_code == 404
    assert await registrations.count_documents({"event_id": event["id"]}) == 1
    # The second repeat came within the interval: it was not told again.
    assert [(str(r.registration_id), r.awaiting_confirmation) for r in pending_repeats] == [
        (first["id"], True),
        (first["id"], True),
    ]
    assert pending_repeats[0].expires_at is not None
    assert [(str(r.registration_id), r.awaiting_confirmation) for r in repeats[2:]] == [
        (first["id"], False)
    ]


async def test_an_unconfirmed_registration_expires_blocks_nobody_and_leaves_no_personal_data(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    async with event_tap(infrastructure.amqp_url, "registration.*") as tap:
        old = await register(
            client, event["id"], email="late@example.fi", needs="Tulkkaus", needs_consent=True
        )
        clock.now += timedelta(hours=24, seconds=1)
        new = await register(client, event["id"], email="late@example.fi")
        await relayed(tap, registrations, {"event_id": event["id"]})

    assert new["status"] == "pending_confirmation"
    stored_new = await registrations.find_one({"_id": new["id"]})
    assert stored_new is not None
    assert stored_new["status"] == "pending_confirmation"
    expired = await registrations.find_one({"_id": old["id"]})
    assert expired is not None
    assert expired["status"] == "expired"
    for field in ("first_name", "last_name", "email", "organisation", "needs"):
        assert field not in expired
    assert "late@" not in str(expired)
    [expiry] = [m for m in tap.messages if m.routing_key == "registration.expired"]
    assert str(RegistrationExpired.model_validate_json(expiry.body).registration_id) == old["id"]

    # Following the old link now: a page that says so, and nothing stored.
    late = await confirm(client, old["id"])
    assert late.status_code == 410
    assert "expired" in late.text
    gone = await client.get(
        f"/api/v1/registrations/{old['id']}", headers=bearer(old["manage_token"])
    )
    assert gone.status_code == 404


async def test_confirming_after_registration_closed_stores_nothing(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    clock: MovableClock,
) -> None:
    event = await create_event(
        client,
        now=clock.now,
        email_confirmation=True,
        registration_closes_at=(clock.now + timedelta(hours=1)).isoformat(),
    )
    receipt = await register(client, event["id"])
    clock.now += timedelta(hours=1)
    response = await confirm(client, receipt["id"])
    assert response.status_code == 409
    assert "Registration has closed" in response.text
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored["status"] == "pending_confirmation"


async def test_a_wrong_confirmation_link_is_the_same_404_as_an_unknown_id(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    _, token = confirm_path(receipt["id"])
    wrong = await client.post(
        # Another first character: "x" would be the right token one time in 64.
        f"/confirm/{receipt['id']}",
        content="token=" + ("y" if token[0] == "x" else "x") + token[1:],
        headers=FORM,
    )
    unknown = await confirm(client, "00000000-0000-4000-8000-000000000000")
    manage_token = manage_link_token(MANAGE_LINK_SECRET, receipt["id"])
    manage_instead = await client.post(
        f"/confirm/{receipt['id']}", content=f"token={manage_token}", headers=FORM
    )
    for response in (wrong, manage_instead):
        assert response.status_code == 404
        assert response.content == unknown.content


async def test_the_sweep_removes_expired_registrations_on_its_own(
    infrastructure: IsolatedInfrastructure,
    registrations: AsyncCollection[Document],
    clock: MovableClock,
) -> None:
    async with running_registration(
        infrastructure, clock, confirmation_expiry_minutes=1, confirmation_sweep_seconds=0.1
    ) as client:
        event = await create_event(client, now=clock.now, email_confirmation=True)
        receipt = await register(client, event["id"])
        kept = await register(client, event["id"])
        assert (await confirm(client, kept["id"])).status_code == 303
        clock.now += timedelta(minutes=1)

        async def removed() -> bool:
            stored = await registrations.find_one({"_id": receipt["id"]})
            return stored is not None and stored["status"] == "expired"

        await eventually(removed, what="the expired registration removed by the sweep")
    stored_kept = await registrations.find_one({"_id": kept["id"]})
    assert stored_kept is not None
    assert stored_kept["status"] == "accepted"

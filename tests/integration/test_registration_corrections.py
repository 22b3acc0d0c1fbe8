"""A registrant corrects their details (GDPR Art. 16) over the JSON API, against the real
database and broker: the store and ``registration.details_changed`` are one write, published
on ``ilmo.internal`` only; bad input and refusals store nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.manage_links import manage_link_token
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    register,
)
from tests.support.settling import relayed


def path(registration_id: str) -> str:
    return f"/api/v1/registrations/{registration_id}"


async def correct(
    client: httpx.AsyncClient, receipt: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(
        path(receipt["id"]), json=body, headers=bearer(receipt["manage_token"])
    )


async def test_a_correction_is_stored_with_its_internal_event_in_one_write(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], first_name="Matti", organisation="Kunta")
    async with (
        event_tap(infrastructure.amqp_url, "registration.details_changed") as internal,
        event_tap(infrastructure.amqp_url, "#", exchange="ilmo.events") as public,
    ):
        answer = await correct(
            client, receipt, {"first_name": " Mats ", "language": "sv", "organisation": None}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "no-store"
        view = answer.json()
        assert (view["first_name"], view["language"], view["organisation"]) == ("Mats", "sv", None)
        again = await correct(client, receipt, {"first_name": "Mats"})  # changes nothing
        assert again.status_code == 200, again.text
        await relayed(internal, registrations, {"_id": receipt["id"]})
        await public.take_arrived()
    [changed] = internal.messages
    assert changed.data == {
        "registration_id": receipt["id"],
        "event_id": event["id"],
        "first_name": "Mats",
        "last_name": "Meikäläinen",
        "organisation": None,
        "language": "sv",
        "details_version": 1,
        "changed_at": changed.data["changed_at"],
    }
    assert not [m for m in public.messages if m.routing_key == "registration.details_changed"]
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert (stored["first_name"], stored["language"], stored["details_version"]) == (
        "Mats",
        "sv",
        1,
    )
    assert stored["email"] == receipt_email(view)
    # The manage link's token authorises it too, and a second change is version 2.
    link_token = manage_link_token(MANAGE_LINK_SECRET, receipt["id"])
    second = await client.patch(
        path(receipt["id"]), json={"last_name": "Virtanen"}, headers=bearer(link_token)
    )
    assert second.status_code == 200, second.text
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert (stored["last_name"], stored["details_version"]) == ("Virtanen", 2)


def receipt_email(view: dict[str, Any]) -> str:
    email: str = view["email"]
    assert email.startswith("matti.")
    return email


async def test_bad_input_names_each_field_and_stores_nothing(
    client: httpx.AsyncClient, registrations: AsyncCollection[Document], event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    # Without the outbox, which the relay empties meanwhile.
    unchanged = {"_id": receipt["id"]}, {"outbox": 0}
    before = await registrations.find_one(*unchanged)
    bad = await correct(
        client,
        receipt,
        {
            "first_name": "",
            "last_name": "x" * 101,
            "language": "de",
            "email": "uusi@example.fi",
            "needs": "Pyörätuoli",
        },
    )
    problem = assert_problem(bad, 422, "/problems/validation")
    assert {error["field"] for error in problem["errors"]} == {
        "first_name",
        "last_name",
        "language",
        "email",
        "needs_consent",
    }
    assert "uusi@example.fi" not in bad.text
    assert await registrations.find_one(*unchanged) == before


async def test_needs_are_corrected_with_a_new_consent_and_cleared_by_withdrawing_it(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], needs="Induktiosilmukka", needs_consent=True)
    async with event_tap(infrastructure.amqp_url, "registration.details_changed") as internal:
        changed = await correct(client, receipt, {"needs": "Pyörätuoli", "needs_consent": True})
        assert changed.status_code == 200, changed.text
        await relayed(internal, registrations, {"_id": receipt["id"]})
    # Needs never leave the registration service: nothing is announced.
    assert internal.messages == []
    assert changed.json()["needs"] == "Pyörätuoli"
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    [earlier] = stored["earlier_needs_consents"]
    assert earlier["withdrawn_at"] is not None
    assert stored["needs_consent"]["given_at"] >= earlier["given_at"]
    assert stored["needs_consent"]["withdrawn_at"] is None

    cleared = await correct(client, receipt, {"needs": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["needs"] is None
    assert cleared.json()["needs_consent_withdrawn_at"] is not None


async def test_cancelled_erased_and_ended_registrations_are_refused_and_unchanged(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    cancelled = await register(client, event["id"])
    assert await client.delete(path(cancelled["id"]), headers=bearer(cancelled["manage_token"]))
    refused = await correct(client, cancelled, {"first_name": "Mats"})
    assert_problem(refused, 410, "/problems/registration-cancelled")

    erased = await register(client, event["id"])
    wiped = await client.delete(f"/api/v1/admin/registrations/{erased['id']}", headers=ADMIN)
    assert wiped.status_code == 202, wiped.text
    assert_problem(
        await correct(client, erased, {"first_name": "Mats"}), 410, "/problems/registration-erased"
    )

    wrong = await client.patch(
        path(cancelled["id"]), json={"first_name": "Mats"}, headers=bearer("x" * 43)
    )
    assert_problem(wrong, 404, "/problems/not-found")
    unauthorised = await client.patch(path(cancelled["id"]), json={"first_name": "Mats"})
    assert_problem(unauthorised, 401, "/problems/unauthorized")
    # Without a token, that is the answer, whatever is wrong with the body too.
    unreadable = await client.patch(path(cancelled["id"]), json={"language": None, "x": 1})
    assert_problem(unreadable, 401, "/problems/unauthorized")

    ended = await register(client, event["id"])
    clock.now = clock.now + timedelta(days=30)
    assert_problem(
        await correct(client, ended, {"first_name": "Mats"}), 409, "/problems/event-ended"
    )
    for receipt in (cancelled, ended):
        stored = await registrations.find_one({"_id": receipt["id"]})
        assert stored is not None
        assert (stored["first_name"], stored.get("details_version")) == ("Matti", None)

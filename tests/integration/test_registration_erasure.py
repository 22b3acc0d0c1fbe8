"""Erasure and the retention sweep in the registration service, in-process on a movable clock.

What is stored is read from the service's own collection: the tombstone
keeps what statistics need and nothing that identifies the person.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_registration.storage import PERSONAL_FIELDS
from ilmo_shared.manage_links import manage_link_token
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    create_event,
    register,
)
from tests.support.settling import relayed


async def erase(client: httpx.AsyncClient, registration_id: str) -> httpx.Response:
    return await client.delete(f"/api/v1/admin/registrations/{registration_id}", headers=ADMIN)


async def sweep(client: httpx.AsyncClient) -> dict[str, int]:
    answer = await client.post("/api/v1/admin/retention/sweep", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_erasure_leaves_a_tombstone_and_frees_the_address(
    client: httpx.AsyncClient,
    event: dict[str, Any],
    registrations: AsyncCollection[Document],
) -> None:
    receipt = await register(
        client, event["id"], needs="Pyörätuoli", needs_consent=True, organisation="Virasto"
    )
    registration_id = receipt["id"]
    before = await registrations.find_one({"_id": registration_id})
    assert before is not None

    answer = await erase(client, registration_id)
    assert answer.status_code == 202, answer.text
    shown = answer.json()
    assert shown["erased_at"] is not None
    assert shown["status"] == "cancelled"
    assert [shown[f] for f in ("first_name", "last_name", "email", "needs")] == [None] * 4

    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert not set(PERSONAL_FIELDS) & set(stored)
    assert stored["email_key"] == f"{registration_id}/erased"
    assert stored["erasure_reason"] == "request"
    for kept in ("event_id", "attendance", "language", "registered_at", "seat", "stream_link"):
        assert stored[kept] == before[kept], kept
    assert stored["stream_link"]["url"] is None

    # Erasing again is harmless: nothing is written, the answer is the same.
    again = await erase(client, registration_id)
    assert again.status_code == 202
    assert again.json() == shown
    repeated = await registrations.find_one({"_id": registration_id})
    assert repeated is not None
    assert repeated["revision"] == stored["revision"]

    # The administrators' export lists it, without the person.
    exported = await client.get(
        f"/api/v1/events/{event['id']}/registrations",
        headers={**ADMIN, "Accept": "text/csv"},
    )
    assert registration_id in exported.text
    for personal in (before["first_name"], before["last_name"], before["email"], "Pyörätuoli"):
        assert personal not in exported.text

    # The address may register again.
    await register(client, event["id"], email=before["email"])


async def test_after_erasure_the_manage_link_and_the_api_answer_410(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    registration_id = receipt["id"]
    link_token = manage_link_token(MANAGE_LINK_SECRET, registration_id)
    assert (await erase(client, registration_id)).status_code == 202

    for token in (receipt["manage_token"], link_token):
        for method in ("GET", "DELETE"):
            answer = await client.request(
                method, f"/api/v1/registrations/{registration_id}", headers=bearer(token)
            )
            assert answer.status_code == 410, answer.text
            assert answer.json()["type"] == "/problems/registration-erased"
    page = await client.get(f"/manage/{registration_id}?token={link_token}")
    assert page.status_code == 410
    assert "poistettu" in page.text
    for form in ("cancel", "needs"):
        posted = await client.post(
            f"/manage/{registration_id}/{form}",
            content=f"token={link_token}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert posted.status_code == 410, form
    needs = await client.delete(
        f"/api/v1/registrations/{registration_id}/needs", headers=bearer(link_token)
    )
    assert needs.status_code == 410
    # A wrong link token still learns nothing.
    wrong = await client.get(f"/manage/{registration_id}?token={link_token[:-1]}x")
    assert wrong.status_code == 404


async def test_erasure_of_an_unknown_registration_or_without_the_admin_token(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    unknown = await erase(client, "6f0a7d4e-8a44-4a53-9d36-0d0c9f7c2a11")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert (await erase(client, "not-an-id")).status_code == 404
    receipt = await register(client, event["id"])
    anonymous = await client.delete(f"/api/v1/admin/registrations/{receipt['id']}")
    assert anonymous.status_code == 401
    assert (await client.post("/api/v1/admin/retention/sweep")).status_code == 401


async def test_the_sweep_erases_needs_when_the_event_ends_and_the_rest_after_retention(
    client: httpx.AsyncClient,
    event: dict[str, Any],
    clock: MovableClock,
    registrations: AsyncCollection[Document],
) -> None:
    changed = await client.patch(
        f"/api/v1/events/{event['id']}", json={"retention_days": 30}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    with_needs = await register(client, event["id"], needs="Tulkkaus", needs_consent=True)
    without = await register(client, event["id"])
    # The database is the session's: other tests' events may be due too, so
    # what is checked is this event's registrations, and that a second sweep
    # finds nothing left (each event is swept once).
    nothing = {"events": 0, "needs_erased": 0, "registrations_erased": 0}
    await sweep(client)
    assert await sweep(client) == nothing
    stored = await registrations.find_one({"_id": with_needs["id"]})
    assert stored is not None
    assert stored["needs"] == "Tulkkaus"

    ends_at = changed.json()["ends_at"]
    clock.now = datetime.fromisoformat(ends_at) + timedelta(minutes=1)
    assert (await sweep(client))["needs_erased"] >= 1
    stored = await registrations.find_one({"_id": with_needs["id"]})
    assert stored is not None
    assert stored["needs"] is None
    assert stored["first_name"]  # the rest stays until retention ends
    assert await sweep(client) == nothing

    clock.now = datetime.fromisoformat(ends_at) + timedelta(days=30)
    assert (await sweep(client))["registrations_erased"] >= 2
    for receipt in (with_needs, without):
        tombstone = await registrations.find_one({"_id": receipt["id"]})
        assert tombstone is not None
        assert tombstone["erasure_reason"] == "retention"
        assert not set(PERSONAL_FIELDS) & set(tombstone)
        # The event was over: nothing to free, the final status is kept.
        assert tombstone["status"] == "accepted"
    assert await sweep(client) == nothing
    listed = await client.get(f"/api/v1/events/{event['id']}/registrations", headers=ADMIN)
    assert [row["erased_at"] is not None for row in listed.json()] == [True, True]


async def test_a_registration_pending_confirmation_is_erased_without_a_cancellation(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    clock: MovableClock,
    registrations: AsyncCollection[Document],
) -> None:
    """Nobody downstream knew it: only ``registration.erased`` is recorded, no cancellation."""
    confirming = await create_event(client, now=clock.now, email_confirmation=True)
    receipt = await register(client, confirming["id"], organisation="Virasto")
    assert receipt["status"] == "pending_confirmation"
    async with event_tap(infrastructure.amqp_url, "registration.*") as tap:
        answer = await erase(client, receipt["id"])
        assert answer.status_code == 202, answer.text
        await tap.wait_for(1, routing_key="registration.erased")
        await relayed(tap, registrations, {"_id": receipt["id"]})
        mine = [m.routing_key for m in tap.messages if m.data["registration_id"] == receipt["id"]]
    # (registration.submitted may be relayed after the tap was bound.)
    assert mine.count("registration.erased") == 1
    assert "registration.cancelled" not in mine
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored["status"] == "pending_confirmation"
    assert not set(PERSONAL_FIELDS) & set(stored)

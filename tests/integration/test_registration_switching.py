"""Switching attendance through the JSON API, against the real database and broker.

Each switch is one conditional write of the new attendance version with
``registration.attendance_changed``; asking for what one has is harmless;
refusals are problem details; seat reports of an older version do not
overwrite the status of the newer choice.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import RegistrationAttendanceChanged, SeatReserved, SeatWaitlisted
from ilmo_shared.storage import Document
from tests.integration.test_registration_status import T0, wait_until
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MovableClock,
    bearer,
    create_event,
    publish,
    register,
)
from tests.support.settling import relayed

CHANGED = "registration.attendance_changed"


async def switch(
    client: httpx.AsyncClient, receipt: dict[str, Any], attendance: str
) -> httpx.Response:
    return await client.put(
        f"/api/v1/registrations/{receipt['id']}/attendance",
        json={"attendance": attendance},
        headers=bearer(receipt["manage_token"]),
    )


async def test_each_switch_is_one_new_attendance_version_announced_once(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    async with event_tap(infrastructure.amqp_url, CHANGED) as tap:
        to_remote = await switch(client, receipt, "remote")
        # Asked again, also concurrently: the same answer, no second event.
        again = await asyncio.gather(*(switch(client, receipt, "remote") for _ in range(4)))
        back = await switch(client, receipt, "in_person")
        await tap.wait_for(2)
        await relayed(tap, registrations, {"_id": receipt["id"]})
        mine = [m for m in tap.messages if m.data["registration_id"] == receipt["id"]]

    assert to_remote.status_code == 200, to_remote.text
    assert (to_remote.json()["attendance"], to_remote.json()["attendance_version"]) == (
        "remote",
        2,
    )
    assert to_remote.headers["Cache-Control"] == "no-store"
    assert {(r.status_code, r.json()["attendance_version"]) for r in again} == {(200, 2)}
    assert (back.json()["attendance"], back.json()["attendance_version"]) == ("in_person", 3)
    assert back.json()["status"] == "accepted"  # until capacity answers version 3
    changes = sorted(
        (RegistrationAttendanceChanged.model_validate_json(m.body) for m in mine),
        key=lambda c: c.attendance_version,
    )
    assert [(c.attendance.value, c.attendance_version) for c in changes] == [
        ("remote", 2),
        ("in_person", 3),
    ]
    assert len({m.message_id for m in mine}) == 2
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert (stored["attendance"], stored["attendance_version"], stored["outbox"]) == (
        "in_person",
        3,
        [],
    )


async def test_seat_reports_of_an_older_attendance_version_do_not_overwrite_the_newer_choice(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    registration_id = uuid.UUID(receipt["id"])
    first_seat = SeatReserved(registration_id=registration_id, event_id=event["id"], reserved_at=T0)
    await publish(infrastructure, first_seat)
    await wait_until(client, receipt, status="seat_reserved")

    assert (await switch(client, receipt, "remote")).status_code == 200
    assert (await switch(client, receipt, "in_person")).status_code == 200  # version 3
    # The seat of version 1, redelivered, then the waiting-list place of version 3.
    await publish(
        infrastructure,
        first_seat,
        SeatWaitlisted(
            registration_id=registration_id,
            event_id=event["id"],
            position=1,
            waitlisted_at=T0 + timedelta(minutes=1),
            attendance_version=3,
        ),
    )
    view = await wait_until(client, receipt, status="waitlisted")
    assert view["waitlist_position"] == 1
    await publish(infrastructure, first_seat)
    view = await wait_until(client, receipt, status="waitlisted")
    assert view["attendance_version"] == 3


async def test_switching_is_refused_with_problem_details(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    receipt = await register(client, event["id"], attendance="remote")
    seated = await register(client, event["id"], attendance="in_person")
    url = f"/api/v1/registrations/{receipt['id']}/attendance"
    body = {"attendance": "in_person"}

    assert_problem(await client.put(url, json=body), 401, "/problems/unauthorized")
    other = await register(client, event["id"])
    wrong = await client.put(url, json=body, headers=bearer(other["manage_token"]))
    assert_problem(wrong, 404, "/problems/not-found")
    invalid = await client.put(
        url, json={"attendance": "on_the_moon"}, headers=bearer(receipt["manage_token"])
    )
    assert_problem(invalid, 422, "/problems/validation")

    clock.now += timedelta(days=10)  # registration has closed; the event has not started
    closed = await switch(client, receipt, "in_person")
    assert_problem(closed, 409, "/problems/registration-closed")
    # Already remote: harmless, even now.
    assert (await switch(client, receipt, "remote")).status_code == 200

    assert (await switch(client, seated, "remote")).status_code == 200  # until the start

    clock.now += timedelta(days=4, minutes=1)  # the event has started
    late = await client.put(
        f"/api/v1/registrations/{other['id']}/attendance",
        json={"attendance": "remote"},
        headers=bearer(other["manage_token"]),
    )
    started = assert_problem(late, 409, "/problems/event-started")
    assert "switched to remote" in started["detail"]


async def test_cancelled_and_unconfirmed_registrations_cannot_switch(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    cancelled = await client.delete(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert cancelled.status_code == 200
    assert_problem(await switch(client, receipt, "remote"), 409, "/problems/registration-cancelled")

    confirming = await create_event(client, now=clock.now, email_confirmation=True)
    pending = await register(client, confirming["id"], attendance="in_person")
    assert_problem(
        await switch(client, pending, "remote"), 409, "/problems/registration-not-confirmed"
    )


async def test_an_erased_registration_cannot_switch(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    erased = await client.delete(f"/api/v1/admin/registrations/{receipt['id']}", headers=ADMIN)
    assert erased.status_code == 202, erased.text

    assert_problem(await switch(client, receipt, "remote"), 410, "/problems/registration-erased")

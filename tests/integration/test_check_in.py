"""Check-in at the door and stream attendance, in-process against the real broker and database.

Two door phones sending the same code at once check the person in once;
``attendance.checked_in`` goes out once, on ``ilmo.events`` without
personal data; someone without a seat is let in only when the door says
"check in anyway"; streaming's ``stream.joined`` becomes the registration's
first watch, once; the dashboard and the export count and show both.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import SeatReserved, SeatWaitlisted, StreamJoined
from ilmo_shared.access import Role
from ilmo_shared.check_in import check_in_code
from ilmo_shared.clock import to_millisecond
from ilmo_shared.storage import Document
from tests.integration.test_registration_status import wait_until
from tests.support.amqp import event_tap
from tests.support.console import SignedIn, csrf_token_in, signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import MANAGE_LINK_SECRET, MovableClock, publish, register


@pytest.fixture
def check_ins(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    return mongo[infrastructure.database_name("registration")]["check_ins"]


async def seated(
    client: httpx.AsyncClient,
    infrastructure: IsolatedInfrastructure,
    event_id: str,
    clock: MovableClock,
    **names: str,
) -> dict[str, Any]:
    """A registrant on site whom capacity gave a seat."""
    receipt = await register(client, event_id, attendance="in_person", **names)
    await publish(
        infrastructure,
        SeatReserved(
            registration_id=uuid.UUID(receipt["id"]), event_id=event_id, reserved_at=clock.now
        ),
    )
    await wait_until(client, receipt, status="seat_reserved")
    return receipt


async def door_page(
    client: httpx.AsyncClient, door: SignedIn, event_id: str, **params: str
) -> httpx.Response:
    page = await client.get(
        f"/console/events/{event_id}/check-in",
        params={"lang": "en", **params},
        headers=door.headers,
    )
    assert page.status_code == 200, page.text
    return page


async def send(
    client: httpx.AsyncClient, door: SignedIn, event_id: str, csrf: str, **form: str
) -> httpx.Response:
    answer = await client.post(
        f"/console/events/{event_id}/check-in",
        params={"lang": "en"},
        data={"csrf_token": csrf, **form},
        headers=door.headers,
    )
    assert answer.status_code == 200, answer.text
    return answer


async def test_two_phones_scanning_one_code_check_the_person_in_once(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
    check_ins: AsyncCollection[Document],
) -> None:
    event_id = event["id"]
    receipt = await seated(
        client, infrastructure, event_id, clock, first_name="Aino", last_name="Ovenkynnys"
    )
    code = check_in_code(MANAGE_LINK_SECRET, receipt["id"])
    door = await signed_in(mongo, infrastructure, Role.DOOR, now=clock.now)
    csrf = csrf_token_in(await door_page(client, door, event_id))

    async with (
        event_tap(infrastructure.amqp_url, "attendance.#", exchange="ilmo.events") as outside,
        event_tap(infrastructure.amqp_url, "attendance.#") as inside,
    ):
        answers = await asyncio.gather(
            *(send(client, door, event_id, csrf, code=code) for _ in range(2))
        )
        [public] = await outside.wait_for(1, routing_key="attendance.checked_in")
        [internal] = await inside.wait_for(1, routing_key="attendance.checked_in")
        await outside.take_arrived()
        await inside.take_arrived()

    texts = sorted(answer.text for answer in answers)
    assert sum("Checked in: Aino Ovenkynnys" in text for text in texts) == 1
    assert sum("Already checked in at" in text for text in texts) == 1
    assert await check_ins.count_documents({"event_id": event_id}) == 1
    # Once on each exchange, whatever the two phones did.
    assert len(outside.messages) == len(inside.messages) == 1
    assert set(public.data) == {"registration_id", "event_id", "checked_in_at", "method"}
    assert public.data["method"] == "qr"
    assert "Aino" not in public.body.decode()
    assert "Ovenkynnys" not in public.body.decode()
    assert internal.data["registration_id"] == receipt["id"]

    # A third scan later: red, with the time of the first one, and still one check-in.
    again = await send(client, door, event_id, csrf, code=code)
    assert "Already checked in at" in again.text
    assert 'class="door-result refused"' in again.text
    assert "Checked in 1 / " in again.text

    # Each lookup is in the audit trail, in the reader's language.
    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    trail = await client.get(
        "/console/audit",
        params={"lang": "en", "event_id": event_id, "action": "check-in"},
        headers=organiser.headers,
    )
    assert trail.text.count("Check-in at the door") >= 3
    assert "code: checked in" in trail.text
    assert trail.text.count("code: already checked in") == 2


async def test_the_door_tells_apart_a_forged_code_a_cancelled_and_someone_without_a_seat(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
    check_ins: AsyncCollection[Document],
) -> None:
    event_id = event["id"]
    door = await signed_in(mongo, infrastructure, Role.DOOR, now=clock.now)
    csrf = csrf_token_in(await door_page(client, door, event_id))

    forged = f"IC1.{uuid.uuid4()}.AAAAAAAAAAAAAAAAAAAAAA"
    answer = await send(client, door, event_id, csrf, code=forged)
    assert "Not registered for this event" in answer.text

    waiting = await register(
        client, event_id, attendance="in_person", first_name="Veikko", last_name="Jonossa"
    )
    await publish(
        infrastructure,
        SeatWaitlisted(
            registration_id=uuid.UUID(waiting["id"]),
            event_id=event_id,
            position=1,
            waitlisted_at=clock.now,
        ),
    )
    await wait_until(client, waiting, status="waitlisted")
    code = check_in_code(MANAGE_LINK_SECRET, waiting["id"])
    amber = await send(client, door, event_id, csrf, code=code)
    assert "No seat: Veikko Jonossa" in amber.text
    assert "On the waiting list, without a seat." in amber.text
    assert await check_ins.find_one({"_id": waiting["id"]}) is None
    anyway = await send(
        client,
        door,
        event_id,
        csrf,
        registration_id=waiting["id"],
        method="qr",
        without_seat="1",
    )
    assert "Checked in: Veikko Jonossa" in anyway.text
    assert "Checked in without a seat." in anyway.text
    stored = await check_ins.find_one({"_id": waiting["id"]})
    assert stored is not None
    assert stored["without_seat"] is True

    gone = await register(client, event_id, first_name="Kaisa", last_name="Peruttu")
    cancelled = await client.delete(
        f"/api/v1/registrations/{gone['id']}",
        headers={"Authorization": f"Bearer {gone['manage_token']}"},
    )
    assert cancelled.status_code == 200, cancelled.text
    red = await send(
        client, door, event_id, csrf, code=check_in_code(MANAGE_LINK_SECRET, gone["id"])
    )
    assert "Registration cancelled: Kaisa Peruttu" in red.text
    assert await check_ins.find_one({"_id": gone["id"]}) is None


async def test_a_name_search_checks_in_and_a_first_watch_is_recorded_once(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
    registrations: AsyncCollection[Document],
) -> None:
    event_id = event["id"]
    seat = await seated(
        client, infrastructure, event_id, clock, first_name="Eero", last_name="Mäkinen"
    )
    no_show = await seated(
        client, infrastructure, event_id, clock, first_name="Outi", last_name="Poissa"
    )
    remote = await register(
        client, event_id, attendance="remote", first_name="Rauni", last_name="Etä"
    )
    door = await signed_in(mongo, infrastructure, Role.DOOR, now=clock.now)

    found = await door_page(client, door, event_id, q="makinen")
    assert "Eero Mäkinen" in found.text
    assert "Outi Poissa" not in found.text
    answer = await send(
        client,
        door,
        event_id,
        csrf_token_in(found),
        registration_id=seat["id"],
        method="search",
        q="makinen",
    )
    assert "Checked in: Eero Mäkinen" in answer.text
    assert "Checked in at " in answer.text  # the search result now says so, without a button

    first = to_millisecond(clock.now + timedelta(minutes=3))  # as stored
    for joined_at in (first, first + timedelta(minutes=5)):  # a repeat, later: changes nothing
        await publish(
            infrastructure,
            StreamJoined(
                registration_id=uuid.UUID(remote["id"]), event_id=event_id, joined_at=joined_at
            ),
        )

    async def watched() -> Document | None:
        document = await registrations.find_one({"_id": remote["id"]})
        return document if document and document.get("watched_at") else None

    document = await eventually(watched, what="the first watch recorded")
    assert document["watched_at"] == first

    organiser = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    dashboard = await client.get(
        f"/console/events/{event_id}/dashboard", params={"lang": "en"}, headers=organiser.headers
    )
    assert "1 of 2 seat holders" in dashboard.text
    exported = await client.get(
        f"/console/events/{event_id}/export.csv", params={"lang": "en"}, headers=organiser.headers
    )
    rows = {
        row["First name"]: row
        for row in csv.DictReader(io.StringIO(exported.text.removeprefix("\ufeff")))
    }
    assert rows["Eero"]["Checked in at"] != ""
    assert rows["Rauni"]["Watched the stream from"] != ""
    assert rows["Outi"]["Checked in at"] == rows["Outi"]["Watched the stream from"] == ""
    assert no_show["id"] != seat["id"]


async def test_door_staff_refused_the_events_are_sent_on_to_the_door(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    door = await signed_in(mongo, infrastructure, Role.DOOR, now=clock.now)
    viewer = await signed_in(mongo, infrastructure, Role.VIEWER, now=clock.now)
    refused = await client.get("/console?lang=en", headers=door.headers)
    assert refused.status_code == 403
    assert 'href="/console/check-in"' in refused.text
    assert "Go to check-in at the door" in refused.text
    # Anyone else refused a page goes back to the events, as before.
    elsewhere = await client.get("/console/events/new?lang=en", headers=viewer.headers)
    assert elsewhere.status_code == 403
    assert 'href="/console/check-in"' not in elsewhere.text

"""The console's sessions in the registration service, in-process on a movable clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_registration.storage.console_sessions import SESSION_COLLECTION
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.console import signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import MovableClock, create_event


async def test_without_a_session_the_console_sends_to_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/console", params={"lang": "en"})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%3Flang%3Den"


async def test_a_signed_in_viewer_sees_every_event_drafts_too(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    draft = await create_event(client, now=clock.now, published=False)
    session = await signed_in(mongo, infrastructure, Role.VIEWER, now=clock.now)

    page = await client.get("/console?lang=en", headers=session.headers)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'href="/console/events/{draft["id"]}"' in page.text
    assert f'href="/console/events/{event["id"]}"' in page.text
    assert "Draft" in page.text
    assert "Published" in page.text
    assert "New event" not in page.text  # a viewer changes nothing


async def test_an_idle_session_is_refused_and_deleted(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    session = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    clock.now += timedelta(minutes=29)
    assert (await client.get("/console", headers=session.headers)).status_code == 200
    clock.now += timedelta(minutes=29)  # used a minute ago: still in force
    assert (await client.get("/console", headers=session.headers)).status_code == 200

    clock.now += timedelta(minutes=30)
    answer = await client.get("/console", headers=session.headers)

    assert answer.status_code == 303
    sessions = mongo[infrastructure.database_name("registration")][SESSION_COLLECTION]
    assert await sessions.find_one({"_id": session.digest}) is None


async def test_a_session_ends_after_its_absolute_timeout_however_busy(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    session = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    for _ in range(20):  # 20 x 29 minutes = 9 h 40 min, each within the idle timeout
        clock.now += timedelta(minutes=29)
        assert (await client.get("/console", headers=session.headers)).status_code == 200

    clock.now += timedelta(minutes=20)  # 10 h after sign-in

    assert (await client.get("/console", headers=session.headers)).status_code == 303


async def test_a_person_without_the_permission_gets_a_403_page(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    session = await signed_in(mongo, infrastructure, Role.DOOR, now=clock.now)

    page = await client.get("/console?lang=en", headers=session.headers)

    assert page.status_code == 403
    assert "You do not have permission to do this" in page.text

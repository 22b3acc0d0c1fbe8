"""The console's registration screens in-process: the list, one registration, an action, exports.

Signed in with sessions written as the sign-in writes them
(``tests.support.console``); the proof that signing in works is the browser
test. The other services are not running here: the pages must say which
figures are missing and show the rest.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import httpx
from openpyxl import load_workbook
from pymongo import AsyncMongoClient

from ilmo_registration.audit import entry_id
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.console import SignedIn, csrf_token_in, signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, MovableClock, register


async def session_of(
    role: Role,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    clock: MovableClock,
) -> SignedIn:
    return await signed_in(mongo, infrastructure, role, now=clock.now, subject=f"{role.value}-1")


async def audit_actions(
    client: httpx.AsyncClient, event_id: str
) -> Counter[tuple[str, str | None]]:
    """What the audit trail holds about the event's registrations.

    Counted, not ordered: the service's clock stands still here, and entries
    of one instant have no order (the browser test checks the order).
    """
    answer = await client.get("/api/v1/audit", params={"event_id": event_id}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return Counter(
        (entry["action"], entry["registration_id"])
        for entry in answer.json()["entries"]
        if entry["action"] not in ("audit-read", "event-created")
    )


async def test_an_organiser_searches_reads_cancels_and_exports(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    event_id = event["id"]
    aino = await register(
        client, event_id, first_name="Aino", last_name="Öhman", organisation="Kela"
    )
    await register(client, event_id, first_name="Eero", last_name="Mäkinen")
    organiser = await session_of(Role.ORGANISER, mongo, infrastructure, clock)

    listed = await client.get(
        f"/console/events/{event_id}/registrations",
        params={"lang": "en"},
        headers=organiser.headers,
    )
    assert listed.status_code == 200
    assert "Aino Öhman" in listed.text
    assert "Eero Mäkinen" in listed.text
    assert "Kela" in listed.text  # organisers see organisations and addresses
    assert "2 of 2 registrations" in listed.text
    assert "Some figures are missing because a service did not answer" in listed.text
    searched = await client.get(
        f"/console/events/{event_id}/registrations",
        params={"lang": "en", "q": "ohman", "sort": "-name"},
        headers=organiser.headers,
    )
    assert "Aino Öhman" in searched.text
    assert "Eero Mäkinen" not in searched.text
    assert "1 of 2 registrations" in searched.text
    assert 'aria-sort="descending"' in searched.text

    registration_id = aino["id"]
    one = await client.get(
        f"/console/registrations/{registration_id}",
        params={"lang": "en"},
        headers=organiser.headers,
    )
    assert one.status_code == 200
    assert "Accepted, seat or link on the way" in one.text
    assert "Registration accepted" in one.text  # its history
    assert "The notification service did not answer" in one.text
    question = await client.get(
        f"/console/registrations/{registration_id}/cancel",
        params={"lang": "en"},
        headers=organiser.headers,
    )
    assert "Cancel the registration of Aino Öhman?" in question.text
    done = await client.post(
        f"/console/registrations/{registration_id}/cancel",
        data={"csrf_token": csrf_token_in(question)},
        headers=organiser.headers,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/registrations/{registration_id}?done=cancel"
    after = await client.get(done.headers["location"] + "&lang=en", headers=organiser.headers)
    assert "The registration was cancelled" in after.text
    assert "Cancelled" in after.text

    as_csv = await client.get(f"/console/events/{event_id}/export.csv", headers=organiser.headers)
    assert as_csv.status_code == 200
    assert f'filename="{event_id}-registrations-' in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.text.removeprefix("\ufeff"))))
    as_xlsx = await client.get(f"/console/events/{event_id}/export.xlsx", headers=organiser.headers)
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    cells = [
        ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert len(rows) == len(cells) == 3
    assert [row[:3] for row in rows] == [row[:3] for row in cells]
    assert {row[6] for row in rows[1:]} == {"cancelled", "accepted"}

    assert await audit_actions(client, event_id) == Counter(
        {
            ("registrations-listed", None): 2,
            ("registration-read", registration_id): 2,
            ("registration-cancelled", registration_id): 1,
            ("registrations-exported", None): 2,
        }
    )


async def test_a_viewer_sees_names_only_and_is_refused_the_rest(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    event_id = event["id"]
    receipt = await register(client, event_id, first_name="Aino", organisation="Kela")
    viewer = await session_of(Role.VIEWER, mongo, infrastructure, clock)

    listed = await client.get(
        f"/console/events/{event_id}/registrations", params={"lang": "en"}, headers=viewer.headers
    )
    assert listed.status_code == 200
    assert "Aino Meikäläinen" in listed.text
    assert "Kela" not in listed.text
    assert "@example.fi" not in listed.text
    assert "/console/registrations/" not in listed.text
    assert "export.csv" not in listed.text
    by_organisation = await client.get(
        f"/console/events/{event_id}/registrations", params={"q": "kela"}, headers=viewer.headers
    )
    assert "Aino" not in by_organisation.text.split("<tbody>")[-1]  # names only are searched

    registration_id = receipt["id"]
    for path in (
        f"/console/registrations/{registration_id}",
        f"/console/registrations/{registration_id}/cancel",
        f"/console/events/{event_id}/export.csv",
        f"/console/events/{event_id}/export.xlsx",
    ):
        refused = await client.get(path, params={"lang": "en"}, headers=viewer.headers)
        assert refused.status_code == 403, path
        assert "You do not have permission to do this" in refused.text
    assert await audit_actions(client, event_id) == Counter({("registrations-listed", None): 2})


async def test_the_dashboard_draws_what_it_has_and_names_what_is_missing(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    event_id = event["id"]
    await register(client, event_id)
    await register(client, event_id, attendance="remote")
    viewer = await session_of(Role.VIEWER, mongo, infrastructure, clock)

    page = await client.get(
        f"/console/events/{event_id}/dashboard", params={"lang": "en"}, headers=viewer.headers
    )

    assert page.status_code == 200
    assert "2 people had registered: 1 on site and 1 remotely" in page.text
    assert page.text.count("<polyline") == 2
    assert "seats (capacity service), mails (notification service)" in page.text
    assert "Meikäläinen" not in page.text  # counts only


async def test_the_audit_trail_page_lists_filters_and_downloads(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    organiser = await session_of(Role.ORGANISER, mongo, infrastructure, clock)
    await client.get(f"/console/events/{event['id']}/registrations", headers=organiser.headers)

    page = await client.get(
        "/console/audit",
        params={"lang": "en", "event_id": event["id"], "action": "registrations-listed"},
        headers=organiser.headers,
    )
    assert page.status_code == 200
    assert page.text.count('data-action="registrations-listed"') == 1
    assert 'data-action="event-created"' not in page.text
    download = await client.get("/console/audit.csv", headers=organiser.headers)
    assert download.status_code == 200
    assert "registrations-listed" in download.text
    assert "audit-read" in download.text

    viewer = await session_of(Role.VIEWER, mongo, infrastructure, clock)
    assert (await client.get("/console/audit", headers=viewer.headers)).status_code == 403


async def test_an_invalid_query_parameter_is_ignored_not_page_not_found(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    await register(client, event["id"], first_name="Aino", last_name="Öhman")
    organiser = await session_of(Role.ORGANISER, mongo, infrastructure, clock)
    listing = f"/console/events/{event['id']}/registrations"
    odd = "x" * 300
    pages = {
        listing: {"page": "abc"},
        listing + "?page=-3": {},
        listing + "?page=99999999999999999999": {},
        listing + "?page=%C2%B2": {},  # a superscript two: a digit to str.isdigit, not to int
        listing + "?sort=nonsense&status=maybe&attendance=x&language=klingon": {},
        "/console/audit": {"before": odd, "event_id": odd, "action": "nonsense", "actor": odd},
        "/console/audit.csv": {"event_id": odd, "actor": odd, "action": "nonsense"},
    }

    for path, params in pages.items():
        answer = await client.get(path, params={**params, "lang": "en"}, headers=organiser.headers)

        assert answer.status_code == 200, (path, params, answer.text[:300])
        assert "Page not found" not in answer.text
        if path == listing:
            assert "Aino Öhman" in answer.text, (path, params)


async def test_the_audit_trail_shows_details_in_the_readers_language(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    event_id = event["id"]
    viewer = await session_of(Role.VIEWER, mongo, infrastructure, clock)
    organiser = await session_of(Role.ORGANISER, mongo, infrastructure, clock)
    await client.get(f"/console/events/{event_id}/registrations", headers=viewer.headers)
    await client.get(f"/console/events/{event_id}/export.xlsx", headers=organiser.headers)
    # Entries as the service wrote them before the codes, and a detail no code explains.
    audit = mongo[infrastructure.database_name("registration")]["audit"]
    for number, detail in enumerate(("to remote", "something new")):
        await audit.insert_one(
            {
                "_id": f"{entry_id(clock.now)}-older-{number}",
                "at": clock.now,
                "actor": {"subject": "organiser-1", "name": "Testi", "kind": "person"},
                "action": "attendance-switched",
                "event_id": event_id,
                "registration_id": None,
                "detail": detail,
            }
        )
    stored = {entry["detail"] async for entry in audit.find({"event_id": event_id})}
    assert {"without-personal-data", "format:xlsx"} <= stored  # codes, not prose

    expected = {
        "fi": ["ilman henkilötietoja", "tiedostomuoto: XLSX", "uusi osallistumistapa: Etänä"],
        "sv": ["utan personuppgifter", "filformat: XLSX", "nytt sätt att delta: På distans"],
        "en": ["without personal data", "file format: XLSX", "to: Remotely"],
    }
    for language, texts in expected.items():
        page = await client.get(
            "/console/audit",
            params={"lang": language, "event_id": event_id},
            headers=organiser.headers,
        )
        assert page.status_code == 200
        for shown in [*texts, "something new"]:
            assert shown in page.text, (language, shown)
        assert "without-personal-data" not in page.text

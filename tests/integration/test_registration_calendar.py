"""The calendar file behind the manage page, from the registration service against the real
database: the registrant's entry for the event in their language, with the mails' UID; a
wrong link 404, an erased registration 410.
"""

from __future__ import annotations

from typing import Any

import httpx
from icalendar import Calendar

from ilmo_shared.manage_links import manage_link_token
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    create_event,
    register,
)


def calendar_path(registration_id: str, token: str | None = None) -> str:
    token = token or manage_link_token(MANAGE_LINK_SECRET, registration_id)
    return f"/manage/{registration_id}/calendar.ics?token={token}"


async def test_the_registrant_downloads_their_entry_in_their_language(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    venue = {
        "name": {"fi": "Valtiovarainministeriö", "sv": "Finansministeriet"},
        "address": "Snellmaninkatu 1, Helsinki",
    }
    event = await create_event(client, now=clock.now, venue=venue)
    receipt = await register(client, event["id"], language="sv", attendance="in_person")
    response = await client.get(calendar_path(receipt["id"]))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{event["id"]}.ics"'
    [entry] = Calendar.from_ical(response.content).events
    # The same UID as the mails' entries (the test service's public host).
    assert str(entry["UID"]) == f"{event['id']}.{receipt['id']}@ilmo.example.fi"
    assert str(entry["SUMMARY"]) == "AI i förvaltningen"
    assert str(entry["LOCATION"]) == "Finansministeriet, Snellmaninkatu 1, Helsinki"
    assert entry["SEQUENCE"] == 0
    assert "STATUS" not in entry


async def test_a_remote_registrant_is_told_the_link_comes_by_mail_and_a_cancelled_one_cancelled(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], language="fi", attendance="remote")
    [entry] = Calendar.from_ical((await client.get(calendar_path(receipt["id"]))).content).events
    assert "LOCATION" not in entry
    assert "linkin verkkolähetykseen sähköpostilla" in str(entry["DESCRIPTION"])

    cancel = await client.delete(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert cancel.status_code == 200, cancel.text
    [cancelled] = Calendar.from_ical(
        (await client.get(calendar_path(receipt["id"]))).content
    ).events
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled["UID"] == entry["UID"]


async def test_a_wrong_link_is_404_and_an_erased_registration_410(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    wrong = await client.get(calendar_path(receipt["id"], token="x" * 43))
    unknown = await client.get(calendar_path("5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60"))
    missing = await client.get(f"/manage/{receipt['id']}/calendar.ics")
    for answer in (wrong, unknown, missing):
        assert answer.status_code == 404
        assert answer.headers["Content-Type"].startswith("text/html")
    assert wrong.content == unknown.content  # nothing tells whether the id exists
    # The manage token is not the link's: the download takes only the link token.
    by_manage_token = await client.get(calendar_path(receipt["id"], receipt["manage_token"]))
    assert by_manage_token.status_code == 404

    erased = await client.delete(f"/api/v1/admin/registrations/{receipt['id']}", headers=ADMIN)
    assert erased.status_code == 202, erased.text
    gone = await client.get(calendar_path(receipt["id"]))
    assert gone.status_code == 410
    assert "BEGIN:VCALENDAR" not in gone.text

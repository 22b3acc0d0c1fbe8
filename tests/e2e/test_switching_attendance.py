"""Switching attendance end to end: the services as processes, a real SMTP server.

An event with one seat. Someone registers on site and takes the seat; a
second person waits. The first switches to remote: the seat goes to the
second, who is mailed, and the first gets a stream-link mail. Switching back
on site puts them on the waiting list (the seat is taken), with its mail;
switching to remote again leaves the list and mails the stream link again:
one mail per switch, each with its own Message-ID, and nothing twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.e2e.test_emails_and_stream_links import STREAM_URL, inventory, registrant, settle
from tests.integration.test_registration_status import wait_until
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, bearer, starting_soon
from tests.support.smtp import services_with_mail


async def test_switching_back_and_forth_frees_and_takes_seats_and_mails_each_switch_once(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    event = starting_soon("switching", STREAM_URL)
    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            register = f"/api/v1/events/{event['id']}/registrations"
            receipts: dict[str, dict[str, Any]] = {}
            for name, person in [
                ("switcher", registrant("Matti", "Meikäläinen", "in_person", "fi")),
                ("waiting", registrant("Ann", "Other", "in_person", "en")),
            ]:
                answer = await api.post(register, json=person)
                assert answer.status_code == 202, answer.text
                receipts[name] = answer.json()
                await smtp.wait_for(1, registration_id=answer.json()["id"])
            switcher, waiting = receipts["switcher"], receipts["waiting"]
            sid, wid = switcher["id"], waiting["id"]
            await smtp.wait_for(1, registration_id=sid, kind="seat_confirmed", timeout=60)
            await smtp.wait_for(1, registration_id=wid, kind="waitlisted", timeout=60)

            async def switch(attendance: str) -> dict[str, Any]:
                answer = await api.put(
                    f"/api/v1/registrations/{sid}/attendance",
                    json={"attendance": attendance},
                    headers=bearer(switcher["manage_token"]),
                )
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body

            # On site -> remote: the seat goes to the one waiting; a stream link for the switcher.
            assert (await switch("remote"))["attendance_version"] == 2
            await smtp.wait_for(1, registration_id=wid, kind="seat_confirmed", timeout=60)
            await smtp.wait_for(1, registration_id=sid, kind="stream_link", timeout=60)
            await wait_until(api, switcher, status="remote", stream_link_provisioned=True)
            await wait_until(api, waiting, status="seat_reserved")
            # Asking again changes nothing.
            assert (await switch("remote"))["attendance_version"] == 2

            # Back on site: the seat is taken, so the waiting list (and its mail).
            assert (await switch("in_person"))["attendance_version"] == 3
            await smtp.wait_for(1, registration_id=sid, kind="waitlisted", timeout=60)
            await wait_until(api, switcher, status="waitlisted", waitlist_position=1)

            # Remote again: off the list, and the stream link mailed for this switch.
            assert (await switch("remote"))["attendance_version"] == 4
            await smtp.wait_for(2, registration_id=sid, kind="stream_link", timeout=60)
            await wait_until(api, switcher, status="remote")

            mails = await settle(smtp, 9, services, infrastructure, mongo)
            assert inventory(mails) == Counter(
                {
                    (sid, "registration_received", "fi"): 1,
                    (sid, "seat_confirmed", "fi"): 1,
                    (sid, "stream_link", "fi"): 2,
                    (sid, "waitlisted", "fi"): 1,
                    (wid, "registration_received", "en"): 1,
                    (wid, "waitlisted", "en"): 1,
                    (wid, "stream_link", "en"): 1,
                    (wid, "seat_confirmed", "en"): 1,
                }
            )
            link_mails = smtp.matching(registration_id=sid, kind="stream_link")
            domain = _domain(link_mails[0].message_id)
            assert sorted(m.message_id or "" for m in link_mails) == [
                f"<{sid}.stream_link.v2@{domain}>",
                f"<{sid}.stream_link.v4@{domain}>",
            ]
            [back_on_list] = smtp.matching(registration_id=sid, kind="waitlisted")
            assert ".waitlisted.v3@" in (back_on_list.message_id or "")

            shown = await api.get(
                f"/api/v1/registrations/{sid}", headers=bearer(switcher["manage_token"])
            )
            assert (shown.json()["status"], shown.json()["attendance"]) == ("remote", "remote")
            seats = await wait_until(api, waiting, status="seat_reserved")
            assert seats["attendance_version"] == 1


def _domain(message_id: str | None) -> str:
    assert message_id is not None
    return message_id.rstrip(">").rsplit("@", 1)[1]

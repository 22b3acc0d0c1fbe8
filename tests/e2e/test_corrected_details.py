"""A registrant corrects their details, end to end: processes only, a real SMTP server.

Registered in Finnish, the registrant changes their language to Swedish and
their first name over the JSON API with the manage token; the calendar file
behind the link in their mail then comes in Swedish, and when they cancel,
the cancellation mail arrives in Swedish, to the new name.
"""

from __future__ import annotations

import re
import uuid

import httpx
from icalendar import Calendar
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, event_payload, registration_payload, unique_id
from tests.support.settling import quiescent
from tests.support.smtp import services_with_mail

MANAGE_LINK = re.compile(r"https?://[^\s\"'<>]+/manage/[0-9a-f-]{36}\?token=[A-Za-z0-9_-]+")


async def test_a_corrected_language_and_name_are_used_by_later_mails_and_the_calendar(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    event = {**event_payload(), "id": unique_id("corrected")}
    person = registration_payload(
        first_name="Matti", last_name="Korjattava", email=f"{uuid.uuid4().hex[:8]}@example.fi"
    )
    with services_with_mail(infrastructure) as (smtp, services):
        async with (
            httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api,
            httpx.AsyncClient(timeout=30) as browser,
        ):
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            answer = await api.post(f"/api/v1/events/{event['id']}/registrations", json=person)
            assert answer.status_code == 202, answer.text
            receipt = answer.json()
            rid = receipt["id"]
            owner = {"Authorization": f"Bearer {receipt['manage_token']}"}
            [received] = await smtp.wait_for(
                1, registration_id=rid, kind="registration_received", timeout=60
            )
            assert received.language == "fi"

            corrected = await api.patch(
                f"/api/v1/registrations/{rid}",
                json={"language": "sv", "first_name": "Mats"},
                headers=owner,
            )
            assert corrected.status_code == 200, corrected.text
            assert (corrected.json()["language"], corrected.json()["first_name"]) == ("sv", "Mats")
            # Every service has handled what the correction published.
            await quiescent(services, infrastructure, mongo)

            manage_link = MANAGE_LINK.search(received.text())
            assert manage_link is not None
            base, query = manage_link.group(0).split("?", 1)
            calendar = await browser.get(f"{base}/calendar.ics?{query}")
            assert calendar.status_code == 200, calendar.text
            [entry] = Calendar.from_ical(calendar.content).events
            assert str(entry["SUMMARY"]) == "AI i förvaltningen"

            cancelled = await api.delete(f"/api/v1/registrations/{rid}", headers=owner)
            assert cancelled.status_code == 200, cancelled.text
            [mail] = await smtp.wait_for(
                1, registration_id=rid, kind="cancellation_confirmed", timeout=60
            )
    assert mail.language == "sv"
    assert mail.message["To"].addresses[0].display_name == "Mats Korjattava"
    assert "Mats" in mail.text()
    assert "Matti" not in mail.text()

"""Change and cancellation notices, end to end: the four services as processes, a real SMTP server.

An organiser moves a published event by an hour and then cancels it, through
the registration service's API. Each active registrant gets one change notice
(saying the time changed) and one cancellation notice; the one who cancelled
before gets neither; the event's reminders leave notification's schedule.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import ADMIN, event_payload, register
from tests.support.smtp import services_with_mail


async def test_moving_then_cancelling_an_event_tells_each_active_registrant_once(
    infrastructure: IsolatedInfrastructure,
) -> None:
    event_id = f"notices-{uuid.uuid4().hex[:8]}"
    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as client:
            created = await client.post(
                "/api/v1/events",
                json=event_payload(id=event_id, email_confirmation=False, agenda=[]),
                headers=ADMIN,
            )
            assert created.status_code == 201, created.text
            on_site = await register(client, event_id, attendance="in_person", language="fi")
            remote = await register(client, event_id, attendance="remote", language="sv")
            leaving = await register(client, event_id, attendance="remote", language="en")
            await smtp.wait_for(1, registration_id=on_site["id"], kind="seat_confirmed")
            await smtp.wait_for(1, registration_id=remote["id"], kind="stream_link")
            await smtp.wait_for(1, registration_id=leaving["id"], kind="stream_link")
            cancelled = await client.delete(
                f"/api/v1/registrations/{leaving['id']}",
                headers={"Authorization": f"Bearer {leaving['manage_token']}"},
            )
            assert cancelled.status_code == 200, cancelled.text
            await smtp.wait_for(1, registration_id=leaving["id"], kind="cancellation_confirmed")

            starts = datetime.fromisoformat(created.json()["starts_at"]) + timedelta(hours=1)
            moved = await client.patch(
                f"/api/v1/events/{event_id}",
                json={
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=3)).isoformat(),
                },
                headers=ADMIN,
            )
            assert moved.status_code == 200, moved.text
            for person in (on_site, remote):
                await smtp.wait_for(1, registration_id=person["id"], kind="event_changed")

            called_off = await client.post(
                f"/api/v1/events/{event_id}/cancellation", json={}, headers=ADMIN
            )
            assert called_off.status_code == 200, called_off.text
            for person in (on_site, remote):
                await smtp.wait_for(1, registration_id=person["id"], kind="event_cancelled")

        async with httpx.AsyncClient(
            base_url=services["notification"].operations_url, timeout=30
        ) as operations:

            async def settled_schedule() -> dict[str, Any] | None:
                answer = await operations.get(f"/api/v1/events/{event_id}/schedule", headers=ADMIN)
                body: dict[str, Any] = answer.json()
                states = {item["key"].split(":", 1)[1]: item["state"] for item in body["items"]}
                return body if states.get("event_cancelled") == "done" else None

            schedule = await eventually(settled_schedule, what="the cancellation notice done")

    for person in (on_site, remote):
        kinds = [m.kind for m in smtp.matching(registration_id=person["id"])]
        assert kinds.count("event_changed") == 1, kinds
        assert kinds.count("event_cancelled") == 1, kinds
    leaver = [m.kind for m in smtp.matching(registration_id=leaving["id"])]
    assert "event_changed" not in leaver
    assert "event_cancelled" not in leaver
    states = {item["key"].split(":", 1)[1]: item for item in schedule["items"]}
    assert states["event_changed:r2"]["state"] == "done"
    assert states["event_changed:r2"]["recipients"] == 2
    assert states["event_cancelled"]["recipients"] == 2
    assert states["reminder:m1440"]["state"] == "dropped"
    assert states["thank_you"]["state"] == "dropped"

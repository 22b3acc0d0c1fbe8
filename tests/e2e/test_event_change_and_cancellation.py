"""An event changes its time, then is cancelled, end to end: processes only, real SMTP.

Three people register for a published event that starts in twenty minutes:
one on site (Finnish, gets the seat), one remotely (English), and one who
cancels again before anything changes (Swedish). The organiser moves the
event a quarter of an hour later with the API, then cancels it.

- Every active registrant gets one change notice whose ``.ics`` updates the
  entry their seat or stream mail put in their calendar: the same UID, a
  higher SEQUENCE, METHOD:REQUEST, and the new start.
- Every active registrant gets one cancellation notice whose ``.ics``
  removes that entry: METHOD:CANCEL, the same UID.
- The personal watch link answers 410 Gone afterwards.
- An integrating system bound to ``ilmo.events`` hears ``event.cancelled``,
  with nothing personal in it.
- The registrant who had cancelled gets neither notice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.event_life import calendar_entry, mail_occasion
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import watch_link_in
from tests.support.polling import eventually
from tests.support.registration import ADMIN, bearer, event_payload, registration_payload
from tests.support.settling import quiescent
from tests.support.smtp import ReceivedMail, SmtpTestServer, services_with_mail

STREAM_URL = "https://stream.example.fi/live/moved"
NOTE = {
    "fi": "Tilaisuus siirtyy keväälle.",
    "sv": "Evenemanget flyttas till våren.",
    "en": "The event moves to the spring.",
}


def moving_event(now: datetime) -> dict[str, Any]:
    """Starts in twenty minutes (stream links already open), no reminders to get in the way."""
    starts = now.replace(microsecond=0) + timedelta(minutes=20)
    return event_payload(
        now=now,
        id=f"moving-{uuid.uuid4().hex[:8]}",
        in_person_capacity=1,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=2)).isoformat(),
        registration_opens_at=(now - timedelta(days=1)).isoformat(),
        registration_closes_at=(starts - timedelta(minutes=5)).isoformat(),
        stream_url=STREAM_URL,
        agenda=[],
        reminders=[],
        thank_you_minutes_after=None,
    )


async def one_mail(smtp: SmtpTestServer, registration_id: str, kind: str) -> ReceivedMail:
    [mail] = await smtp.wait_for(1, registration_id=registration_id, kind=kind, timeout=60)
    return mail


async def test_a_moved_then_cancelled_event_updates_then_removes_every_calendar_entry(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with services_with_mail(infrastructure) as (smtp, services):
        event = moving_event(datetime.now(UTC))
        path = f"/api/v1/events/{event['id']}"
        async with (
            httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api,
            httpx.AsyncClient(timeout=10) as browser,
            event_tap(
                infrastructure.amqp_url, "event.cancelled", exchange="ilmo.events"
            ) as outside,
        ):
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            receipts: dict[str, dict[str, Any]] = {}
            for name, body in [
                (
                    "seated",
                    registration_payload(
                        first_name="Matti",
                        last_name="Siirrettävä",
                        attendance="in_person",
                        language="fi",
                    ),
                ),
                (
                    "remote",
                    registration_payload(
                        first_name="Ann", last_name="Moved", attendance="remote", language="en"
                    ),
                ),
                (
                    "gone",
                    registration_payload(
                        first_name="Åsa", last_name="Avbokad", attendance="remote", language="sv"
                    ),
                ),
            ]:
                answer = await api.post(f"{path}/registrations", json=body)
                assert answer.status_code == 202, answer.text
                receipts[name] = answer.json()
            seated, remote, gone = (receipts[n]["id"] for n in ("seated", "remote", "gone"))

            seat_mail = await one_mail(smtp, seated, "seat_confirmed")
            link_mail = await one_mail(smtp, remote, "stream_link")
            await one_mail(smtp, gone, "stream_link")
            left = await api.delete(
                f"/api/v1/registrations/{gone}", headers=bearer(receipts["gone"]["manage_token"])
            )
            assert left.status_code in (200, 204), left.text
            await one_mail(smtp, gone, "cancellation_confirmed")
            await quiescent(services, infrastructure, mongo)
            first = {seated: calendar_entry(seat_mail), remote: calendar_entry(link_mail)}
            watch_link = watch_link_in(link_mail)

            # The organiser moves the event a quarter of an hour later.
            new_start = datetime.fromisoformat(event["starts_at"]) + timedelta(minutes=15)
            new_end = datetime.fromisoformat(event["ends_at"]) + timedelta(minutes=15)
            moved = await api.patch(
                path,
                json={"starts_at": new_start.isoformat(), "ends_at": new_end.isoformat()},
                headers=ADMIN,
            )
            assert moved.status_code == 200, moved.text
            revision = moved.json()["revision"]
            updated = {}
            for rid in (seated, remote):
                notice = await one_mail(smtp, rid, "event_changed")
                assert mail_occasion(notice) == f"r{revision}"
                entry = calendar_entry(notice)
                assert entry.method == "REQUEST"
                assert entry.uid == first[rid].uid, "a second entry instead of the same one"
                assert entry.sequence > first[rid].sequence
                assert datetime.fromisoformat(entry.starts_at) == new_start.astimezone(UTC)
                assert datetime.fromisoformat(entry.starts_at) != datetime.fromisoformat(
                    first[rid].starts_at
                )
                assert notice.language == ("fi" if rid == seated else "en")
                updated[rid] = entry
            await quiescent(services, infrastructure, mongo)

            # The organiser cancels it.
            cancelled = await api.post(f"{path}/cancellation", json={"note": NOTE}, headers=ADMIN)
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["cancelled_at"]
            for rid in (seated, remote):
                notice = await one_mail(smtp, rid, "event_cancelled")
                entry = calendar_entry(notice)
                assert entry.method == "CANCEL"
                assert entry.uid == first[rid].uid
                assert entry.sequence >= updated[rid].sequence
                assert NOTE[str(notice.language)] in notice.text()

            async def gone_link() -> bool:
                answer = await browser.get(watch_link, follow_redirects=False)
                return answer.status_code == 410

            await eventually(gone_link, what="the watch link to answer 410", interval=0.2)

            [announced] = await outside.wait_for(1, routing_key="event.cancelled")
            assert announced.data["event_id"] == event["id"]
            assert announced.data["cancelled_at"]
            assert announced.data["revision"] == cancelled.json()["revision"]
            assert "@" not in announced.body.decode()

            await quiescent(services, infrastructure, mongo)
            # Exactly one of each notice to each active registrant; none to the one who left.
            for kind in ("event_changed", "event_cancelled"):
                assert sorted(str(m.registration_id) for m in smtp.matching(kind=kind)) == sorted(
                    [seated, remote]
                ), kind
            assert not [
                m
                for m in smtp.matching(registration_id=gone)
                if m.kind not in ("registration_received", "stream_link", "cancellation_confirmed")
            ], "the registrant who had cancelled was told about the event afterwards"

"""Reminders fire on the real clock, end to end: processes only, a real SMTP server.

Slow by nature (about three minutes): an event starts three minutes after it
is created, with a reminder to everyone two minutes before the start and one
to the stream's audience one minute before. One person registers on site (in
Finnish), one remotely (in Swedish). Nothing moves a clock: the services'
own schedule has to wake up and send, as it would the day before a seminar.

- The on-site person gets the two-minute reminder with the arrival details
  and the check-in code as an inline image, and no one-minute reminder.
- The remote person gets both, each with their own personal stream link,
  which still leads to the stream.
- Each reminder comes exactly once, in the person's language, and the
  schedule (notification's operations API, as the console reads it) says
  both are done, with the counts of the mails sent.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.event_life import inline_images, mail_occasion, schedule
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import watch_link_in
from tests.support.polling import eventually
from tests.support.registration import ADMIN, event_payload, registration_payload
from tests.support.settling import quiescent
from tests.support.smtp import ReceivedMail, SmtpTestServer, services_with_mail

STREAM_URL = "https://stream.example.fi/live/reminded"
ARRIVAL_FI = "Sisäänkäynti pääovesta."
# How long after its due time a reminder may take to arrive: the schedule's
# own polling, the dispatcher, a slow machine running other tests beside.
LATENESS = 90.0


def reminded_event(now: datetime) -> dict[str, Any]:
    """Starts in three minutes; reminders two minutes (everyone) and one minute (stream) before."""
    starts = now.replace(microsecond=0) + timedelta(minutes=3)
    return event_payload(
        now=now,
        id=f"reminded-{uuid.uuid4().hex[:8]}",
        in_person_capacity=5,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=2)).isoformat(),
        registration_opens_at=(now - timedelta(days=1)).isoformat(),
        # Closed before the start, as a real seminar's registration is.
        registration_closes_at=(starts - timedelta(seconds=90)).isoformat(),
        stream_url=STREAM_URL,
        agenda=[],
        reminders=[
            {"minutes_before": 2, "audience": "all"},
            {"minutes_before": 1, "audience": "stream"},
        ],
        thank_you_minutes_after=None,
    )


def seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


async def reminder(
    smtp: SmtpTestServer, registration_id: str, occasion: str, due: datetime
) -> ReceivedMail:
    """The one reminder ``occasion`` (``m2``, ``m1``) of a registrant, awaited past its due time."""

    async def arrived() -> list[ReceivedMail]:
        return [
            mail
            for mail in smtp.matching(registration_id=registration_id, kind="reminder")
            if mail_occasion(mail) == occasion
        ]

    found = await eventually(
        arrived,
        what=f"reminder {occasion} for {registration_id}",
        timeout=seconds_until(due) + LATENESS,
        interval=0.5,
        detail=lambda: (
            "mails so far: "
            + ", ".join(f"{m.kind}/{mail_occasion(m)}" for m in smtp.matching(kind="reminder"))
        ),
    )
    assert len(found) == 1, f"{len(found)} reminders {occasion} for {registration_id}"
    return found[0]


async def test_real_reminders_fire_once_each_for_their_audience_with_arrival_details_or_link(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with services_with_mail(infrastructure) as (smtp, services):
        event = reminded_event(datetime.now(UTC))
        starts = datetime.fromisoformat(event["starts_at"])
        async with (
            httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api,
            httpx.AsyncClient(base_url=services["notification"].operations_url, timeout=30) as ops,
            httpx.AsyncClient(timeout=10) as browser,
        ):
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            register = f"/api/v1/events/{event['id']}/registrations"
            ids: dict[str, str] = {}
            for name, body in [
                (
                    "on_site",
                    registration_payload(
                        first_name="Matti",
                        last_name="Muistettava",
                        attendance="in_person",
                        language="fi",
                    ),
                ),
                (
                    "remote",
                    registration_payload(
                        first_name="Åsa", last_name="Påminnelse", attendance="remote", language="sv"
                    ),
                ),
            ]:
                answer = await api.post(register, json=body)
                assert answer.status_code == 202, answer.text
                ids[name] = answer.json()["id"]
            on_site, remote = ids["on_site"], ids["remote"]

            [seat] = await smtp.wait_for(
                1, registration_id=on_site, kind="seat_confirmed", timeout=60
            )
            assert inline_images(seat), "the seat confirmation carries no check-in code"
            [link_mail] = await smtp.wait_for(
                1, registration_id=remote, kind="stream_link", timeout=60
            )
            personal_link = watch_link_in(link_mail)

            # Two minutes before the start: everyone.
            first_due = starts - timedelta(minutes=2)
            arrival = await reminder(smtp, on_site, "m2", first_due)
            assert arrival.language == "fi"
            assert ARRIVAL_FI in arrival.text()
            assert event["venue"]["address"] in arrival.text()
            [code] = inline_images(arrival)
            assert code.get_content_type() in ("image/png", "image/svg+xml", "image/gif")
            assert code.get_content(), "the check-in code image is empty"
            remote_first = await reminder(smtp, remote, "m2", first_due)
            assert remote_first.language == "sv"
            assert watch_link_in(remote_first) == personal_link

            # One minute before: the stream's audience only.
            second_due = starts - timedelta(minutes=1)
            remote_second = await reminder(smtp, remote, "m1", second_due)
            assert remote_second.language == "sv"
            assert watch_link_in(remote_second) == personal_link
            opened = await browser.get(personal_link, follow_redirects=False)
            assert opened.status_code == 302, opened.text
            assert opened.headers["location"] == STREAM_URL

            # The schedule says both are done: nothing is left that could send again.
            async def both_done() -> list[dict[str, Any]] | None:
                items = [i for i in await schedule(ops, event["id"]) if i["kind"] == "reminder"]
                return items if items and all(i["state"] == "done" for i in items) else None

            items = await eventually(both_done, what="both reminders done", timeout=LATENESS)
            by_audience = {item["audience"]: item for item in items}
            assert set(by_audience) == {"all", "stream"}
            assert (by_audience["all"]["recipients"], by_audience["all"]["sent"]) == (2, 2)
            assert (by_audience["stream"]["recipients"], by_audience["stream"]["sent"]) == (1, 1)
            await quiescent(services, infrastructure, mongo)

            # A bounded wait for absence: a second copy could only come from a
            # schedule that fires again by the clock (no message or mail is
            # outstanding any more, see quiescent), so give the clock a short
            # while past the last due time to show one, and look.
            async def an_extra_reminder() -> bool:
                return len(smtp.matching(kind="reminder")) > 3

            with contextlib.suppress(AssertionError):
                await eventually(an_extra_reminder, what="an extra reminder", timeout=10)
            reminders = smtp.matching(kind="reminder")
            assert sorted((m.registration_id, mail_occasion(m)) for m in reminders) == sorted(
                [(on_site, "m2"), (remote, "m2"), (remote, "m1")]
            ), "each reminder exactly once, the one-minute one not to the seat holder"

        for service in services.values():
            log = service.log()
            for personal in ("Muistettava", "Påminnelse", "@example.fi"):
                assert personal not in log, f"{service.name} logged personal data"

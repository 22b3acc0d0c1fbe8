"""Emails and personal stream links, end to end: processes only, a real SMTP server.

An event with one seat, starting in a few minutes (so stream links are open):
one remote registrant, one in-person registrant who gets the seat, and one
more in-person registrant who is waitlisted. The exact set of emails is
checked by kind and language; the link in the email redirects to the
stream; after cancellations the cancelled link answers 410 and the
waitlisted person's seat email arrives.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.registration import ADMIN, NOTICE_VERSION, starting_soon
from tests.support.settling import quiescent
from tests.support.smtp import ReceivedMail, SmtpTestServer, services_with_mail

STREAM_URL = "https://stream.example.fi/live/seminar"
LINK = re.compile(r"https?://[^\s\"'<>]+/watch/[A-Za-z0-9_-]+")


def registrant(first: str, last: str, attendance: str, language: str) -> dict[str, Any]:
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{uuid.uuid4().hex[:8]}@example.fi",
        "attendance": attendance,
        "language": language,
        "privacy_notice_version": NOTICE_VERSION,
    }


def inventory(mails: list[ReceivedMail]) -> Counter[tuple[str | None, str | None, str | None]]:
    return Counter((m.registration_id, m.kind, m.language) for m in mails)


async def settle(
    smtp: SmtpTestServer,
    count: int,
    services: dict[str, ServiceProcess],
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
) -> list[ReceivedMail]:
    """Wait for ``count`` mails, then until nothing is left that could send a duplicate."""
    await smtp.wait_for(count, timeout=60)
    await quiescent(services, infrastructure, mongo)
    return smtp.received


async def test_everyone_gets_exactly_their_emails_and_links_work_until_cancelled(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    event = starting_soon("hybrid", STREAM_URL)
    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            register = f"/api/v1/events/{event['id']}/registrations"
            receipts: dict[str, dict[str, Any]] = {}
            # One after another, so the seat goes to the first in-person registrant.
            for name, person in [
                ("remote", registrant("Åsa", "Öhman", "remote", "sv")),
                ("seated", registrant("Matti", "Meikäläinen", "in_person", "fi")),
                ("waiting", registrant("Ann", "Other", "in_person", "en")),
            ]:
                answer = await api.post(register, json=person)
                assert answer.status_code == 202, answer.text
                receipts[name] = answer.json()
                await smtp.wait_for(1, registration_id=answer.json()["id"])
            remote, seated, waiting = (receipts[n]["id"] for n in ("remote", "seated", "waiting"))

            mails = await settle(smtp, 7, services, infrastructure, mongo)
            assert inventory(mails) == Counter(
                {
                    (remote, "registration_received", "sv"): 1,
                    (remote, "stream_link", "sv"): 1,
                    (seated, "registration_received", "fi"): 1,
                    (seated, "seat_confirmed", "fi"): 1,
                    (waiting, "registration_received", "en"): 1,
                    (waiting, "waitlisted", "en"): 1,
                    (waiting, "stream_link", "en"): 1,
                }
            )
            organiser = event["organiser"]
            for mail in mails:
                # In the organiser's name in the reader's language, from Ilmo's own
                # address (the envelope's too); a reply reaches the organiser.
                [sender] = mail.message["From"].addresses
                assert sender.display_name == organiser["name"][mail.language], mail.language
                assert sender.addr_spec == mail.mail_from
                [reply_to] = mail.message["Reply-To"].addresses
                assert reply_to.addr_spec == organiser["email"]
                assert organiser["phone"] in mail.text()
            [remote_link_mail] = smtp.matching(registration_id=remote, kind="stream_link")
            assert remote_link_mail.message["To"].addresses[0].display_name == "Åsa Öhman"
            remote_link = _link_in(remote_link_mail)
            [waiting_link_mail] = smtp.matching(registration_id=waiting, kind="stream_link")
            waiting_link = _link_in(waiting_link_mail)

            async with httpx.AsyncClient(timeout=10) as browser:
                opened = await browser.get(remote_link, follow_redirects=False)
                assert opened.status_code == 302, opened.text
                assert opened.headers["location"] == STREAM_URL

                for name in ("remote", "seated"):
                    cancelled = await api.delete(
                        f"/api/v1/registrations/{receipts[name]['id']}",
                        headers={"Authorization": f"Bearer {receipts[name]['manage_token']}"},
                    )
                    assert cancelled.status_code in (200, 204), cancelled.text

                promoted = await smtp.wait_for(
                    1, registration_id=waiting, kind="seat_confirmed", timeout=60
                )
                assert promoted[0].language == "en"
                mails = await settle(smtp, 10, services, infrastructure, mongo)
                assert inventory(mails) - inventory(mails[:7]) == Counter(
                    {
                        (remote, "cancellation_confirmed", "sv"): 1,
                        (seated, "cancellation_confirmed", "fi"): 1,
                        (waiting, "seat_confirmed", "en"): 1,
                    }
                )
                assert len(mails) == 10

                async def revoked() -> bool:
                    answer = await browser.get(remote_link, follow_redirects=False)
                    return answer.status_code == 410

                await eventually(
                    revoked,
                    what="the cancelled registrant's link to stop working",
                    interval=0.2,
                )
                # The promoted person keeps their link: they may still prefer to watch.
                kept = await browser.get(waiting_link, follow_redirects=False)
                assert kept.status_code == 302
                assert kept.headers["location"] == STREAM_URL

        for service in services.values():
            log = service.log()
            for personal in ("Åsa", "Meikäläinen", "@example.fi"):
                assert personal not in log, f"{service.name} logged personal data"


def _link_in(mail: ReceivedMail) -> str:
    found = LINK.findall(mail.text())
    assert found, mail.text()
    return str(found[0])

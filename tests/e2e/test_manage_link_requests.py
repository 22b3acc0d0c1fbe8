"""Asking for one's manage link again, with the services as processes and a real SMTP server.

A registrant who lost their mails asks for the link by address over the
JSON API: the mail arrives with a manage link that opens their registration.
Asking about an address nobody registered gets the very same answer and
sends nothing. An address asked about too often is answered 429, registered
or not (the default limit, three an hour).
"""

from __future__ import annotations

import uuid

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import manage_link_in
from tests.support.problems import assert_problem
from tests.support.registration import create_event, register
from tests.support.settling import quiescent
from tests.support.smtp import services_with_mail

# Headers that differ between any two answers, whatever they answer.
PER_REQUEST = {"x-correlation-id", "date"}


def seen(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    """What an asker can tell of an answer: status, body and headers but the per-request ones."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in PER_REQUEST}
    return response.status_code, response.content, headers


async def test_a_registrant_gets_their_link_again_and_nobody_learns_who_registered(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    registered = f"kadonnut.{uuid.uuid4().hex[:8]}@example.fi"
    stranger = f"vieras.{uuid.uuid4().hex[:8]}@example.fi"
    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            event = await create_event(api)
            path = f"/api/v1/events/{event['id']}/manage-link-requests"
            receipt = await register(
                api, event["id"], email=registered, first_name="Åsa", language="sv"
            )
            await smtp.wait_for(
                1, registration_id=receipt["id"], kind="registration_received", timeout=60
            )

            unknown = await api.post(path, json={"email": stranger})
            known = await api.post(path, json={"email": registered.upper(), "language": "en"})
            assert known.status_code == 202, known.text
            assert seen(known) == seen(unknown)

            [mail] = await smtp.wait_for(
                1, registration_id=receipt["id"], kind="manage_link", timeout=60
            )
            assert mail.recipients == (registered,)
            assert mail.language == "en"
            assert mail.message["Subject"].startswith("The link to your registration")
            async with httpx.AsyncClient(timeout=30) as browser:
                manage = await browser.get(manage_link_in(mail))
            assert manage.status_code == 200
            assert "Åsa" in manage.text

            # The address asked about three times an hour at most, registered or not.
            answers = {
                address: [(await api.post(path, json={"email": address})) for _ in range(3)]
                for address in (registered, stranger)
            }
            assert [a.status_code for a in answers[registered]] == [202, 202, 429]
            assert [a.status_code for a in answers[stranger]] == [202, 202, 429]
            for address in (registered, stranger):
                refused = assert_problem(answers[address][2], 429, "/problems/too-many-requests")
                assert int(answers[address][2].headers["Retry-After"]) >= 1
                assert refused["detail"]
            assert seen(answers[registered][1]) == seen(answers[stranger][1])
            await quiescent(services, infrastructure, mongo)

    # One link mail: the later requests came within the link interval (5 minutes),
    # and nothing at all went to the address nobody registered.
    assert len(smtp.matching(kind="manage_link")) == 1
    assert not [m for m in smtp.received if stranger in m.recipients]

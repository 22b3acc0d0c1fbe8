"""All four services run as processes and talk only through the real broker.

The registrants confirm their addresses as people do, from the link in the
mail they receive (a real SMTP server of the test's own), before anything
else happens.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.confirmation import confirmation_link_in, follow_confirmation
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import ADMIN, ADMIN_TOKEN, event_payload
from tests.support.smtp import services_with_mail

# The notification service has no HTTP view of its contacts; read its own database.
CONTACTS = "contacts"


async def test_a_registration_reaches_every_consumer_through_the_broker(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with services_with_mail(infrastructure) as (smtp, services):
        async with event_tap(infrastructure.amqp_url) as tap:
            async with httpx.AsyncClient(base_url=services["registration"].url) as client:
                created = await client.post(
                    "/api/v1/events",
                    json=event_payload(id="ministry-seminar", email_confirmation=True),
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                assert created.status_code == 201, created.text
                # As a client would: show the event's privacy notice, send its version.
                notice = await client.get("/api/v1/events/ministry-seminar/privacy-notice")
                assert notice.status_code == 200, notice.text
                assert set(notice.json()["text"]) == {"fi", "sv", "en"}
                notice_version = notice.json()["version"]
                response = await client.post(
                    "/api/v1/events/ministry-seminar/registrations",
                    json={
                        "first_name": "Åsa",
                        "last_name": "Öhman",
                        "email": "asa.ohman@example.fi",
                        "attendance": "in_person",
                        "language": "sv",
                        "privacy_notice_version": notice_version,
                    },
                    headers={"X-Correlation-ID": "e2e-skeleton"},
                )
                remote = await client.post(
                    "/api/v1/events/ministry-seminar/registrations",
                    json={
                        "first_name": "Matti",
                        "last_name": "Meikäläinen",
                        "email": "matti@example.fi",
                        "attendance": "remote",
                        "language": "fi",
                        "privacy_notice_version": notice_version,
                    },
                )
            assert response.status_code == 202, response.text
            registration_id = response.json()["id"]
            ilmo_correlation_id = response.headers["X-Correlation-ID"]
            assert ilmo_correlation_id != "e2e-skeleton"  # Ilmo's own, never the client's
            assert remote.status_code == 202, remote.text
            assert response.json()["status"] == remote.json()["status"] == "pending_confirmation"

            # Nothing is decided until each person confirms from the mail they got.
            submitted = await tap.wait_for(2, routing_key="registration.submitted")
            [asked] = [m for m in submitted if m.headers["cloudEvents:subject"] == registration_id]
            assert asked.headers["cloudEvents:correlationid"] == ilmo_correlation_id
            async with httpx.AsyncClient(timeout=10) as browser:
                for receipt in (response.json(), remote.json()):
                    [mail] = await smtp.wait_for(
                        1, registration_id=receipt["id"], kind="confirm_address"
                    )
                    await tap.take_arrived()
                    assert not [
                        m
                        for m in tap.messages
                        if m.routing_key == "registration.accepted"
                        and m.data["registration_id"] == receipt["id"]
                    ]
                    confirm_link = confirmation_link_in(mail.text())
                    assert confirm_link is not None, mail.text()
                    shown = await browser.get(
                        f"{services['registration'].url}/api/v1/registrations/{receipt['id']}",
                        headers={"Authorization": f"Bearer {receipt['manage_token']}"},
                    )
                    assert shown.json()["status"] == "pending_confirmation"
                    confirmed = await follow_confirmation(browser, confirm_link)
                    assert confirmed.status_code == 303, confirmed.text
                    manage = await browser.get(
                        httpx.URL(confirm_link).join(confirmed.headers["Location"])
                    )
                    assert manage.status_code == 200

            accepted = await tap.wait_for(2, routing_key="registration.accepted")
            [published] = [
                m for m in accepted if m.headers["cloudEvents:subject"] == registration_id
            ]
            notification = mongo[infrastructure.database_name("notification")]
            for recorded in (registration_id, remote.json()["id"]):
                record = await _eventually(notification[CONTACTS], recorded)
                assert record["event_id"] == "ministry-seminar"
            [link] = await tap.wait_for(1, routing_key="stream.link.provisioned")
            assert link.headers["cloudEvents:subject"] == remote.json()["id"]
            operations = {name: service.operations_url for name, service in services.items()}
            async with httpx.AsyncClient(
                base_url=operations["streaming"], headers=ADMIN
            ) as streaming:
                links = await _eventually_http(
                    streaming,
                    "/api/v1/events/ministry-seminar/stream-links",
                    lambda counts: counts["provisioned"] == 1,
                )
            assert links["revoked"] == 0
            async with httpx.AsyncClient(
                base_url=operations["capacity"], headers=ADMIN
            ) as capacity:
                seats = await _eventually_http(
                    capacity, "/api/v1/events/ministry-seminar/seats", lambda s: s["reserved"] == 1
                )
            assert seats["capacity"] == event_payload()["in_person_capacity"]
            await smtp.wait_for(1, registration_id=registration_id, kind="seat_confirmed")

            # Registering again is answered as before; the person is told by mail.
            async with httpx.AsyncClient(base_url=services["registration"].url) as client:
                again = await client.post(
                    "/api/v1/events/ministry-seminar/registrations",
                    json={
                        "first_name": "Someone",
                        "last_name": "Else",
                        "email": "ASA.OHMAN@example.fi",
                        "attendance": "remote",
                        "language": "en",
                        "privacy_notice_version": notice_version,
                    },
                )
            assert again.status_code == 202, again.text
            assert set(again.json()) == set(response.json())
            assert again.json()["status"] == "pending_confirmation"
            assert again.json()["id"] != registration_id
            [told] = await smtp.wait_for(
                1, registration_id=registration_id, kind="already_registered"
            )
            assert told.language == "sv"
            assert f"/manage/{registration_id}?token=" in told.text()
            # A confirmed registrant's first mail was the confirmation: no receipt follows.
            # (Only this test's registrants: the session's broker may still deliver mails for
            # registrations an earlier test made with the registration service alone.)
            for receipt in (response.json(), remote.json()):
                assert not smtp.matching(
                    registration_id=receipt["id"], kind="registration_received"
                )

        assert published.message_id == published.headers["cloudEvents:id"]
        assert published.headers["cloudEvents:type"] == "registration.accepted"
        assert published.headers["cloudEvents:source"] == "ilmo/registration"
        assert published.headers["cloudEvents:specversion"] == "1.0"
        assert published.headers["cloudEvents:subject"] == registration_id
        assert published.headers["cloudEvents:datacontenttype"] == "application/json"
        assert "cloudEvents:time" in published.headers
        # Accepted on confirmation: the confirming request's correlation id.
        assert published.headers["cloudEvents:correlationid"] != ilmo_correlation_id
        assert published.delivery_mode == 2
        assert published.data["registration_id"] == registration_id

        for service in services.values():
            # 0 once both listeners and the lifecycle stopped; -SIGTERM only if
            # the signal came before the process set its handlers.
            assert service.stop() in (0, -signal.SIGTERM), service.log()
            assert '"service_stopped"' in service.log(), f"{service.name} did not stop cleanly"
            assert "asa.ohman@example.fi" not in service.log(), f"{service.name} logged an email"


async def _eventually(
    collection: AsyncCollection[Document], document_id: str, timeout: float = 20.0
) -> Document:
    async def found() -> Document | None:
        return await collection.find_one({"_id": document_id})

    return await eventually(
        found, what=f"{collection.full_name} to record {document_id}", timeout=timeout
    )


async def _eventually_http(
    client: httpx.AsyncClient,
    path: str,
    condition: Callable[[dict[str, Any]], bool],
    timeout: float = 20.0,
) -> dict[str, Any]:
    last: list[httpx.Response] = []

    async def met() -> dict[str, Any] | None:
        last[:] = [await client.get(path)]
        if last[0].status_code == 200 and condition(last[0].json()):
            return dict(last[0].json())
        return None

    return await eventually(
        met,
        what=f"{path} to meet the condition",
        timeout=timeout,
        detail=lambda: f"last answer {last[0].text if last else None}",
    )

"""All four services run as processes and talk only through the real broker."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import running_services
from tests.support.registration import ADMIN_TOKEN, event_payload

# The notification service has no HTTP view of its contacts; read its own database.
CONTACTS = "contacts"


async def test_a_registration_reaches_every_consumer_through_the_broker(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with running_services(infrastructure) as services:
        async with event_tap(infrastructure.amqp_url) as tap:
            async with httpx.AsyncClient(base_url=services["registration"].url) as client:
                created = await client.post(
                    "/api/v1/events",
                    json=event_payload(id="ministry-seminar"),
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
            async with httpx.AsyncClient(base_url=operations["streaming"]) as streaming:
                links = await _eventually_http(
                    streaming,
                    "/api/v1/events/ministry-seminar/stream-links",
                    lambda counts: counts["provisioned"] == 1,
                )
            assert links["revoked"] == 0
            async with httpx.AsyncClient(base_url=operations["capacity"]) as capacity:
                seats = await _eventually_http(
                    capacity, "/api/v1/events/ministry-seminar/seats", lambda s: s["reserved"] == 1
                )
            assert seats["capacity"] == event_payload()["in_person_capacity"]

        assert published.message_id == published.headers["cloudEvents:id"]
        assert published.headers["cloudEvents:type"] == "registration.accepted"
        assert published.headers["cloudEvents:source"] == "ilmo/registration"
        assert published.headers["cloudEvents:specversion"] == "1.0"
        assert published.headers["cloudEvents:subject"] == registration_id
        assert published.headers["cloudEvents:datacontenttype"] == "application/json"
        assert "cloudEvents:time" in published.headers
        assert published.headers["cloudEvents:correlationid"] == ilmo_correlation_id
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

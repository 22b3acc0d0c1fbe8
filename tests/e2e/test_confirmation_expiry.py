"""An unconfirmed registration expires and blocks nobody: processes, a real SMTP server.

The registration and notification services run with an expiry of seconds
(``ILMO_CONFIRMATION_EXPIRY_MINUTES``) and a quick sweep. Someone registers
and never confirms; once the sweep removed the registration, the same
address registers again and gets a new confirmation mail, and the old link
says it expired.
"""

from __future__ import annotations

from typing import Any

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.confirmation import confirmation_link_in, follow_confirmation
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import running_services
from tests.support.registration import ADMIN, event_payload, registration_payload, unique_id
from tests.support.smtp import smtp_server


async def test_an_expired_registration_blocks_nobody_and_its_link_says_it_expired(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with (
        smtp_server() as smtp,
        running_services(
            infrastructure,
            ("registration", "notification"),
            extra_environment={
                "ILMO_SMTP_HOST": smtp.host,
                "ILMO_SMTP_PORT": str(smtp.port),
                "ILMO_CONFIRMATION_EXPIRY_MINUTES": "0.05",  # 3 s
                "ILMO_CONFIRMATION_SWEEP_SECONDS": "0.5",
            },
        ) as services,
    ):
        event = event_payload(id=unique_id("expiry"), email_confirmation=True)
        person = registration_payload(email="forgetful@example.fi", language="en")
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            assert (await api.post("/api/v1/events", json=event, headers=ADMIN)).status_code == 201
            register = f"/api/v1/events/{event['id']}/registrations"
            first = (await api.post(register, json=person)).json()
            [old_mail] = await smtp.wait_for(1, registration_id=first["id"], kind="confirm_address")

            async def removed() -> bool:
                listed = await api.get(f"/api/v1/events/{event['id']}/registrations", headers=ADMIN)
                return listed.status_code == 200 and listed.json() == []

            await eventually(removed, what="the unconfirmed registration removed by the sweep")
            contacts = mongo[infrastructure.database_name("notification")]["contacts"]

            async def forgotten() -> bool:
                return await contacts.count_documents({"_id": first["id"]}) == 0

            await eventually(forgotten, what="notification to forget the expired contact")

            again = await api.post(register, json=person)
            assert again.status_code == 202
            second: dict[str, Any] = again.json()
            [new_mail] = await smtp.wait_for(
                1, registration_id=second["id"], kind="confirm_address"
            )
            listed = await api.get(f"/api/v1/events/{event['id']}/registrations", headers=ADMIN)
            assert [r["id"] for r in listed.json()] == [second["id"]]

        old_link, new_link = (
            confirmation_link_in(old_mail.text()),
            confirmation_link_in(new_mail.text()),
        )
        assert old_link is not None
        assert new_link is not None
        assert "If you do not confirm it by" in new_mail.text()
        async with httpx.AsyncClient(timeout=10) as browser:
            late = await follow_confirmation(browser, old_link)
            assert late.status_code == 410
            assert "The link has expired" in late.text
        for service in services.values():
            assert "forgetful@example.fi" not in service.log()

"""The console's registration screens end to end: the services as processes, the real provider.

The console's client is a client of the development identity provider; the
registration service asks capacity, notification and streaming for their
figures with its client-credentials token, as in production. An organiser
(a console session as the sign-in leaves it) reads a registration, has a
mail sent again (twice from the same form: one mail), cancels on the
person's behalf (the person gets the cancellation mail), and a viewer with
a token from the provider's login page gets names only from the JSON API
and is refused the CSV. The audit trail then lists exactly those actions,
in order. Last, every console page passes axe-core at a phone's and a
desktop's width, and is saved as a screenshot.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx
from playwright.async_api import Browser
from pymongo import AsyncMongoClient

from ilmo_registration.console.session import COOKIE
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.browser import assert_accessible, screenshot
from tests.support.console import SignedIn, csrf_token_in, signed_in
from tests.support.identity import (
    Client,
    IdentityProvider,
    register_client,
    service_token,
    sign_in,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.registration import ADMIN, bearer, create_event, register
from tests.support.settling import quiescent
from tests.support.smtp import services_with_mail

REDIRECT = "http://127.0.0.1:9/signed-in"
_RESEND = re.compile(r'/resend\?mail=([^"]+?registration_received)"')
_REQUEST = re.compile(r'name="request_id" value="([^"]+)"')


def console_environment(console: Client, provider: IdentityProvider) -> dict[str, str]:
    return {
        "ILMO_OIDC_ISSUER": provider.issuer,
        "ILMO_OIDC_SERVICE_CLIENTS": console.client_id,
        "ILMO_OIDC_CLIENT_ID": console.client_id,
        "ILMO_OIDC_CLIENT_SECRET": console.client_secret,
    }


async def mails_sent(
    services: dict[str, ServiceProcess], token: str, registration_id: str
) -> list[dict[str, Any]]:
    """The registration's mails once every one of them is sent (notification's own answer)."""

    async def check() -> list[dict[str, Any]] | None:
        async with httpx.AsyncClient(base_url=services["notification"].operations_url) as api:
            answer = await api.get(
                f"/api/v1/registrations/{registration_id}/mails", headers=bearer(token)
            )
        assert answer.status_code == 200, answer.text
        mails: list[dict[str, Any]] = answer.json()["mails"]
        return mails if mails and all(m["state"] == "sent" for m in mails) else None

    return await eventually(check, what="the registration's mails sent", timeout=60)


async def resend_twice(
    console: httpx.AsyncClient, organiser: SignedIn, registration_id: str, page: str
) -> None:
    """Send the receipt again from its confirmation page, submitting the same form twice."""
    found = _RESEND.search(page)
    assert found is not None, "no 'send again' link for the receipt"
    mail_id = unquote(found.group(1))
    question = await console.get(
        f"/console/registrations/{registration_id}/resend",
        params={"mail": mail_id, "lang": "en"},
        headers=organiser.plain_headers,
    )
    assert question.status_code == 200, question.text
    request_id = _REQUEST.search(question.text)
    assert request_id is not None
    form = {
        "csrf_token": csrf_token_in(question),
        "mail": mail_id,
        "request_id": request_id.group(1),
    }
    for _ in range(2):
        done = await console.post(
            f"/console/registrations/{registration_id}/resend",
            data=form,
            headers=organiser.plain_headers,
        )
        assert done.status_code == 303, done.text


async def cancel_on_behalf(
    console: httpx.AsyncClient, organiser: SignedIn, registration_id: str
) -> None:
    question = await console.get(
        f"/console/registrations/{registration_id}/cancel",
        params={"lang": "en"},
        headers=organiser.plain_headers,
    )
    assert "Cancel the registration of Aino Öhman?" in question.text
    done = await console.post(
        f"/console/registrations/{registration_id}/cancel",
        data={"csrf_token": csrf_token_in(question)},
        headers=organiser.plain_headers,
    )
    assert done.status_code == 303, done.text


async def viewer_through_the_api(
    api: httpx.AsyncClient, provider: IdentityProvider, people: Client, event_id: str
) -> str:
    """A viewer's token from the login page: names only, and no CSV. Returns the subject."""
    viewer = await sign_in(provider, people, "viewer", redirect_uri=REDIRECT)
    listed = await api.get(
        f"/api/v1/events/{event_id}/registrations", headers=bearer(viewer.access_token)
    )
    assert listed.status_code == 200, listed.text
    assert {row["last_name"] for row in listed.json()} == {"Öhman", "Mäkinen"}
    assert {row["email"] for row in listed.json()} == {None}
    refused = await api.get(
        f"/api/v1/events/{event_id}/registrations",
        headers={**bearer(viewer.access_token), "Accept": "text/csv"},
    )
    assert refused.status_code == 403
    registration_id = listed.json()[0]["id"]
    erasing = await api.delete(
        f"/api/v1/admin/registrations/{registration_id}", headers=bearer(viewer.access_token)
    )
    assert erasing.status_code == 403
    return str(viewer.claims["sub"])


async def a_persons_mails_are_for_services_only(
    services: dict[str, ServiceProcess],
    provider: IdentityProvider,
    people: Client,
    registration_id: str,
) -> None:
    """An operator reads counts, not a person's mails: only Ilmo's services may."""
    operator = await sign_in(provider, people, "operator", redirect_uri=REDIRECT)
    async with httpx.AsyncClient(base_url=services["notification"].operations_url) as api:
        counts = await api.get("/api/v1/mails/summary", headers=bearer(operator.access_token))
        mails = await api.get(
            f"/api/v1/registrations/{registration_id}/mails", headers=bearer(operator.access_token)
        )
    assert counts.status_code == 200
    assert mails.status_code == 403


async def audit_of(api: httpx.AsyncClient, event_id: str) -> list[tuple[str, str | None, str]]:
    answer = await api.get("/api/v1/audit", params={"event_id": event_id}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return [
        (entry["action"], entry["registration_id"], entry["actor_subject"])
        for entry in reversed(answer.json()["entries"])
        if entry["action"] != "audit-read"
    ]


async def test_an_organiser_reads_resends_and_cancels_and_the_audit_trail_says_so(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    identity: IdentityProvider,
    browser: Browser,
) -> None:
    console_client = await register_client(identity, grant_types=("client_credentials",))
    people = await register_client(identity, redirect_uris=[REDIRECT])
    environment = console_environment(console_client, identity)
    with services_with_mail(infrastructure, environment) as (smtp, services):
        base = services["registration"].url
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            event = await create_event(api)
            event_id = event["id"]
            aino = await register(api, event_id, first_name="Aino", last_name="Öhman")
            await register(
                api, event_id, first_name="Eero", last_name="Mäkinen", attendance="remote"
            )
            token = await service_token(identity, console_client)
            await mails_sent(services, token, aino["id"])
            organiser = await signed_in(
                mongo,
                infrastructure,
                Role.ORGANISER,
                now=datetime.now(UTC),
                subject="organiser-e2e",
            )

            dashboard = await api.get(
                f"/console/events/{event_id}/dashboard",
                params={"lang": "en"},
                headers=organiser.plain_headers,
            )
            assert "Some figures are missing" not in dashboard.text
            assert "Seats taken" in dashboard.text
            assert "Times the stream was joined" in dashboard.text

            one = await api.get(
                f"/console/registrations/{aino['id']}",
                params={"lang": "en"},
                headers=organiser.plain_headers,
            )
            assert "Registration received" in one.text
            await resend_twice(api, organiser, aino["id"], one.text)
            await smtp.wait_for(2, registration_id=aino["id"], kind="registration_received")
            await cancel_on_behalf(api, organiser, aino["id"])
            await smtp.wait_for(1, registration_id=aino["id"], kind="cancellation_confirmed")
            await quiescent(services, infrastructure, mongo)
            assert len(smtp.matching(registration_id=aino["id"], kind="registration_received")) == 2

            viewer = await viewer_through_the_api(api, identity, people, event_id)
            await a_persons_mails_are_for_services_only(services, identity, people, aino["id"])
            assert await audit_of(api, event_id) == [
                ("event-created", None, "development"),
                ("registration-read", aino["id"], "organiser-e2e"),
                ("mail-resent", aino["id"], "organiser-e2e"),
                ("mail-resent", aino["id"], "organiser-e2e"),
                ("registration-cancelled", aino["id"], "organiser-e2e"),
                ("registrations-listed", None, viewer),
            ]

            await pages_are_accessible(browser, base, organiser, event_id, aino["id"])


async def pages_are_accessible(
    browser: Browser,
    base: str,
    organiser: SignedIn,
    event_id: str,
    registration_id: str,
) -> None:
    """Every console page of this branch, at 390 and 1280 px: axe-core, and a screenshot."""
    pages = {
        "console-registrations": f"/console/events/{event_id}/registrations?sort=name",
        "console-registration": f"/console/registrations/{registration_id}",
        "console-registration-erase": f"/console/registrations/{registration_id}/erase",
        "console-dashboard": f"/console/events/{event_id}/dashboard",
        "console-audit": "/console/audit",
    }
    for width in (390, 1280):
        context = await browser.new_context(
            viewport={"width": width, "height": 900},
            locale="fi",
            extra_http_headers={"Accept-Language": "fi"},
        )
        await context.add_cookies(
            [{"name": COOKIE, "value": organiser.cookie, "url": f"{base}/console"}]
        )
        try:
            page = await context.new_page()
            for name, path in pages.items():
                answer = await page.goto(base + path)
                assert answer is not None
                assert answer.status == 200, f"{name}: {answer.status}"
                await assert_accessible(page, f"{name} at {width} px")
                await screenshot(page, f"{name}-{width}")
        finally:
            await context.close()

"""An event's registrations in a real browser, signed in through the development identity provider.

The services run as processes with the console's client at the provider
(Ory Hydra; its login page filled in as a person does). The organiser
watches two registrations arrive, searches, opens one, cancels it on the
person's behalf (the person gets the cancellation mail) and downloads the
registrations as CSV and XLSX, which hold the same; the audit trail then
lists exactly what the organiser did, in order. A viewer sees names only
and gets the 403 page for a registration, its actions and the exports.
axe-core finds no serious or critical WCAG A/AA barrier on the pages.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
from openpyxl import load_workbook
from playwright.async_api import Page, expect

from tests.support.browser import PageOpener, assert_accessible
from tests.support.console import console_client, return_to, sign_in_at_provider
from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import ADMIN, create_event, register
from tests.support.smtp import SmtpTestServer, services_with_mail

DESKTOP = 1280


async def download(page: Page, name: str) -> Path:
    """Follow the download link ``name``; the file the browser saved."""
    async with page.expect_download() as started:
        await page.get_by_role("link", name=name).click()
    saved = await (await started.value).path()
    return Path(saved)


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def xlsx_rows(path: Path) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(path.read_bytes())).active
    assert sheet is not None
    return [
        ["" if value is None else str(value) for value in row]
        for row in sheet.iter_rows(values_only=True)
    ]


async def audit_of(api: httpx.AsyncClient, event_id: str) -> list[dict[str, Any]]:
    answer = await api.get("/api/v1/audit", params={"event_id": event_id}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return [entry for entry in reversed(entries) if entry["action"] != "audit-read"]


async def organiser_works_through_the_registrations(
    page: Page, api: httpx.AsyncClient, event_id: str, smtp: SmtpTestServer
) -> str:
    """Everything the organiser does; returns Aino's registration id."""
    await expect(page.get_by_role("heading", level=1, name="Registrations")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("0 of 0 registrations")
    aino = await register(api, event_id, first_name="Aino", last_name="Öhman", organisation="Kela")
    await register(api, event_id, first_name="Eero", last_name="Mäkinen", attendance="remote")
    await page.reload()
    await expect(page.get_by_role("status")).to_have_text("2 of 2 registrations")
    await expect(page.get_by_role("link", name="Aino Öhman")).to_be_visible()
    await assert_accessible(page, "an event's registrations")

    await page.get_by_label("Search by name, email or organisation").fill("ohman")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("status")).to_have_text("1 of 2 registrations")
    await expect(page.get_by_role("link", name="Eero Mäkinen")).to_have_count(0)

    await page.get_by_role("link", name="Aino Öhman").click()
    await expect(page.get_by_role("heading", level=1, name="Aino Öhman")).to_be_visible()
    await expect(page.get_by_text("Kela")).to_be_visible()
    await assert_accessible(page, "one registration")
    await page.get_by_role("link", name="Cancel the registration").click()
    await expect(
        page.get_by_role("heading", level=1, name="Cancel the registration of Aino Öhman?")
    ).to_be_visible()
    await assert_accessible(page, "the step before cancelling")
    await page.get_by_role("button", name="Cancel the registration").click()
    await expect(page.get_by_role("status")).to_contain_text("The registration was cancelled")
    await smtp.wait_for(1, registration_id=aino["id"], kind="cancellation_confirmed", timeout=60)

    await page.get_by_role("link", name="Registrations of AI in government").click()
    as_csv = csv_rows(await download(page, "CSV"))
    as_xlsx = xlsx_rows(await download(page, "Excel (XLSX)"))
    assert as_csv[0][:3] == ["First name", "Last name", "Email"]
    assert len(as_csv) == len(as_xlsx) == 3
    assert sorted(row[:8] for row in as_csv[1:]) == sorted(row[:8] for row in as_xlsx[1:])
    statuses = {row[1]: row[6] for row in as_csv[1:]}
    assert statuses["Öhman"] == "cancelled"
    assert statuses["Mäkinen"] in ("accepted", "remote")  # remote once its link is out
    return str(aino["id"])


async def test_organisers_and_viewers_see_what_their_roles_allow(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider, page_at: PageOpener
) -> None:
    client, environment = await console_client(identity)
    environment["ILMO_OIDC_SERVICE_CLIENTS"] = client.client_id
    with services_with_mail(infrastructure, environment) as (smtp, services):
        url = services["registration"].url
        await return_to(identity, client, url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            event_id = (await create_event(api))["id"]
            listing = f"{url}/console/events/{event_id}/registrations?lang=en"

            page = await page_at(listing, width=DESKTOP, language="en")
            await sign_in_at_provider(page, identity, "organiser")
            aino = await organiser_works_through_the_registrations(page, api, event_id, smtp)

            done = [
                (e["action"], e["registration_id"], e["detail"])
                for e in await audit_of(api, event_id)
            ]
            assert done == [
                ("event-created", None, None),
                ("registrations-listed", None, None),  # signed in, back on the list
                ("registrations-listed", None, None),  # reloaded
                ("registrations-listed", None, None),  # searched
                ("registration-read", aino, None),
                ("registration-cancelled", aino, None),
                ("registration-read", aino, None),  # back on it after cancelling
                ("registrations-listed", None, None),
                ("registrations-exported", None, "format:csv"),
                ("registrations-exported", None, "format:xlsx"),
            ]
            actors = {e["actor_subject"] for e in await audit_of(api, event_id)}
            assert len(actors) == 2  # the development token that created the event, the organiser
            assert "development" in actors

            viewer = await page_at(listing, width=390, language="en")
            await sign_in_at_provider(viewer, identity, "viewer")
            await expect(viewer.get_by_text("Aino Öhman")).to_be_visible()
            await expect(viewer.get_by_text("Kela")).to_have_count(0)
            await expect(viewer.get_by_role("link", name="Aino Öhman")).to_have_count(0)
            await expect(viewer.get_by_role("link", name="CSV")).to_have_count(0)
            await assert_accessible(viewer, "an event's registrations, as a viewer")
            for path in (
                f"/console/registrations/{aino}",
                f"/console/registrations/{aino}/cancel",
                f"/console/events/{event_id}/export.csv",
            ):
                answer = await viewer.goto(f"{url}{path}?lang=en")
                assert answer is not None
                assert answer.status == 403, path
                await expect(
                    viewer.get_by_role("heading", name="You do not have permission to do this")
                ).to_be_visible()

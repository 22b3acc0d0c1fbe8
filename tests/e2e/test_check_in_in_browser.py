"""The door's check-in page in a real browser on a phone's width, signed in as door staff.

The registration service runs as a process with the console's client at
the development identity provider. Two registrants hold seats (capacity's
``seat.reserved``, published as capacity would). Door staff sign in at 375
px, scan a photo of the first one's QR code (the image made with segno from
the code the mails carry; Chromium here has no ``BarcodeDetector``, so the
page's vendored jsQR decodes it) and see the green result; then find the
second one by name and check them in with the button; offline, the page
says that nothing was checked in. axe-core finds no
serious or critical WCAG A/AA barrier before or after, and the page does
not scroll sideways. Then a Chromium whose fake camera shows a QR code (a
still Y4M video made from the code) checks a third person in with "Scan
with the camera".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import segno
from playwright.async_api import Browser, async_playwright, expect

from ilmo_event_contracts import SeatReserved
from ilmo_shared.check_in import check_in_code
from ilmo_shared.clock import utc_now
from tests.support.browser import PageOpener, assert_accessible, chromium_path, open_page
from tests.support.console import console_client, return_to, sign_in_at_provider
from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import running_services
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    bearer,
    create_event,
    publish,
    register,
)

PHONE = 375


async def seated(
    api: httpx.AsyncClient, infrastructure: IsolatedInfrastructure, event_id: str, **names: str
) -> dict[str, Any]:
    """A registrant on site whose seat capacity reserved, once the registration shows it."""
    receipt = await register(api, event_id, attendance="in_person", **names)
    await publish(
        infrastructure,
        SeatReserved(
            registration_id=uuid.UUID(receipt["id"]), event_id=event_id, reserved_at=utc_now()
        ),
    )

    async def shows_the_seat() -> bool:
        answer = await api.get(
            f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
        )
        return bool(answer.json()["status"] == "seat_reserved")

    await eventually(shows_the_seat, what="the seat in the registration's status")
    return receipt


def qr_video(code: str, folder: Path, size: int = 480) -> Path:
    """The QR code of ``code`` as a still Y4M video, for Chromium's fake camera.

    Chromium plays ``--use-file-for-fake-video-capture`` to the page as its
    camera: grey levels only (the Y plane; U and V neutral), dark modules 16,
    light 235, with the quiet zone of four modules around the code.
    """
    matrix = segno.make(code, error="m").matrix
    modules = len(matrix) + 8
    scale = size // modules
    offset = (size - modules * scale) // 2
    luma = bytearray(b"\xeb" * size * size)
    for row, values in enumerate(matrix):
        for column, dark in enumerate(values):
            if not dark:
                continue
            for line in range(scale):
                start = (offset + (row + 4) * scale + line) * size + offset + (column + 4) * scale
                luma[start : start + scale] = b"\x10" * scale
    chroma = b"\x80" * (size // 2) ** 2
    path = folder / f"{uuid.uuid4().hex}.y4m"
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{size} H{size} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            video.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


@asynccontextmanager
async def camera_pointed_at(video: Path) -> AsyncIterator[Browser]:
    """A Chromium whose camera shows ``video`` (and that never asks whether the page may use it)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


def qr_photo(code: str, folder: Path) -> Path:
    """The QR code of ``code`` as a PNG, as a phone's photo of the mail would hold it."""
    path = folder / f"{uuid.uuid4().hex}.png"
    segno.make(code, error="m").save(str(path), kind="png", scale=8, border=4)
    return path


async def test_door_staff_check_in_by_qr_photo_and_by_name_on_a_phone(
    infrastructure: IsolatedInfrastructure,
    identity: IdentityProvider,
    page_at: PageOpener,
    tmp_path: Path,
) -> None:
    client, environment = await console_client(identity)
    with running_services(infrastructure, ("registration",), environment) as services:
        url = services["registration"].url
        await return_to(identity, client, url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            event_id = (await create_event(api))["id"]
            aino = await seated(api, infrastructure, event_id, first_name="Aino", last_name="Öhman")
            await seated(api, infrastructure, event_id, first_name="Eero", last_name="Mäkinen")

            page = await page_at(f"{url}/console/events/{event_id}/check-in?lang=en", width=PHONE)
            await sign_in_at_provider(page, identity, "door")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("Check-in")
            await expect(page.locator("#check-in-count")).to_contain_text("Checked in 0 / ")
            await expect(page.get_by_text("This page needs a connection")).to_be_visible()
            await expect(page.get_by_role("button", name="Scan with the camera")).to_be_visible()
            await expect(page.get_by_role("button", name="Stop scanning")).to_be_hidden()
            await assert_accessible(page, "the check-in page")

            # (a) A photo of Aino's QR code: decoded on the page, sent, answered in green.
            photo = qr_photo(check_in_code(MANAGE_LINK_SECRET, aino["id"]), tmp_path)
            await page.get_by_label("Or scan a photo of the code").set_input_files(photo)
            result = page.locator("#check-in-result")
            await expect(result).to_contain_text("Checked in: Aino Öhman")
            await expect(result).to_have_class("door-result ok")
            await expect(result).to_have_attribute("role", "status")
            await expect(page.locator("#check-in-count")).to_contain_text("Checked in 1 / ")

            # The same photo again: red, with the time of the first scan.
            await page.get_by_label("Or scan a photo of the code").set_input_files(photo)
            await expect(result).to_contain_text("Already checked in at")
            await expect(result).to_have_class("door-result refused")

            # (b) Eero by name, with the button of the search result.
            await page.get_by_label("Name", exact=True).fill("makinen")
            await page.get_by_role("button", name="Find", exact=True).click()
            await expect(page.get_by_text("1 found")).to_be_visible()
            await page.get_by_role("button", name="Check in Eero Mäkinen").click()
            await expect(result).to_contain_text("Checked in: Eero Mäkinen")
            await expect(result).to_have_class("door-result ok")
            await expect(page.locator("#check-in-count")).to_contain_text("Checked in 2 / ")
            await expect(page.get_by_role("button", name="Check in Eero Mäkinen")).to_have_count(0)

            # Without a connection the page says that nothing was checked in.
            await page.context.set_offline(True)
            await page.get_by_label("Code", exact=True).fill(
                check_in_code(MANAGE_LINK_SECRET, aino["id"])
            )
            await page.get_by_role("button", name="Check in with the code").click()
            await expect(result).to_contain_text("No connection")
            await expect(result).to_contain_text("Nothing was checked in.")
            await page.context.set_offline(False)

            # (c, d) Accessible with a result shown, and nothing wider than the phone.
            await assert_accessible(page, "the check-in page with a result")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE

            audit = await api.get("/api/v1/audit", params={"event_id": event_id}, headers=ADMIN)
            door = [
                (entry["registration_id"], entry["detail"])
                for entry in audit.json()["entries"]
                if entry["action"] == "check-in"
            ]
            assert sorted(detail for _, detail in door) == [
                "door:qr,already_checked_in",
                "door:qr,checked_in",
                "door:search,checked_in",
            ]


async def test_door_staff_check_in_with_the_phones_camera(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider, tmp_path: Path
) -> None:
    client, environment = await console_client(identity)
    with running_services(infrastructure, ("registration",), environment) as services:
        url = services["registration"].url
        await return_to(identity, client, url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            event_id = (await create_event(api))["id"]
            outi = await seated(api, infrastructure, event_id, first_name="Outi", last_name="Ovi")
            video = qr_video(check_in_code(MANAGE_LINK_SECRET, outi["id"]), tmp_path)
            async with camera_pointed_at(video) as browser:
                page = await open_page(
                    browser, f"{url}/console/events/{event_id}/check-in?lang=en", width=PHONE
                )
                await page.context.grant_permissions(["camera"])
                await sign_in_at_provider(page, identity, "door")
                await page.get_by_role("button", name="Scan with the camera").click()
                result = page.locator("#check-in-result")
                await expect(result).to_contain_text("Checked in: Outi Ovi")
                await expect(result).to_have_class("door-result ok")
                # Once read, the camera is off again and the scan button back.
                await expect(page.locator("video")).to_be_hidden()
                await expect(
                    page.get_by_role("button", name="Scan with the camera")
                ).to_be_visible()
                await page.context.close()

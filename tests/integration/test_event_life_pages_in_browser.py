"""The organiser's new pages in Chromium: axe-core finds no serious barrier, forms work without JS.

The registration service runs in-process; the browser's requests to its
address are handed to it (Playwright routing to the ASGI app), with the
organiser's session cookie, so what the browser shows is the service's own
answer, its headers (the Content-Security-Policy) included. The organiser
writes a message and previews it by pressing the form's buttons, cancels an
event through its confirmation page; every page on the way is checked at a
phone's width.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, Route
from pymongo import AsyncMongoClient

from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.browser import assert_accessible
from tests.support.console import PUBLIC, SignedIn, signed_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import MovableClock, create_event

# Requests the app answers from the browser: never the network.
_FORWARDED = ("host", "content-length", "connection", "accept-encoding")


@pytest.fixture
async def organiser_page(
    browser: Browser,
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> AsyncIterator[Page]:
    """A phone-sized page whose requests to the service go to the in-process app, signed in."""
    session = await signed_in(mongo, infrastructure, Role.ORGANISER, now=clock.now)
    context = await browser.new_context(
        viewport={"width": 390, "height": 900},
        locale="en",
        extra_http_headers={"Accept-Language": "en"},
    )

    async def answer(route: Route) -> None:
        answered = await _answered(client, session, route)
        kept = {k: v for k, v in answered.headers.items() if k.lower() not in _FORWARDED}
        await route.fulfill(status=answered.status_code, headers=kept, body=answered.content)

    await context.route(f"{PUBLIC}/**", answer)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _answered(client: httpx.AsyncClient, session: SignedIn, route: Route) -> httpx.Response:
    """The app's answer to the browser's request, sent with the organiser's session."""
    request = route.request
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _FORWARDED}
    headers.update(session.headers)
    return await client.request(
        request.method,
        request.url.replace(PUBLIC, ""),
        headers=headers,
        content=request.post_data_buffer,
    )


async def _checked(page: Page, path: str, what: str) -> None:
    answer = await page.goto(f"{PUBLIC}{path}")
    assert answer is not None
    assert answer.status == 200, f"{what}: {answer.status}"
    await assert_accessible(page, what)


async def test_the_organisers_new_pages_have_no_serious_barriers(
    organiser_page: Page, client: httpx.AsyncClient
) -> None:
    page = organiser_page
    event_id = (await create_event(client))["id"]
    base = f"/console/events/{event_id}"

    await _checked(page, f"{base}?lang=en", "the event's page with its schedule")
    await _checked(page, f"{base}/edit?lang=en", "the event form with reminders")
    await _checked(page, f"{base}/messages/new?lang=en", "a new message")

    # The form without script: fill it, press Preview, then Send.
    await page.get_by_label("Those following the stream").check()
    await page.locator("#f-title-fi").fill("Striimi alkaa pian")
    await page.locator("#f-title-en").fill("The stream starts soon")
    await page.locator("#f-body-fi").fill("Tervetuloa linjoille.\n\nAvaamme lähetyksen 8.50.")
    await page.get_by_role("button", name="Preview").click()
    await page.wait_for_url(f"**{base}/messages/preview*")
    assert await page.get_by_role("heading", name="As read in Swedish").count() == 1
    await assert_accessible(page, "the message's preview")
    await page.get_by_role("button", name="Send the message").click()
    await page.wait_for_url(f"**{base}/messages/*-*")
    await assert_accessible(page, "the message's page")
    await _checked(page, f"{base}/messages?lang=en", "the list of messages")

    await _checked(page, f"{base}/cancel?lang=en", "the cancellation's confirmation")
    await page.locator("#f-note-fi").fill("Tilaisuus siirtyy keväälle.")
    await page.get_by_role("button", name="Cancel the event").click()
    await page.wait_for_url(f"**{base}")
    assert await page.get_by_text("Tilaisuus siirtyy keväälle.").count() == 1
    await assert_accessible(page, "a cancelled event's page in the console")
    await _checked(page, f"/events/{event_id}?lang=en", "a cancelled event's public page")

"""The console's timeout warning in a real browser (WCAG 2.1 SC 2.2.1, docs/accessibility.md).

The registration service runs as a process whose sessions end after 30
seconds without use and warn 20 seconds ahead. An organiser signs in
through the development identity provider; the warning appears by itself
with the focus on it and no serious or critical axe-core finding; "Continue
session" keeps the session past the end it had when the page came, which a
navigation to the event form then shows (the form, not the provider's
sign-in). Left alone, the warning says the session has ended and links to
sign in again; the form keeps what was typed but can no longer be sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import expect

from tests.support.browser import PageOpener, assert_accessible, screenshot
from tests.support.console import console_client, return_to, sign_in_at_provider
from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import running_services

DESKTOP = 1280
PHONE = 390
IDLE_SECONDS = 30
WARNING_SECONDS = 20
# Long enough for the warning to appear (10 s) or the session to end after it (20 s more).
AWAIT_MS = (IDLE_SECONDS + 15) * 1000


@pytest.fixture
async def console_url(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> AsyncIterator[str]:
    """The registration service as a process with a half-minute idle timeout."""
    client, environment = await console_client(identity)
    environment = {
        **environment,
        "ILMO_CONSOLE_IDLE_MINUTES": str(IDLE_SECONDS / 60),
        "ILMO_CONSOLE_TIMEOUT_WARNING_SECONDS": str(WARNING_SECONDS),
    }
    with running_services(infrastructure, ("registration",), environment) as services:
        url = services["registration"].url
        await return_to(identity, client, url)
        yield url


async def test_the_warning_lets_an_organiser_continue_and_says_when_the_session_ended(
    console_url: str, identity: IdentityProvider, page_at: PageOpener
) -> None:
    page = await page_at(f"{console_url}/console?lang=en", width=DESKTOP, language="en")
    await sign_in_at_provider(page, identity, "organiser")
    await expect(page.get_by_role("heading", level=1, name="Events")).to_be_visible()
    loop = asyncio.get_running_loop()
    idle_seconds = await page.locator("#session-timeout").get_attribute("data-idle-seconds")
    assert idle_seconds is not None
    assert 0 < int(idle_seconds) <= IDLE_SECONDS
    first_idle_end = loop.time() + int(idle_seconds) + 1

    warning = page.get_by_role("alertdialog", name="You will be signed out soon")
    await expect(warning).to_be_visible(timeout=AWAIT_MS)
    await expect(warning).to_be_focused()
    await expect(warning).to_contain_text("because you have not been active")
    await assert_accessible(page, "the session's timeout warning")
    await screenshot(page, "console-timeout-warning-desktop")
    await page.set_viewport_size({"width": PHONE, "height": 844})
    await screenshot(page, "console-timeout-warning-phone")
    await page.set_viewport_size({"width": DESKTOP, "height": 800})

    await warning.get_by_role("button", name="Continue session").click()
    await expect(warning).to_be_hidden()
    await eventually(
        lambda: _passed(loop, first_idle_end),
        what="the session's idle end when the page came",
        timeout=IDLE_SECONDS + 5,
    )
    await page.get_by_role("link", name="New event").click()
    await expect(page.get_by_role("heading", level=1, name="New event")).to_be_visible()
    await page.locator('[name="title.fi"]').fill("Kesken jäänyt tapahtuma")

    ended = page.get_by_role("alert").filter(has_text="Your session has ended")
    await expect(ended).to_be_visible(timeout=AWAIT_MS + WARNING_SECONDS * 1000)
    await expect(ended).to_be_focused()
    await expect(warning).to_be_hidden()
    again = ended.get_by_role("link", name="Sign in again")
    await expect(again).to_have_attribute("href", "/console/sign-in?next=%2Fconsole%2Fevents%2Fnew")
    await expect(page.get_by_role("button", name="Save the event")).to_be_disabled()
    await expect(page.locator('[name="title.fi"]')).to_have_value("Kesken jäänyt tapahtuma")
    await assert_accessible(page, "the event form after the session ended")
    await screenshot(page, "console-timeout-ended-desktop")


async def _passed(loop: asyncio.AbstractEventLoop, moment: float) -> bool:
    return loop.time() > moment

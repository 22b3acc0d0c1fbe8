"""The manage page in a real browser, as a registrant reaches it: from the link in their mail.

The services run as processes; three people register over the JSON API, in
Finnish, Swedish and English, and each opens the link of their "registration
received" mail in Chromium at a phone's width. They see their registration
in their own language, cancel it with the page's button (and the step that
asks to be sure) and see that it was cancelled; axe-core finds no serious or
critical WCAG A/AA barrier on the page before or after.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from playwright.async_api import Page, expect

from tests.support.browser import PageOpener, assert_accessible
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import manage_link_in
from tests.support.registration import create_event, register
from tests.support.smtp import services_with_mail


@dataclass(frozen=True)
class Seen:
    """What a registrant in one language should see on their manage page."""

    first_name: str
    last_name: str
    event_title: str
    heading: str
    cancel_button: str
    sure: str
    confirm_button: str
    cancelled: str


SEEN = {
    "fi": Seen(
        "Matti",
        "Meikäläinen",
        "Tekoäly hallinnossa",
        "Ilmoittautumisesi",
        "Peru ilmoittautuminen",
        "Haluatko perua ilmoittautumisesi?",
        "Kyllä, peru ilmoittautumiseni",
        "Ilmoittautumisesi on peruttu.",
    ),
    "sv": Seen(
        "Åsa",
        "Öhman",
        "AI i förvaltningen",
        "Din anmälan",
        "Annullera anmälan",
        "Vill du annullera din anmälan?",
        "Ja, annullera min anmälan",
        "Din anmälan har annullerats.",
    ),
    "en": Seen(
        "Ann",
        "Other",
        "AI in government",
        "Your registration",
        "Cancel my registration",
        "Do you want to cancel your registration?",
        "Yes, cancel my registration",
        "Your registration has been cancelled.",
    ),
}


async def see_and_cancel(page: Page, language: str, seen: Seen) -> None:
    """The registrant reads their page, checks it is accessible, cancels and sees it done."""
    await expect(page.get_by_role("heading", level=1, name=seen.heading)).to_be_visible()
    await expect(page.get_by_text(f"{seen.first_name} {seen.last_name}")).to_be_visible()
    await expect(page.get_by_text(seen.event_title)).to_be_visible()
    await assert_accessible(page, f"manage page ({language})")

    await page.get_by_role("button", name=seen.cancel_button).click()
    # A step that says what cancelling means and asks to be sure.
    await expect(page.get_by_role("heading", level=1, name=seen.sure)).to_be_visible()
    await assert_accessible(page, f"cancel step ({language})")
    await page.get_by_role("button", name=seen.confirm_button).click()
    await expect(page.get_by_text(seen.cancelled)).to_be_visible()
    await expect(page.get_by_role("button", name=seen.cancel_button)).to_have_count(0)
    await assert_accessible(page, f"manage page after cancelling ({language})")


async def test_registrants_read_and_cancel_their_registration_in_their_language(
    infrastructure: IsolatedInfrastructure, page_at: PageOpener
) -> None:
    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            event = await create_event(api)
            for language, seen in SEEN.items():
                receipt = await register(
                    api,
                    event["id"],
                    language=language,
                    first_name=seen.first_name,
                    last_name=seen.last_name,
                )
                [mail] = await smtp.wait_for(
                    1, registration_id=receipt["id"], kind="registration_received", timeout=60
                )
                page = await page_at(manage_link_in(mail), language=language)
                await see_and_cancel(page, language, seen)

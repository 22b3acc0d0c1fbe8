"""The organiser console in a real browser, signed in through the development identity provider.

The registration service runs as a process with a client of its own at the
provider (Ory Hydra, whose login page is filled in as a person does). An
organiser signs in, creates the sample seminar through the form (an agenda
block with a talk and a speaker added with the buttons that need no
script), fails a save once and finds the error summary focused, publishes
the seminar, finds it on its public page and signs out; a viewer is
refused the form and a forged change. axe-core finds no serious or
critical WCAG A/AA barrier on the list, the form with errors or the
signed-out page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from playwright.async_api import Page, expect

from ilmo_registration.console.event_form import inputs, of_spec
from ilmo_registration.schemas import EventCreate
from tests.support.browser import PageOpener, assert_accessible
from tests.support.console import console_client, return_to, sign_in_at_provider
from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.processes import running_services
from tests.support.registration import unique_id
from tests.support.sample_event import sample_event_script

DESKTOP = 1280


@pytest.fixture
async def console_url(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> AsyncIterator[str]:
    """The registration service as a process, its console's client registered at the provider."""
    client, environment = await console_client(identity)
    with running_services(infrastructure, ("registration",), environment) as services:
        url = services["registration"].url
        await return_to(identity, client, url)
        yield url


def seminar_inputs(event_id: str) -> dict[str, str]:
    body: dict[str, Any] = sample_event_script().sample_event(date.today())
    spec = EventCreate.model_validate(body).to_spec()
    return inputs(of_spec(spec, event_id))


# Rows and choices a person adds or ticks rather than types; the form starts
# with the default reminders and the thank-you mail ticked.
_NOT_TYPED = ("agenda.", "target_groups.", "privacy_notice.", "reminders.")
_CHOICES = ("published", "email_confirmation", "thank_you")


def typed_inputs(inputs: dict[str, str]) -> dict[str, str]:
    """The fields of the form a person types into."""
    return {
        name: value
        for name, value in inputs.items()
        if not name.startswith(_NOT_TYPED) and name not in _CHOICES
    }


async def fill(page: Page, name: str, value: str) -> None:
    await page.locator(f'[name="{name}"]').fill(value)


async def test_an_organiser_creates_publishes_and_signs_out(
    console_url: str, identity: IdentityProvider, page_at: PageOpener
) -> None:
    page = await page_at(f"{console_url}/console?lang=en", width=DESKTOP, language="en")
    await sign_in_at_provider(page, identity, "organiser")
    await expect(page.get_by_role("heading", level=1, name="Events")).to_be_visible()
    await expect(page.get_by_text("Signed in as")).to_contain_text("Organiser")
    await assert_accessible(page, "the console's list of events")

    await page.get_by_role("link", name="New event").click()
    event_id = unique_id("seminar")
    typed = seminar_inputs(event_id)
    simple = {
        name: value for name, value in typed_inputs(typed).items() if name != "organiser.email"
    }
    for name, value in simple.items():
        await fill(page, name, value)
    block = typed  # the first block of the sample: its time, title, first talk and speaker
    await page.get_by_role("button", name="Add an agenda block").click()
    await fill(page, "agenda.0.starts_at", block["agenda.1.starts_at"])
    await fill(page, "agenda.0.ends_at", block["agenda.1.ends_at"])
    await fill(page, "agenda.0.title.fi", block["agenda.1.title.fi"])
    await page.get_by_role("button", name="Add a talk \N{EN DASH} Agenda block 1").click()
    await fill(page, "agenda.0.talks.0.title.fi", block["agenda.1.talks.0.title.fi"])
    await page.get_by_role(
        "button", name="Add a speaker \N{EN DASH} Agenda block 1, talk 1"
    ).click()
    await fill(page, "agenda.0.talks.0.speakers.0.name", block["agenda.1.talks.0.speakers.0.name"])
    await fill(page, "agenda.0.talks.0.speakers.0.title.fi", "kehittämisjohtaja")
    await expect(page.locator('[name="title.fi"]')).to_have_value(typed["title.fi"])

    await page.get_by_role("button", name="Save the event").click()  # no organiser's email yet
    summary = page.locator(".error-summary")
    await expect(summary).to_be_focused()
    await expect(summary.get_by_role("link")).to_have_text(
        "Organiser's email address: enter an email address, like name@example.fi"
    )
    await assert_accessible(page, "the event form with an error")
    await summary.get_by_role("link").click()
    await expect(page.locator('[name="organiser.email"]')).to_be_focused()
    await page.keyboard.type(typed["organiser.email"])
    await page.get_by_role("button", name="Save the event").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(typed["title.en"])
    await expect(page.get_by_text("Draft", exact=True)).to_be_visible()
    await page.get_by_role("link", name="Publish").click()
    await expect(page.get_by_role("heading", name="Publish the event?")).to_be_visible()
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_text("Published", exact=True)).to_be_visible()

    public = await page_at(f"{console_url}/events/{event_id}?lang=en", width=DESKTOP, language="en")
    await expect(public.get_by_role("heading", level=1)).to_have_text(typed["title.en"])
    await expect(public.get_by_text(block["agenda.1.talks.0.speakers.0.name"])).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    await assert_accessible(page, "the signed-out page")
    await page.goto(f"{console_url}/console?lang=en")
    await expect(page.get_by_label("Username")).to_be_visible()  # signed out at the provider too


async def test_the_form_can_be_completed_with_the_keyboard(
    console_url: str, identity: IdentityProvider, page_at: PageOpener
) -> None:
    page = await page_at(f"{console_url}/console/events/new?lang=en", width=DESKTOP, language="en")
    await sign_in_at_provider(page, identity, "organiser")
    await expect(page.get_by_role("heading", level=1, name="New event")).to_be_visible()

    order = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        name = await page.evaluate("document.activeElement.getAttribute('name')")
        if name is not None and name != "csrf_token":
            order.append(name)
        if name == "description.fi":
            break
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.type("Näppäimistöllä")
    await page.keyboard.press("Enter")  # Enter in a text field saves, as in any form

    assert order[-4:] == ["title.fi", "title.sv", "title.en", "description.fi"]
    await expect(page.locator(".error-summary")).to_be_focused()
    await expect(page.locator('[name="title.en"]')).to_have_value("Näppäimistöllä")


async def test_a_viewer_is_refused_the_form_and_a_forged_change(
    console_url: str, identity: IdentityProvider, page_at: PageOpener
) -> None:
    organiser = await page_at(
        f"{console_url}/console/events/new?lang=en", width=DESKTOP, language="en"
    )
    await sign_in_at_provider(organiser, identity, "organiser")
    event_id = unique_id("viewed")
    for name, value in typed_inputs(seminar_inputs(event_id)).items():
        await fill(organiser, name, value)
    await organiser.get_by_role("button", name="Save the event").click()
    await expect(organiser.get_by_role("heading", level=1)).to_be_visible()
    assert organiser.url.endswith(f"/console/events/{event_id}")

    viewer = await page_at(
        f"{console_url}/console/events/{event_id}?lang=en", width=390, language="en"
    )
    await sign_in_at_provider(viewer, identity, "viewer")
    await expect(viewer.get_by_role("heading", level=1)).to_be_visible()
    await expect(viewer.get_by_role("link", name="Edit the event")).to_have_count(0)
    token = await viewer.locator('input[name="csrf_token"]').first.get_attribute("value")
    forged = await viewer.request.post(
        f"{console_url}/console/events/{event_id}/publish",
        form={"csrf_token": token or ""},
        max_redirects=0,
    )
    await viewer.goto(f"{console_url}/console/events/{event_id}/edit?lang=en")

    assert forged.status == 403
    await expect(
        viewer.get_by_role("heading", name="You do not have permission to do this")
    ).to_be_visible()
    public = await viewer.request.get(f"{console_url}/events/{event_id}")
    assert public.status == 404  # still a draft

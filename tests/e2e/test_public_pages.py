"""The public pages in a real browser: finding an event, registering, confirming, cancelling.

The services run as processes with a test SMTP server; people use the pages
in Chromium as they would (by role, label and visible text, never by markup),
take their links from the mails the SMTP server received, and axe-core finds
no serious or critical WCAG A/AA barrier on any page, in any language, in
any state the person can meet: the form with errors, closed registration,
the waiting list, a cancelled registration. One person registers with the
keyboard alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.browser import PageOpener, assert_accessible
from tests.support.confirmation import confirmation_link_in
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import manage_link_in, watch_link_in
from tests.support.polling import eventually
from tests.support.registration import ADMIN, create_event, register
from tests.support.smtp import ReceivedMail, SmtpTestServer, services_with_mail

LANGUAGES = ("fi", "sv", "en")


@dataclass(frozen=True)
class Running:
    """The services and the SMTP server their mails go to, for this module's tests."""

    url: str
    smtp: SmtpTestServer


@pytest.fixture(scope="module")
def running(infrastructure: IsolatedInfrastructure) -> Iterator[Running]:
    with services_with_mail(infrastructure) as (smtp, services):
        yield Running(services["registration"].url, smtp)


async def new_event(running: Running, **changes: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as api:
        return await create_event(api, email_confirmation=True, **changes)


async def mail_to(smtp: SmtpTestServer, address: str, kind: str) -> ReceivedMail:
    """The first mail of ``kind`` the SMTP server received for ``address``."""

    async def arrived() -> ReceivedMail | None:
        return next((mail for mail in smtp.matching(kind=kind) if address in mail.recipients), None)

    return await eventually(arrived, what=f"a {kind} mail", timeout=60)


async def fill_in(page: Page, email: str, *, first: str, last: str, on_site: str) -> None:
    """The form filled in as a person does: by its labels."""
    await page.get_by_label(first).fill("Maija")
    await page.get_by_label(last).fill("Meikäläinen")
    await page.get_by_label("Sähköpostiosoite").fill(email)
    await page.get_by_label(on_site).check()


# ---------------------------------------------------------------- the whole path


async def test_a_person_registers_on_site_in_finnish_confirms_switches_to_remote_and_cancels(
    running: Running, page_at: PageOpener
) -> None:
    # A title of its own, so that the list's link leads to this test's event
    # and not to a full one another test made.
    title = f"Tekoäly hallinnossa {uuid.uuid4().hex[:6]}"
    await new_event(running, title={"fi": title, "sv": "AI i förvaltningen"})
    email = f"maija.{uuid.uuid4().hex[:8]}@example.fi"
    page = await page_at(running.url + "/", language="fi")
    await expect(page.get_by_role("heading", level=1, name="Tulevat tilaisuudet")).to_be_visible()
    await assert_accessible(page, "list of events (fi)")

    await page.get_by_role("link", name=title, exact=True).click()
    await expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()
    await expect(page.get_by_text("Paikan päällä: paikkoja on vielä jäljellä.")).to_be_visible()
    await expect(page.get_by_role("link", name="seminaari@vm.example.fi")).to_be_visible()
    await assert_accessible(page, "event page (fi)")

    await page.get_by_role("link", name="Ilmoittaudu").click()
    await expect(
        page.get_by_role("heading", level=1, name="Ilmoittaudu tilaisuuteen")
    ).to_be_visible()
    await assert_accessible(page, "registration form (fi)")
    await fill_in(page, email, first="Etunimi", last="Sukunimi", on_site="Paikan päällä")
    await expect(page.get_by_role("radio", name="suomi")).to_be_checked()
    await page.get_by_role("button", name="Lähetä ilmoittautuminen").click()

    await expect(page.get_by_role("heading", level=1, name="Tarkista sähköpostisi")).to_be_visible()
    await expect(page.get_by_text("Vahvistat sähköpostiosoitteesi viestissä")).to_be_visible()
    await assert_accessible(page, "check your email (fi)")

    mail = await mail_to(running.smtp, email, "confirm_address")
    link = confirmation_link_in(mail.text())
    assert link is not None
    await page.goto(link)
    await assert_accessible(page, "confirmation page (fi)")
    await page.get_by_role("button", name="Vahvista ilmoittautuminen").click()

    await expect(page.get_by_role("heading", level=1, name="Ilmoittautumisesi")).to_be_visible()
    # The seat is decided by the capacity service; its mail says so, and so does the page then.
    await mail_to(running.smtp, email, "seat_confirmed")
    await page.reload()
    await expect(page.get_by_text("Sinulle on varattu paikka.")).to_be_visible()
    await expect(page.get_by_text(email)).to_be_visible()
    await assert_accessible(page, "manage page, seat reserved (fi)")

    # Plans change: the seat goes, the stream link comes by mail and shows on the page.
    await expect(
        page.get_by_role("heading", level=2, name="Osallistumistavan vaihtaminen")
    ).to_be_visible()
    await page.get_by_role("button", name="Luovun paikastani ja osallistun etänä").click()
    stream_mail = await mail_to(running.smtp, email, "stream_link")
    assert watch_link_in(stream_mail).startswith("http")
    await page.reload()
    await expect(
        page.get_by_text("Osallistut etänä; henkilökohtainen katselulinkkisi on valmis.")
    ).to_be_visible()
    await expect(
        page.get_by_role("button", name="Osallistun sittenkin paikan päällä")
    ).to_be_visible()
    await assert_accessible(page, "manage page, switched to remote (fi)")

    await page.get_by_role("button", name="Peru ilmoittautuminen").click()
    await expect(
        page.get_by_role("heading", level=1, name="Haluatko perua ilmoittautumisesi?")
    ).to_be_visible()
    await assert_accessible(page, "cancel step (fi)")
    await page.get_by_role("button", name="Kyllä, peru ilmoittautumiseni").click()
    await expect(page.get_by_text("Ilmoittautumisesi on peruttu.")).to_be_visible()
    await expect(page.get_by_role("button", name="Peru ilmoittautuminen")).to_have_count(0)
    await assert_accessible(page, "manage page, cancelled (fi)")


async def test_registering_an_address_again_shows_the_very_same_page(
    running: Running, page_at: PageOpener
) -> None:
    event = await new_event(running)
    email = f"kaksi.{uuid.uuid4().hex[:8]}@example.fi"
    seen = []
    for _ in range(2):
        page = await page_at(f"{running.url}/events/{event['id']}/registration", language="fi")
        await fill_in(page, email, first="Etunimi", last="Sukunimi", on_site="Etänä")
        await page.get_by_role("button", name="Lähetä ilmoittautuminen").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Tarkista sähköpostisi")
        seen.append((page.url, await page.locator("main").inner_text()))
    assert seen[0] == seen[1]


async def test_a_person_who_lost_their_link_asks_for_it_on_the_page_and_gets_it(
    running: Running, page_at: PageOpener
) -> None:
    event = await new_event(running)
    email = f"kadonnut.{uuid.uuid4().hex[:8]}@example.fi"
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as api:
        receipt = await register(api, event["id"], email=email, language="fi")
    await mail_to(running.smtp, email, "confirm_address")  # lost, as the story goes

    page = await page_at(f"{running.url}/events/{event['id']}", language="sv")
    await page.get_by_role("link", name="Få länken på nytt").click()
    await expect(
        page.get_by_role("heading", level=1, name="Få länken till din anmälan")
    ).to_be_visible()
    await assert_accessible(page, "ask for the link (sv)")
    await page.get_by_role("button", name="Skicka länken").click()
    summary = page.get_by_role("alert").filter(has_text="Formuläret behöver rättas")
    await expect(summary).to_be_focused()
    await expect(summary.get_by_role("link", name="Skriv din e-postadress.")).to_be_visible()
    field = page.get_by_label("E-postadress")
    await expect(field).to_have_attribute("autocomplete", "email")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, "ask for the link, with errors (sv)")

    await field.fill(email)
    await page.get_by_role("button", name="Skicka länken").click()
    await expect(
        page.get_by_role("heading", level=1, name="Kontrollera din e-post")
    ).to_be_visible()
    await expect(
        page.get_by_text("Om du är anmäld till det här evenemanget med adressen du angav")
    ).to_be_visible()
    await assert_accessible(page, "link asked for (sv)")

    # In the page's language; still pending, so the mail asks to confirm as well.
    mail = await mail_to(running.smtp, email, "manage_link")
    assert mail.registration_id == receipt["id"]
    assert mail.language == "sv"
    assert confirmation_link_in(mail.text()) is not None
    await page.goto(manage_link_in(mail))
    # The manage page speaks the registration's own language.
    await expect(page.get_by_role("heading", level=1, name="Ilmoittautumisesi")).to_be_visible()


# ------------------------------------------------------------------ form errors


async def test_every_error_of_the_form_is_shown_at_its_field_and_in_the_summary(
    running: Running, page_at: PageOpener
) -> None:
    event = await new_event(running)
    page = await page_at(f"{running.url}/events/{event['id']}/registration", language="fi")
    await page.get_by_role("button", name="Lähetä ilmoittautuminen").click()

    summary = page.get_by_role("alert").filter(has_text="Lomakkeessa on korjattavaa")
    await expect(summary).to_be_visible()
    await expect(summary).to_be_focused()
    for message in (
        "Kirjoita etunimesi.",
        "Kirjoita sukunimesi.",
        "Kirjoita sähköpostiosoitteesi.",
        "Valitse, osallistutko paikan päällä vai etänä.",
    ):
        await expect(summary.get_by_role("link", name=message)).to_be_visible()
    first_name = page.get_by_label("Etunimi")
    await expect(first_name).to_have_attribute("aria-invalid", "true")
    await expect(first_name).to_have_accessible_description("Virhe: Kirjoita etunimesi.")
    assert (await page.title()).startswith("Virhe:")
    await assert_accessible(page, "form with errors (fi)")
    await summary.get_by_role("link", name="Kirjoita sukunimesi.").click()
    await expect(page.get_by_label("Sukunimi")).to_be_focused()

    # A bad address: the rest of what was typed stays.
    await page.get_by_label("Etunimi").fill("Maija")
    await page.get_by_label("Sukunimi").fill("Meikäläinen")
    await page.get_by_label("Sähköpostiosoite").fill("maija.example.fi")
    await page.get_by_label("Etänä").check()
    await page.get_by_label("Saavutettavuus, ruokavalio tai muut tarpeet").fill("Induktiosilmukka")
    await page.get_by_role("button", name="Lähetä ilmoittautuminen").click()
    summary = page.get_by_role("alert").filter(has_text="Lomakkeessa on korjattavaa")
    await expect(summary.get_by_role("link")).to_have_count(2)
    await expect(
        summary.get_by_role("link", name="Kirjoita sähköpostiosoite muodossa nimi@esimerkki.fi.")
    ).to_be_visible()
    await expect(summary.get_by_role("link", name="Anna suostumus", exact=False)).to_be_visible()
    await expect(page.get_by_label("Etunimi")).to_have_value("Maija")
    await expect(page.get_by_label("Etänä")).to_be_checked()
    await expect(page.get_by_label("Saavutettavuus", exact=False)).to_have_value("Induktiosilmukka")


async def test_a_form_sent_after_registration_closed_says_so_clearly(
    running: Running, page_at: PageOpener
) -> None:
    event = await new_event(running)
    page = await page_at(f"{running.url}/events/{event['id']}/registration", language="sv")
    await page.get_by_label("Förnamn").fill("Åsa")
    await page.get_by_label("Efternamn").fill("Öhman")
    await page.get_by_label("E-postadress").fill("asa@example.fi")
    await page.get_by_label("På distans").check()
    # Registration closes while the form is open.
    closed_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as api:
        changed = await api.patch(
            f"/api/v1/events/{event['id']}",
            json={"registration_closes_at": closed_at},
            headers=ADMIN,
        )
        assert changed.status_code == 200, changed.text
    await page.get_by_role("button", name="Skicka anmälan").click()
    await expect(
        page.get_by_role("alert").filter(has_text="Anmälan till det här evenemanget har stängt")
    ).to_be_visible()
    await expect(page.get_by_role("button", name="Skicka anmälan")).to_have_count(0)
    await assert_accessible(page, "form sent after closing (sv)")

    await page.goto(f"{running.url}/events/{event['id']}")
    await expect(page.get_by_text("Anmälan har stängt.")).to_be_visible()
    await expect(page.get_by_role("link", name="Anmäl dig")).to_have_count(0)
    await assert_accessible(page, "event page, registration closed (sv)")


# --------------------------------------------------------- every page, every language


async def test_every_page_in_every_language_and_state_has_no_serious_barrier(
    running: Running, page_at: PageOpener
) -> None:
    full = await new_event(running, in_person_capacity=1)
    closed = await new_event(
        running,
        registration_opens_at=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
        registration_closes_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as api:
        quick = await create_event(api, in_person_capacity=1)  # accepted at once
        await register(api, quick["id"], attendance="in_person")
        waiting = await register(api, quick["id"], attendance="in_person", language="sv")
    await register_for_full(running, full)
    [mail] = await running.smtp.wait_for(
        1, registration_id=waiting["id"], kind="waitlisted", timeout=60
    )
    waitlisted_page = manage_link_in(mail)

    for language in LANGUAGES:
        for what, path in (
            ("list of events", "/"),
            ("event, waiting list only", f"/events/{full['id']}"),
            ("form, waiting list likely", f"/events/{full['id']}/registration"),
            ("event, registration closed", f"/events/{closed['id']}"),
            ("form, registration closed", f"/events/{closed['id']}/registration"),
            ("check your email", f"/events/{full['id']}/registration/sent"),
            ("ask for the link again", f"/events/{full['id']}/manage-link"),
            ("link asked for", f"/events/{full['id']}/manage-link/sent"),
            ("event not found", "/events/no-such-event"),
        ):
            page = await page_at(running.url + path, language=language, width=1280)
            await expect(page.locator("html")).to_have_attribute("lang", language)
            await assert_accessible(page, f"{what} ({language})")
            # 320 CSS px: a phone, or 1280 px at 400 % zoom (WCAG 1.4.10, reflow).
            narrow = await page_at(running.url + path, language=language, width=320)
            await assert_no_horizontal_scrolling(narrow, f"{what} ({language})")
        page = await page_at(f"{running.url}/events/{full['id']}/registration", language=language)
        await page.get_by_role("button").last.click()
        await expect(page.get_by_role("alert").first).to_be_visible()
        await assert_accessible(page, f"form with errors ({language})")
        page = await page_at(f"{running.url}/events/{full['id']}/manage-link", language=language)
        await page.get_by_role("button").last.click()
        await expect(page.get_by_role("alert").first).to_be_visible()
        await assert_accessible(page, f"link form with errors ({language})")
        page = await page_at(f"{waitlisted_page}&lang={language}", language=language)
        await assert_accessible(page, f"manage page, waiting list ({language})")
        correction = waitlisted_page.replace("?token=", "/details?token=")
        page = await page_at(f"{correction}&lang={language}", language=language)
        await assert_accessible(page, f"correction form ({language})")
        await page.get_by_role("textbox").first.fill("")
        await page.get_by_role("button").last.click()
        await expect(page.get_by_role("alert").first).to_be_visible()
        await assert_accessible(page, f"correction form with errors ({language})")


async def assert_no_horizontal_scrolling(page: Page, what: str) -> None:
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{what}: {overflow} px wider than the window"


async def register_for_full(running: Running, event: dict[str, Any]) -> None:
    """Take the event's one seat, so its pages show "waiting list only"."""
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as api:
        await register(api, event["id"], attendance="in_person")


# ------------------------------------------------------------------- keyboard


async def tab_to(page: Page, name: str, *, limit: int = 40) -> None:
    """Press Tab until the element with the accessible ``name`` has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText) || ''; }"
        )
        if focused.strip().startswith(name):
            return
    raise AssertionError(f"{name!r} not reached with Tab")


async def test_registering_with_the_keyboard_alone(running: Running, page_at: PageOpener) -> None:
    event = await new_event(running)
    email = f"nappaimisto.{uuid.uuid4().hex[:8]}@example.fi"
    page = await page_at(f"{running.url}/events/{event['id']}", language="fi", width=1280)
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Siirry pääsisältöön")).to_be_focused()
    await tab_to(page, "Ilmoittaudu")
    await page.keyboard.press("Enter")
    await expect(
        page.get_by_role("heading", level=1, name="Ilmoittaudu tilaisuuteen")
    ).to_be_visible()

    await tab_to(page, "Etunimi")
    await page.keyboard.type("Maija")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Meikäläinen")
    await page.keyboard.press("Tab")
    await page.keyboard.type(email)
    await tab_to(page, "Paikan päällä")
    await page.keyboard.press("Space")
    await expect(page.get_by_label("Paikan päällä")).to_be_checked()
    await tab_to(page, "Lähetä ilmoittautuminen")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1, name="Tarkista sähköpostisi")).to_be_visible()
    await mail_to(running.smtp, email, "confirm_address")

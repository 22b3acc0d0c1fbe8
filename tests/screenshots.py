"""``make screenshots``: every page a person sees, as PNGs, to look at before a change lands.

Starts the four services as processes (as the end-to-end tests do, in a
RabbitMQ virtual host and databases of their own, with a test SMTP server),
seeds an event and registrations in the states worth seeing, follows the
links in the mails people got, and writes each page at a phone's and a
laptop's width in Finnish, Swedish and English to
``.local/screenshots/<page>-<language>-<width>.png``. It also prints what
axe-core finds on each page (every impact, not only those that fail tests)
and every page wider than its window (WCAG 1.4.10 Reflow, which axe-core
does not check).

A new page is one line in ``PAGES``: its name, how its address follows from
the seeded data (``Seeded``), and its languages. The console's pages sign
in first through the development identity provider (``make infra`` starts
it; ILMO_DEV_PASSWORD or ``.local/dev-password`` is its password), as the
organiser or the viewer.

    uv run python -m tests.screenshots
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from playwright.async_api import Page

from ilmo_shared.storage import connect
from tests.support.browser import (
    SCREENSHOTS,
    accessibility_violations,
    describe_violation,
    launched_browser,
    open_page,
    screenshot,
)
from tests.support.confirmation import confirmation_link_in
from tests.support.console import console_client, return_to, sign_in_at_provider
from tests.support.identity import IdentityProvider, identity_provider
from tests.support.infrastructure import (
    IsolatedInfrastructure,
    create_isolated_infrastructure,
    remove_test_vhost,
)
from tests.support.mail_links import manage_link_in, watch_link_in
from tests.support.polling import eventually
from tests.support.registration import ADMIN, bearer, create_event, register
from tests.support.sample_event import sample_event_script
from tests.support.smtp import SmtpTestServer, services_with_mail

LANGUAGES = ("fi", "sv", "en")
WIDTHS = (375, 1280)
# Who registers in each language: names with the letters each language needs.
PEOPLE = {
    "fi": ("Matti", "Meikäläinen", "Tarvitsen pyörätuolipaikan."),
    "sv": ("Åsa", "Öhman", "Jag behöver en rullstolsplats."),
    "en": ("Ann", "Other", "I need a wheelchair space."),
}
# The organiser's message the seed sends to everyone at the full event.
MESSAGE_ID = "0b7c6f0e-5d1a-4f43-9a4e-2f7e8c1d9a10"
# A registration id that exists nowhere, for the pages of a wrong link.
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Seeded:
    """The addresses the seeded registrations lead to, by (state, language)."""

    registration_url: str
    streaming_url: str
    manage: dict[tuple[str, str], str] = field(default_factory=dict)
    watch: dict[tuple[str, str], str] = field(default_factory=dict)
    confirm: dict[str, str] = field(default_factory=dict)
    # Public pages: an event open for registration, one whose registration has closed.
    events: dict[str, str] = field(default_factory=dict)
    # The console's sign-in: the provider whose login page each console page passes.
    identity: IdentityProvider | None = None
    # The seeded registrations' ids, by (state, language), for the console's pages.
    registrations: dict[tuple[str, str], str] = field(default_factory=dict)

    def event(self, name: str, rest: str = "") -> str:
        return f"{self.registration_url}/events/{self.events[name]}{rest}"

    def console(self, rest: str, language: str) -> str:
        return f"{self.registration_url}/console{rest}?lang={language}"


async def send_empty_form(page: Page) -> None:
    """A public form (registration, asking for the link) sent empty: every error at once."""
    await page.get_by_role("button").last.click()
    await page.wait_for_load_state()


async def send_without_names(page: Page) -> None:
    """The correction form sent with the names emptied."""
    for box in (await page.get_by_role("textbox").all())[:2]:
        await box.fill("")
    await send_empty_form(page)


def correction_form(seeded: Seeded, language: str) -> str:
    return seeded.manage["seated", language].replace("?token=", "/details?token=")


def as_person(username: str, after: Callable[[Page], Awaitable[None]] | None = None) -> Any:
    """Sign in at the provider's login page (each shot is a browser of its own), then ``after``."""

    async def signed_in(page: Page, seeded: Seeded) -> None:
        assert seeded.identity is not None
        await sign_in_at_provider(page, seeded.identity, username)
        if after is not None:
            await after(page)

    return signed_in


async def check_in_the_first_found(page: Page) -> None:
    """The door's page with a result: the first person of the name search checked in."""
    await page.locator("#search-results button").first.click()
    await page.locator("#check-in-result p").first.wait_for()


async def preview_a_message(page: Page) -> None:
    """A message to the seat holders written in Finnish and Swedish, previewed."""
    await page.locator('[name="title.fi"]').fill("Sali vaihtuu")
    await page.locator('[name="title.sv"]').fill("Salen byts")
    await page.locator('[name="body.fi"]').fill("Olemme salissa B.\n\nTervetuloa!")
    await page.locator('[name="body.sv"]').fill("Vi är i sal B.\n\nVälkommen!")
    await page.locator("#f-audience-on_site").check()
    await page.locator('form button[type="submit"]').last.click()
    await page.wait_for_load_state()


async def save_empty_event(page: Page) -> None:
    """The console's new event form saved empty."""
    await (
        page.get_by_role("button", name="Save the event")
        .or_(page.get_by_role("button", name="Tallenna tilaisuus"))
        .or_(page.get_by_role("button", name="Spara evenemanget"))
        .click()
    )
    await page.wait_for_load_state()


async def add_agenda_rows(page: Page) -> None:
    """A block with a talk and a speaker, added with the form's own buttons."""
    for action in ("add:agenda", "add:agenda.0.talks", "add:agenda.0.talks.0.speakers"):
        await page.locator(f'button[value="{action}"]').click()
        await page.wait_for_load_state()


@dataclass(frozen=True)
class Shot:
    """One page: its name, its address in the seeded data for a language, its languages."""

    name: str
    address: Callable[[Seeded, str], str]
    languages: tuple[str, ...] = LANGUAGES
    # What the person does on the page before it is photographed, if anything.
    then: Callable[[Page], Awaitable[None]] | None = None
    # The same for a console page, which signs in first (``as_person``).
    signed_in: Callable[[Page, Seeded], Awaitable[None]] | None = None


PAGES = (
    Shot("events", lambda s, _: f"{s.registration_url}/"),
    Shot("event", lambda s, _: s.event("open")),
    Shot("event-sample-seminar", lambda s, _: s.event("sample")),
    Shot("event-waiting-list-only", lambda s, _: s.event("full")),
    Shot("event-closed", lambda s, _: s.event("closed")),
    Shot("event-not-found", lambda s, _: f"{s.registration_url}/events/no-such-event"),
    Shot("registration-form", lambda s, _: s.event("open", "/registration")),
    Shot(
        "registration-form-errors",
        lambda s, _: s.event("open", "/registration"),
        then=send_empty_form,
    ),
    Shot("registration-form-closed", lambda s, _: s.event("closed", "/registration")),
    Shot("registration-sent", lambda s, _: s.event("open", "/registration/sent")),
    Shot("manage-link-request", lambda s, _: s.event("open", "/manage-link")),
    Shot(
        "manage-link-request-errors",
        lambda s, _: s.event("open", "/manage-link"),
        then=send_empty_form,
    ),
    Shot("manage-link-sent", lambda s, _: s.event("open", "/manage-link/sent")),
    Shot(
        "manage-cancel-step",
        lambda s, language: s.manage["seated", language].replace("?token=", "/cancel?token="),
    ),
    Shot("manage-seat-reserved", lambda s, language: s.manage["seated", language]),
    Shot("manage-correct", correction_form),
    Shot("manage-correct-errors", correction_form, then=send_without_names),
    Shot("manage-waitlisted", lambda s, language: s.manage["waitlisted", language]),
    Shot("manage-remote", lambda s, language: s.manage["remote", language]),
    Shot("manage-cancelled", lambda s, language: s.manage["cancelled", language]),
    Shot("manage-wrong-link", lambda s, _: f"{s.registration_url}/manage/{UNKNOWN_ID}?token=x"),
    Shot("confirm", lambda s, language: s.confirm[language]),
    Shot("watch-not-open-yet", lambda s, language: s.watch["remote", language]),
    Shot("watch-revoked", lambda s, language: s.watch["cancelled", language]),
    Shot("watch-not-found", lambda s, _: f"{s.streaming_url}/watch/{'A' * 43}"),
    Shot("console-events", lambda s, lang: s.console("", lang), signed_in=as_person("organiser")),
    Shot(
        "console-event",
        lambda s, lang: s.console(f"/events/{s.events['sample']}", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-event-viewer",
        lambda s, lang: s.console(f"/events/{s.events['sample']}", lang),
        signed_in=as_person("viewer"),
    ),
    Shot(
        "console-event-form",
        lambda s, lang: s.console(f"/events/{s.events['sample']}/edit", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-new-event-errors",
        lambda s, lang: s.console("/events/new", lang),
        signed_in=as_person("organiser", save_empty_event),
    ),
    Shot(
        "console-new-event-agenda",
        lambda s, lang: s.console("/events/new", lang),
        signed_in=as_person("organiser", add_agenda_rows),
    ),
    Shot(
        "console-publish",
        lambda s, lang: s.console(f"/events/{s.events['open']}/unpublish", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-not-permitted",
        lambda s, lang: s.console(f"/events/{s.events['sample']}/edit", lang),
        signed_in=as_person("viewer"),
    ),
    Shot("console-signed-out", lambda s, lang: s.console("/signed-out", lang)),
    Shot(
        "console-registrations",
        lambda s, lang: s.console(f"/events/{s.events['full']}/registrations", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-registrations-viewer",
        lambda s, lang: s.console(f"/events/{s.events['full']}/registrations", lang),
        signed_in=as_person("viewer"),
    ),
    Shot(
        "console-registration",
        lambda s, lang: s.console(f"/registrations/{s.registrations['seated', lang]}", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-registration-cancel",
        lambda s, lang: s.console(f"/registrations/{s.registrations['seated', lang]}/cancel", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-dashboard",
        lambda s, lang: s.console(f"/events/{s.events['full']}/dashboard", lang),
        signed_in=as_person("viewer"),
    ),
    Shot(
        "console-audit", lambda s, lang: s.console("/audit", lang), signed_in=as_person("organiser")
    ),
    Shot(
        "console-event-life",
        lambda s, lang: s.console(f"/events/{s.events['full']}", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-event-cancel",
        lambda s, lang: s.console(f"/events/{s.events['full']}/cancel", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-messages",
        lambda s, lang: s.console(f"/events/{s.events['full']}/messages", lang),
        signed_in=as_person("organiser"),
    ),
    Shot(
        "console-message-preview",
        lambda s, lang: s.console(f"/events/{s.events['full']}/messages/new", lang),
        signed_in=as_person("organiser", preview_a_message),
    ),
    Shot(
        "console-message",
        lambda s, lang: s.console(f"/events/{s.events['full']}/messages/{MESSAGE_ID}", lang),
        signed_in=as_person("organiser"),
    ),
    Shot("event-cancelled", lambda s, _: s.event("cancelled")),
    Shot(
        "console-check-in-events",
        lambda s, lang: s.console("/check-in", lang),
        signed_in=as_person("door"),
    ),
    Shot(
        "console-check-in",
        lambda s, lang: s.console(f"/events/{s.events['full']}/check-in", lang) + "&q=a",
        signed_in=as_person("door"),
    ),
    Shot(
        "console-check-in-result",
        lambda s, lang: s.console(f"/events/{s.events['full']}/check-in", lang) + "&q=a",
        signed_in=as_person("door", check_in_the_first_found),
    ),
)


# The registration's status once the services have done their part, by seeded state.
SETTLED = {
    "seated": "seat_reserved",
    "waitlisted": "waitlisted",
    "remote": "remote",
    "cancelled": "cancelled",
}


class Seeder:
    """Registers people over the JSON API and collects the links their mails carry."""

    def __init__(self, api: httpx.AsyncClient, smtp: SmtpTestServer, seeded: Seeded) -> None:
        self.api = api
        self.smtp = smtp
        self.seeded = seeded
        self.receipts: dict[tuple[str, str], dict[str, Any]] = {}

    async def person(self, event_id: str, state: str, language: str, **changes: Any) -> str:
        """Register someone in ``language``; keep their manage link; return their id."""
        first, last, _ = PEOPLE[language]
        receipt = await register(
            self.api, event_id, language=language, first_name=first, last_name=last, **changes
        )
        self.receipts[state, language] = receipt
        self.seeded.registrations[state, language] = str(receipt["id"])
        [mail] = await self.smtp.wait_for(
            1, registration_id=receipt["id"], kind="registration_received", timeout=60
        )
        self.seeded.manage[state, language] = manage_link_in(mail)
        return str(receipt["id"])

    async def mail(self, registration_id: str, kind: str) -> None:
        await self.smtp.wait_for(1, registration_id=registration_id, kind=kind, timeout=60)

    async def watcher(self, event_id: str, state: str, language: str) -> str:
        """A remote registrant; keep their personal stream link too."""
        registration_id = await self.person(event_id, state, language, attendance="remote")
        [mail] = await self.smtp.wait_for(
            1, registration_id=registration_id, kind="stream_link", timeout=60
        )
        self.seeded.watch[state, language] = watch_link_in(mail)
        return registration_id

    async def cancel(self, state: str, language: str) -> None:
        receipt = self.receipts[state, language]
        answer = await self.api.delete(
            f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
        )
        assert answer.status_code in (200, 204), answer.text

    async def settled(self) -> None:
        """Until every registration has the status its page shows, and cancelled links are off."""
        for (state, _), receipt in self.receipts.items():
            await eventually(
                partial(self.status_is, receipt, SETTLED[state]),
                what=f"{state} registration settled",
                timeout=60,
            )
        for (state, _), link in self.seeded.watch.items():
            if state == "cancelled":
                await eventually(partial(self.answers, link, 410), what="link revoked", timeout=60)

    async def status_is(self, receipt: dict[str, Any], expected: str) -> bool:
        answer = await self.api.get(
            f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
        )
        return bool(answer.json()["status"] == expected)

    async def answers(self, address: str, status: int) -> bool:
        return (await self.api.get(address, follow_redirects=False)).status_code == status


async def create_sample(api: httpx.AsyncClient) -> str:
    """The seminar `make run` creates (deploy/local/sample_event.py), under an id of its own."""
    body = sample_event_script().sample_event(date.today())
    body["id"] = f"sample-{uuid.uuid4().hex[:8]}"
    response = await api.post("/api/v1/events", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(body["id"])


async def seed(api: httpx.AsyncClient, smtp: SmtpTestServer, seeded: Seeded) -> None:
    """One event in two weeks with a seat for each language, and one that confirms addresses."""
    seeder = Seeder(api, smtp, seeded)
    event = await create_event(api, in_person_capacity=len(LANGUAGES))
    for language in LANGUAGES:
        needs = PEOPLE[language][2]
        seated = await seeder.person(
            event["id"], "seated", language, needs=needs, needs_consent=True
        )
        await seeder.mail(seated, "seat_confirmed")
    for language in LANGUAGES:
        waiting = await seeder.person(event["id"], "waitlisted", language)
        await seeder.mail(waiting, "waitlisted")
        await seeder.watcher(event["id"], "remote", language)
        await seeder.watcher(event["id"], "cancelled", language)
        await seeder.cancel("cancelled", language)
    confirming = await create_event(api, email_confirmation=True)
    seeded.events["open"] = confirming["id"]
    seeded.events["full"] = event["id"]
    now = datetime.now(UTC)
    closed = await create_event(
        api,
        registration_opens_at=(now - timedelta(days=2)).isoformat(),
        registration_closes_at=(now - timedelta(days=1)).isoformat(),
    )
    seeded.events["closed"] = closed["id"]
    seeded.events["sample"] = await create_sample(api)
    called_off = await create_event(api)
    cancelled = await api.post(
        f"/api/v1/events/{called_off['id']}/cancellation",
        json={"note": {"fi": "Tilaisuus siirtyy keväälle.", "sv": "Evenemanget flyttas till våren.",
                       "en": "The event moves to the spring."}},
        headers=ADMIN,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    seeded.events["cancelled"] = called_off["id"]
    message = {
        "audience": "all",
        "title": {"fi": "Ohjelma tarkentui", "sv": "Programmet har preciserats",
                  "en": "The programme is final"},
        "body": {"fi": "Katso ohjelma tapahtuman sivulta.", "sv": "Se programmet på sidan.",
                 "en": "See the programme on the event's page."},
    }  # fmt: skip
    sent = await api.put(
        f"/api/v1/events/{event['id']}/messages/{MESSAGE_ID}", json=message, headers=ADMIN
    )
    assert sent.status_code in (200, 201), sent.text
    for language in LANGUAGES:
        first, last, _ = PEOPLE[language]
        receipt = await register(
            api, confirming["id"], language=language, first_name=first, last_name=last
        )
        [mail] = await smtp.wait_for(
            1, registration_id=receipt["id"], kind="confirm_address", timeout=60
        )
        link = confirmation_link_in(mail.text())
        assert link is not None, mail.text()
        seeded.confirm[language] = link
    await seeder.settled()


async def photograph(seeded: Seeded) -> list[str]:
    """Every page of ``PAGES`` at every width and language; returns axe-core's findings."""
    findings: list[str] = []
    async with launched_browser() as browser:
        for shot in PAGES:
            for language in shot.languages:
                for width in WIDTHS:
                    page = await open_page(
                        browser, shot.address(seeded, language), width=width, language=language
                    )
                    if shot.signed_in is not None:
                        await shot.signed_in(page, seeded)
                    if shot.then is not None:
                        await shot.then(page)
                    path = await screenshot(page, f"{shot.name}-{language}-{width}")
                    print(f"{path.relative_to(SCREENSHOTS.parent.parent)}", flush=True)
                    if width == WIDTHS[0]:
                        findings += [
                            f"{shot.name} ({language}): {describe_violation(found)}"
                            for found in await accessibility_violations(page, every_impact=True)
                        ]
                    findings += await reflow(page, f"{shot.name} ({language})", width)
                    await page.context.close()
    return findings


async def reflow(page: Page, what: str, width: int) -> list[str]:
    """A finding when the page is wider than the window: WCAG 1.4.10, which axe-core cannot see.

    At 320 CSS px and up nothing may need scrolling sideways; a long link or
    a wide table that pushes the page out does.
    """
    scroll_width = int(await page.evaluate("document.documentElement.scrollWidth"))
    if scroll_width <= width:
        return []
    return [f"{what}: - reflow: the page is {scroll_width} px wide in a {width} px window"]


async def drop_databases(infrastructure: IsolatedInfrastructure) -> None:
    client = connect(infrastructure.mongodb_url)
    for name in await client.list_database_names():
        if name.startswith(f"test_{infrastructure.run_id}_"):
            await client.drop_database(name)
    await client.close()


async def main() -> int:
    infrastructure = create_isolated_infrastructure()
    identity = identity_provider()
    client, console_settings = await console_client(identity)
    # The dashboard asks the other services for counts with the console's client.
    console_settings["ILMO_OIDC_SERVICE_CLIENTS"] = client.client_id
    try:
        with services_with_mail(infrastructure, console_settings) as (smtp, services):
            seeded = Seeded(services["registration"].url, services["streaming"].url)
            seeded.identity = identity
            await return_to(identity, client, seeded.registration_url)
            async with httpx.AsyncClient(base_url=seeded.registration_url, timeout=30) as api:
                await seed(api, smtp, seeded)
            findings = await photograph(seeded)
    finally:
        await drop_databases(infrastructure)
        remove_test_vhost(infrastructure)
    print(f"{len(findings)} findings: axe-core (any impact, 375 px) and reflow (every width)")
    for finding in findings:
        print(finding)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

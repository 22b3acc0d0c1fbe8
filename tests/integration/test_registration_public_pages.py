"""The public pages: list of events, an event, its registration form, against the real stores.

The app runs in-process against the real database and broker, as the JSON
API's tests do; the form is filled in as a person does (``tests.support.pages``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import RegistrationSubmitted
from ilmo_registration.privacy import DEFAULT_NOTICE
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.pages import FORM_FIELDS, open_form, page_of, register_on_page
from tests.support.registration import (
    ADMIN,
    MovableClock,
    create_event,
    register,
    running_registration,
    unique_id,
)

# Words an English page has and a Finnish or Swedish one must not.
ENGLISH_WORDS = (
    "Registration",
    "registration",
    "Event",
    "event",
    "First name",
    "Email",
    "Send",
    "Skip to",
    "waiting list",
    "Back to",
    "Upcoming",
    "Language",
    "optional",
    "Time and place",
    "Organiser",
)


def assert_personal(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:1000]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"].startswith("noindex")
    assert_strict_policy(response)


def assert_strict_policy(response: httpx.Response) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "style-src 'self'" in policy
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy
    assert "<script" not in response.text
    assert "style=" not in response.text


def assert_no_english(text: str) -> None:
    leaked = [word for word in ENGLISH_WORDS if word in text]
    assert not leaked, (leaked, text)


@pytest.fixture
async def confirming(client: httpx.AsyncClient, clock: MovableClock) -> dict[str, Any]:
    """A published event that asks registrants to confirm their address, as in production."""
    return await create_event(client, now=clock.now, email_confirmation=True)


# ------------------------------------------------------------------ list and event


async def test_the_list_shows_upcoming_published_events_in_the_visitors_language(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    shown = await create_event(client, now=clock.now)
    draft = await create_event(client, now=clock.now, published=False)
    past = await create_event(
        client,
        now=clock.now - timedelta(days=30),
        registration_opens_at=(clock.now - timedelta(days=40)).isoformat(),
    )
    response = await client.get("/", headers={"Accept-Language": "sv-FI, en;q=0.5"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "Accept-Language" in response.headers["Vary"]
    assert_strict_policy(response)
    page = page_of(response)
    assert page.lang == "sv"
    assert "AI i förvaltningen" in page.text
    assert "Anmälan är öppen." in page.text
    assert "(finsk tid)" in page.text
    hrefs = [a["href"] for a in page.named("a")]
    assert f"events/{shown['id']}" in hrefs
    assert f"events/{draft['id']}" not in hrefs
    assert f"events/{past['id']}" not in hrefs


async def test_the_event_page_shows_what_a_participant_needs_to_know(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    talk = {
        "title": {"fi": "Tekoälyn riskit", "en": "The risks of AI"},
        "speakers": [
            {
                "name": "Kaisa Korhonen",
                "title": {"fi": "Johtava asiantuntija", "en": "Principal expert"},
                "organisation": {"fi": "Digi- ja väestötietovirasto", "en": "Digital Agency"},
            }
        ],
    }
    event = await create_event(client, now=clock.now, description={"fi": "Eka.\n\nToka."})
    agenda = event["agenda"]
    agenda[1]["talks"] = [talk]
    changed = await client.patch(
        f"/api/v1/events/{event['id']}", json={"agenda": agenda}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text

    response = await client.get(f"/events/{event['id']}", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = page_of(response)
    assert page.lang == "en"
    text = page.text
    for seen in (
        "AI in government",
        "(Finnish time)",
        "Ministeriön juhlasali",
        "Snellmaninkatu 1, Helsinki",
        "Main entrance.",
        "Avaus",  # Finnish where the agenda has no English
    ):
        assert seen in text, seen
    assert "Panel" in text
    assert "The risks of AI" in text
    assert "Kaisa Korhonen, Principal expert, Digital Agency" in text
    assert "Maija Virtanen, Kansliapäällikkö" in text
    assert "Ministry of Finance" in text
    assert "Registration is open." in text
    assert "On site: places left." in text
    assert "Registration deadline" in text
    assert "<p>Eka.</p>" in page.html  # paragraphs of the description
    assert "<p>Toka.</p>" in page.html
    hrefs = [a["href"] for a in page.named("a")]
    assert "mailto:seminaari@vm.example.fi" in hrefs
    assert "tel:+35829516001" in hrefs
    assert f"{event['id']}/registration" in hrefs
    assert len(page.named("h1")) == 1


async def test_an_unknown_or_unpublished_event_is_a_404_page_in_the_visitors_language(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    draft = await create_event(client, now=clock.now, published=False)
    for path in (
        f"/events/{draft['id']}",
        f"/events/{unique_id()}",
        "/events/NOT AN ID",
        f"/events/{draft['id']}/registration",
    ):
        response = await client.get(path, headers={"Accept-Language": "fi"})
        assert_personal(response, 404)
        page = page_of(response)
        assert "Tilaisuutta ei löytynyt" in page.text
        assert_no_english(page.text)
    response = await client.get(f"/events/{draft['id']}/somewhere")
    assert response.status_code == 404
    assert "Sivua ei löytynyt" in response.text  # the pages' own 404, not problem JSON


async def test_once_registration_has_closed_the_page_says_so_and_offers_no_form(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    event = await create_event(client, now=clock.now)
    clock.now += timedelta(days=8)  # closed a day ago; the event in six days
    page = page_of(await client.get(f"/events/{event['id']}", headers={"Accept-Language": "fi"}))
    assert "Ilmoittautuminen on päättynyt." in page.text
    assert f"{event['id']}/registration" not in [a["href"] for a in page.named("a")]
    form_page = page_of(await client.get(f"/events/{event['id']}/registration"))
    assert form_page.forms == []
    assert "Tämän tilaisuuden ilmoittautuminen on päättynyt" in form_page.text

    clock.now += timedelta(days=7)
    over = page_of(await client.get(f"/events/{event['id']}", headers={"Accept-Language": "sv"}))
    assert "Evenemanget är slut." in over.text


async def test_when_the_seats_are_taken_the_page_says_waiting_list_only(
    client: httpx.AsyncClient, clock: MovableClock
) -> None:
    event = await create_event(client, now=clock.now, in_person_capacity=1)
    await register(client, event["id"], attendance="in_person")
    page = page_of(await client.get(f"/events/{event['id']}", headers={"Accept-Language": "fi"}))
    assert "Paikan päällä: vain varasijoja." in page.text
    form = await open_form(client, event["id"])
    assert "pääset todennäköisesti varasijalle" in form.text


# --------------------------------------------------------------------- the form


async def test_the_form_labels_every_field_and_carries_the_notice_and_a_form_token(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    response = await client.get(
        f"/events/{event['id']}/registration", headers={"Accept-Language": "sv"}
    )
    assert_personal(response, 200)
    assert "ilmo_form=" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    page = page_of(response)
    assert page.lang == "sv"
    form = page.form("registration")
    assert form.method == "post"
    assert form.fields["privacy_notice_version"] == DEFAULT_NOTICE.version
    assert len(form.fields["form_token"]) == 64
    assert form.fields["language"] == "sv"  # the page's language is the default
    labelled = {label["for"] for label in page.named("label")}
    for name in ("first_name", "last_name", "email", "organisation", "needs", "needs_consent"):
        assert name in labelled, name
    for value in ("in_person", "remote"):
        assert f"attendance-{value}" in labelled
    autocomplete = {i["name"]: i.get("autocomplete") for i in page.named("input") if "name" in i}
    assert autocomplete["first_name"] == "given-name"
    assert autocomplete["last_name"] == "family-name"
    assert autocomplete["email"] == "email"
    assert autocomplete["organisation"] == "organization"
    assert [legend for legend in page.named("legend")] != []
    assert "Personuppgiftsansvarig är evenemangets arrangör" in page.text  # the notice, in Swedish
    assert_no_english(page.text)


async def test_registering_on_the_form_takes_the_registration_and_asks_to_check_email(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    confirming: dict[str, Any],
) -> None:
    email = f"maija.{uuid.uuid4().hex[:8]}@example.fi"
    async with event_tap(infrastructure.amqp_url, "registration.submitted") as tap:
        response = await register_on_page(
            client,
            confirming["id"],
            email=email,
            language="sv",
            needs="Pyörätuolipaikka",
            needs_consent="yes",
        )
        assert response.status_code == 303, response.text
        assert response.headers["Location"] == "registration/sent"
        await tap.wait_for(1)
    [message] = [m for m in tap.messages if m.data["event_id"] == confirming["id"]]
    submitted = RegistrationSubmitted.model_validate_json(message.body)
    assert (submitted.email, submitted.language.value) == (email, "sv")
    stored = await registrations.find_one({"event_id": confirming["id"], "email": email})
    assert stored is not None
    assert stored["status"] == "pending_confirmation"
    assert stored["needs"] == "Pyörätuolipaikka"
    assert stored["needs_consent"]["given_at"] is not None
    assert stored["privacy_notice"]["version"] == DEFAULT_NOTICE.version

    sent = await client.get(
        f"/events/{confirming['id']}/registration/sent", headers={"Accept-Language": "fi"}
    )
    assert_personal(sent, 200)
    page = page_of(sent)
    assert "Tarkista sähköpostisi" in page.text
    assert "Vahvistat sähköpostiosoitteesi viestissä olevalla linkillä." in page.text
    assert "24 tuntia" in page.text
    assert email not in page.text
    assert_no_english(page.text)


async def test_a_second_registration_of_an_address_looks_exactly_like_the_first(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    confirming: dict[str, Any],
) -> None:
    email = f"toinen.{uuid.uuid4().hex[:8]}@example.fi"
    first = await register_on_page(client, confirming["id"], email=email)
    second = await register_on_page(client, confirming["id"], email=email.upper())
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    path = f"/events/{confirming['id']}/"
    pages = [await client.get(path + r.headers["Location"]) for r in (first, second)]
    assert pages[0].text == pages[1].text
    assert await registrations.count_documents({"event_id": confirming["id"]}) == 1


async def test_the_same_form_sent_twice_registers_once_and_mails_nothing_more(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    confirming: dict[str, Any],
) -> None:
    """A double click sends one rendered form twice: its submission key makes it one."""
    email = f"kahdesti.{uuid.uuid4().hex[:8]}@example.fi"
    page = await open_form(client, confirming["id"])
    form = page.form("registration")
    assert len(form.fields["submission"]) == 32
    values = {**form.fields, **FORM_FIELDS, "email": email}
    path = f"/events/{confirming['id']}/registration"
    async with event_tap(infrastructure.amqp_url, "registration.repeated") as tap:
        first = await client.post(path, data=values)
        again = await client.post(path, data=values)
        assert first.status_code == again.status_code == 303, again.text
        assert first.headers["Location"] == again.headers["Location"] == "registration/sent"
        assert await registrations.count_documents({"event_id": confirming["id"]}) == 1
        # A new form for the same address is a repeat, told by mail as before; the
        # relay publishes in the order of the writes, so a repeat from the double
        # click would have come first.
        third = await register_on_page(client, confirming["id"], email=email)
        assert third.status_code == 303
        await tap.wait_for(1)
        await tap.take_arrived()
    repeats = [m for m in tap.messages if m.data["event_id"] == confirming["id"]]
    assert len(repeats) == 1


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"first_name": "", "last_name": " ", "email": ""},
            {
                "first_name": "Kirjoita etunimesi.",
                "last_name": "Kirjoita sukunimesi.",
                "email": "Kirjoita sähköpostiosoitteesi.",
            },
        ),
        ({"email": "maija.example.fi"}, {"email": "Kirjoita sähköpostiosoite muodossa"}),
        ({"attendance": None}, {"attendance": "Valitse, osallistutko paikan päällä vai etänä."}),
        (
            {"needs": "Gluteeniton ruoka", "needs_consent": None},
            {"needs_consent": "Anna suostumus tarpeidesi käsittelyyn"},
        ),
        ({"organisation": "x" * 201}, {"organisation": "enintään 200 merkkiä"}),
    ],
)
async def test_each_error_is_shown_at_its_field_and_in_the_summary_keeping_the_input(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    changes: dict[str, str | None],
    errors: dict[str, str],
) -> None:
    typed = {"first_name": "Åsa<b>", **changes}
    response = await register_on_page(client, event["id"], params={"lang": "fi"}, **typed)
    assert_personal(response, 422)
    page = page_of(response)
    assert page.lang == "fi"
    summary = page.by_id("error-summary-title")
    assert summary is not None
    summary_links = [a["href"] for a in page.named("a") if a.get("href", "").startswith("#")]
    for name, words in errors.items():
        message = page.by_id(f"{name}-error")
        assert message is not None, name
        assert words in page.text, words
        target = "attendance-in_person" if name == "attendance" else name
        assert f"#{target}" in summary_links
        described = page.by_id(name if name != "attendance" else "attendance-group")
        assert described is not None, name
        assert f"{name}-error" in described.get("aria-describedby", "")
        if name != "attendance":  # a group is described, its choices marked
            assert described.get("aria-invalid") == "true"
    # What was typed comes back, escaped.
    if "first_name" not in errors:
        assert page.form("registration").fields["first_name"] == "Åsa<b>"
        assert "Åsa&lt;b&gt;" in page.html
    if "email" in changes:
        assert page.form("registration").fields["email"] == changes["email"]
    assert "Virhe:" in page.html
    assert_no_english(page.text)
    assert await registrations.count_documents({"event_id": event["id"]}) == 0


async def test_a_post_after_registration_closed_gets_the_page_with_a_clear_error(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    page = await open_form(client, event["id"], lang="sv")
    values = {**page.form("registration").fields, "first_name": "Åsa", "last_name": "Öhman"}
    values |= {"email": "asa@example.fi", "attendance": "remote"}
    clock.now += timedelta(days=8)
    response = await client.post(f"/events/{event['id']}/registration?lang=sv", data=values)
    assert_personal(response, 409)
    closed = page_of(response)
    assert (
        "Anmälan till det här evenemanget har stängt, så formuläret skickades inte." in closed.text
    )
    assert closed.forms == []
    assert await registrations.count_documents({"event_id": event["id"]}) == 0


async def test_a_form_without_its_token_or_cookie_is_refused_with_a_page(
    client: httpx.AsyncClient, registrations: AsyncCollection[Document], event: dict[str, Any]
) -> None:
    page = await open_form(client, event["id"])
    values = {**page.form("registration").fields, "first_name": "A", "last_name": "B"}
    values |= {"email": "ab@example.fi", "attendance": "remote"}
    path = f"/events/{event['id']}/registration"
    forged = {**values, "form_token": "0" * 64}
    missing = {k: v for k, v in values.items() if k != "form_token"}
    for data in (forged, missing):
        refused = await client.post(path, data=data, headers={"Accept-Language": "en"})
        assert_personal(refused, 403)
        assert "Your form could not be checked" in refused.text
    json_body = await client.post(path, json=values)
    assert json_body.status_code == 403
    # With both, it goes through.
    assert (await client.post(path, data=values)).status_code == 303
    # Another site can make a browser post the token it saw, but not with our cookie.
    client.cookies.clear()
    refused = await client.post(path, data={**values, "email": "other@example.fi"})
    assert refused.status_code == 403
    assert await registrations.count_documents({"event_id": event["id"]}) == 1


async def test_a_changed_privacy_notice_shows_the_new_one_and_keeps_the_input(
    client: httpx.AsyncClient, registrations: AsyncCollection[Document], event: dict[str, Any]
) -> None:
    page = await open_form(client, event["id"])
    values = {**page.form("registration").fields, "first_name": "Ilkka", "last_name": "Ilmo"}
    values |= {"email": "ilkka@example.fi", "attendance": "remote"}
    texts = {"text": {"fi": "Uusi seloste.", "sv": "Ny beskrivning.", "en": "New notice."}}
    put = await client.put(
        f"/api/v1/events/{event['id']}/privacy-notice", json=texts, headers=ADMIN
    )
    assert put.status_code == 200, put.text
    response = await client.post(f"/events/{event['id']}/registration", data=values)
    assert_personal(response, 409)
    shown = page_of(response)
    assert "Tietosuojaseloste muuttui" in shown.text
    assert "Uusi seloste." in shown.text
    form = shown.form("registration")
    assert form.fields["privacy_notice_version"] == put.json()["version"]
    assert form.fields["first_name"] == "Ilkka"
    again = await client.post(f"/events/{event['id']}/registration", data={**values, **form.fields})
    assert again.status_code == 303
    assert await registrations.count_documents({"event_id": event["id"]}) == 1


async def test_the_form_is_rate_limited_as_the_api_is(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> None:
    settings = {
        "redis_url": infrastructure.redis_url,
        "redis_key_prefix": f"{infrastructure.redis_key_prefix}-{uuid.uuid4().hex[:8]}",
        "rate_limit_per_client": "2/minute",
    }
    async with running_registration(infrastructure, clock, **settings) as client:
        event = await create_event(client, now=clock.now)
        assert (await register_on_page(client, event["id"])).status_code == 303
        await register(client, event["id"])  # the API and the form count together
        refused = await register_on_page(client, event["id"], first_name="Kolmas")
        assert_personal(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        page = page_of(refused)
        assert "Verkostasi on juuri lähetetty liian monta ilmoittautumista." in page.text
        assert page.form("registration").fields["first_name"] == "Kolmas"


# ------------------------------------------------------------------ language


async def test_the_language_follows_the_switcher_then_the_cookie_then_the_browser(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    browser_fi = {"Accept-Language": "fi-FI,fi;q=0.9,en;q=0.5"}
    assert page_of(await client.get("/", headers=browser_fi)).lang == "fi"
    assert page_of(await client.get("/", headers={"Accept-Language": "de, en;q=0.3"})).lang == "en"
    assert page_of(await client.get("/", headers={"Accept-Language": "de"})).lang == "fi"

    chosen = await client.get("/?lang=sv", headers=browser_fi)
    assert page_of(chosen).lang == "sv"
    assert "ilmo_lang=sv" in chosen.headers["set-cookie"]
    assert chosen.headers["Cache-Control"] == "private, no-cache"
    # The cookie keeps the choice on the pages that follow.
    later = await client.get(f"/events/{event['id']}", headers=browser_fi)
    assert page_of(later).lang == "sv"

    nav = page_of(later)
    switcher = {a["lang"]: a for a in nav.named("a") if a.get("hreflang")}
    assert set(switcher) == {"fi", "sv", "en"}
    assert switcher["sv"].get("aria-current") == "true"
    assert switcher["en"]["href"] == "?lang=en"
    assert page_of(await client.get(f"/events/{event['id']}{switcher['en']['href']}")).lang == "en"


@pytest.mark.parametrize("language", ["fi", "sv"])
async def test_no_english_leaks_into_finnish_or_swedish_pages(
    client: httpx.AsyncClient, confirming: dict[str, Any], language: str
) -> None:
    headers = {"Accept-Language": language}
    event_id = confirming["id"]
    paths = ["/", f"/events/{event_id}", f"/events/{event_id}/registration"]
    paths.append(f"/events/{event_id}/registration/sent")
    for path in paths:
        page = page_of(await client.get(path, headers=headers))
        assert page.lang == language
        # Only the event's own texts (Finnish where not translated) and names remain.
        assert_no_english(page.text.replace("AI i förvaltningen", ""))
    errors = await register_on_page(client, event_id, params={"lang": language}, email="x")
    assert_no_english(page_of(errors).text)


async def test_the_stylesheet_is_served_cacheable_and_linked_by_its_version(
    client: httpx.AsyncClient,
) -> None:
    page = page_of(await client.get("/"))
    [link] = page.named("link")
    assert link["href"].startswith("./static/ilmo.css?v=")
    response = await client.get(link["href"].removeprefix("."))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    assert "outline: 3px solid" in response.text
    assert (await client.get("/static/other.css")).status_code == 404

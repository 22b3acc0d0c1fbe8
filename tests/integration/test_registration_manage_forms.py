"""The manage page's forms that change a registration: correcting one's details and
switching attendance.

The app runs in-process against the real database and broker; the page is
read and its forms are sent as a browser does (``tests.support.pages``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.storage import Document
from tests.integration.test_registration_manage import assert_page, link_token, page_path
from tests.support.pages import Page
from tests.support.registration import MovableClock, register


async def manage_page(client: httpx.AsyncClient, registration_id: str, lang: str = "") -> Page:
    query = f"&lang={lang}" if lang else ""
    return Page(assert_page(await client.get(f"{page_path(registration_id)}{query}"), 200))


async def followed(client: httpx.AsyncClient, path: str, response: httpx.Response) -> Page:
    """The page a form's 303 leads to."""
    assert response.status_code == 303, response.text
    return Page(assert_page(await client.get(urljoin(path, response.headers["Location"])), 200))


async def test_a_registrant_corrects_their_details_on_a_form_that_keeps_what_was_typed(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], language="fi", organisation="Kunta")
    registration_id = receipt["id"]
    button = (await manage_page(client, registration_id)).form("details")
    assert button.method == "get"
    form_path = f"/manage/{registration_id}/details"
    form_page = Page(assert_page(await client.get(form_path, params=button.fields), 200))
    assert "Korjaa tietojasi" in form_page.text
    filled = form_page.form("details")
    assert (filled.fields["first_name"], filled.fields["organisation"]) == ("Matti", "Kunta")
    assert filled.fields["language"] == "fi"

    # No first name, and needs without the consent: both said, what was typed kept, nothing stored.
    wrong = {**filled.fields, "first_name": "", "last_name": "Korjattu", "needs": "Pyörätuoli"}
    refused = Page(assert_page(await client.post(form_path, data=wrong), 422))
    summary = [a["href"] for a in refused.named("a") if a.get("href", "").startswith("#")]
    assert summary[1:] == ["#first_name", "#needs_consent"]
    assert "Kirjoita etunimesi." in refused.text
    assert refused.by_id("first_name") is not None
    assert refused.form("details").fields["last_name"] == "Korjattu"
    assert refused.form("details").fields["needs"] == "Pyörätuoli"
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert (stored["last_name"], stored.get("needs")) == ("Meikäläinen", None)

    right = {**wrong, "first_name": "Mats", "organisation": "", "language": "sv"}
    right["needs_consent"] = "yes"
    after = await followed(client, form_path, await client.post(form_path, data=right))
    assert after.lang == "sv"  # the page follows the registrant's new language
    assert "Mats Korjattu" in after.text
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert (stored["first_name"], stored["organisation"], stored["language"]) == (
        "Mats",
        None,
        "sv",
    )
    assert stored["needs"] == "Pyörätuoli"


async def test_the_page_switches_attendance_back_and_forth_until_registration_closes(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    receipt = await register(client, event["id"], language="en")
    registration_id = receipt["id"]
    path = f"/manage/{registration_id}/attendance"

    page = await manage_page(client, registration_id)
    switch = page.form("attendance")
    assert (switch.method, switch.fields["attendance"]) == ("post", "remote")
    assert switch.fields["token"] == link_token(registration_id)
    assert "Give up my place and attend remotely" in page.text
    page = await followed(client, path, await client.post(path, data=switch.fields))
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert (stored["attendance"], stored["attendance_version"]) == ("remote", 2)

    back = page.form("attendance")
    assert back.fields["attendance"] == "in_person"
    assert "Attend on site instead" in page.text
    # Sent twice (a double click): the second changes nothing.
    await client.post(path, data=back.fields)
    page = await followed(client, path, await client.post(path, data=back.fields))
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert (stored["attendance"], stored["attendance_version"]) == ("in_person", 3)

    # Once registration has closed, on site -> remote is still offered, but not back.
    await followed(client, path, await client.post(path, data=page.form("attendance").fields))
    clock.now = datetime.fromisoformat(event["registration_closes_at"]) + timedelta(minutes=1)
    closed = await manage_page(client, registration_id)
    assert "you can no longer switch to attending on site" in closed.text
    assert all(not form.action.endswith("attendance") for form in closed.forms)
    late = await client.post(path, data={**back.fields})
    await followed(client, path, late)
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert (stored["attendance"], stored["attendance_version"]) == ("remote", 4)


async def test_the_forms_answer_a_wrong_link_with_404(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"])
    registration_id = receipt["id"]
    wrong = {"token": link_token("00000000-0000-4000-8000-000000000000")}
    for path in (f"/manage/{registration_id}/details", f"/manage/{registration_id}/attendance"):
        assert_page(await client.post(path, data={**wrong, "attendance": "remote"}), 404)
    assert_page(await client.get(f"/manage/{registration_id}/details", params=wrong), 404)

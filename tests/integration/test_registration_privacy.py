"""The privacy notice a registrant is shown, and the consent for needs, against the real database.

Registering records which notice was shown (version, language, time); needs
are taken only with explicit consent, which the registrant can withdraw on
the manage page or the JSON API, erasing the needs at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_event_contracts import Language
from ilmo_registration.privacy import DEFAULT_NOTICE
from ilmo_shared.manage_links import manage_link, manage_link_token
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    create_event,
    register,
    registration_payload,
)

PUBLIC_URL = "https://ilmo.example.fi"
NEW_TEXT = {
    "fi": "Tämän seminaarin oma tietosuojaseloste.",
    "sv": "Seminariets egen dataskyddsbeskrivning.",
    "en": "This seminar's own privacy notice.",
}


def notice_path(event_id: str) -> str:
    return f"/api/v1/events/{event_id}/privacy-notice"


async def test_an_event_without_a_notice_of_its_own_serves_the_built_in_one(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    response = await client.get(notice_path(event["id"]))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "event_id": event["id"],
        "version": DEFAULT_NOTICE.version,
        "text": {language.value: text for language, text in DEFAULT_NOTICE.text.items()},
    }
    draft = await create_event(client, now=clock.now, published=False)
    assert_problem(await client.get(notice_path(draft["id"])), 404, "/problems/not-found")
    assert (await client.get(notice_path(draft["id"]), headers=ADMIN)).status_code == 200
    assert_problem(await client.get(notice_path("no-such-event")), 404, "/problems/not-found")


async def test_a_registration_records_the_notice_shown_its_language_and_time(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    receipt = await register(client, event["id"], language="sv")
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    notice = stored["privacy_notice"]
    assert (notice["version"], notice["language"]) == (DEFAULT_NOTICE.version, "sv")
    assert abs((notice["shown_at"] - clock.now).total_seconds()) < 1
    assert stored["needs_consent"] is None

    listed = await client.get(f"/api/v1/events/{event['id']}/registrations", headers=ADMIN)
    [summary] = listed.json()
    assert summary["privacy_notice_version"] == DEFAULT_NOTICE.version
    assert summary["privacy_notice_language"] == "sv"
    assert summary["needs_consent_given_at"] is None


async def test_a_new_notice_is_in_force_at_once_and_the_old_one_stays_on_record(
    client: httpx.AsyncClient,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    before = await register(client, event["id"])
    put = await client.put(notice_path(event["id"]), json={"text": NEW_TEXT}, headers=ADMIN)
    assert put.status_code == 200, put.text
    version = put.json()["version"]
    assert version != DEFAULT_NOTICE.version
    assert (await client.get(notice_path(event["id"]))).json()["text"] == NEW_TEXT
    again = await client.put(notice_path(event["id"]), json={"text": NEW_TEXT}, headers=ADMIN)
    assert again.json()["version"] == version  # the same texts are the same version

    stale = await client.post(
        f"/api/v1/events/{event['id']}/registrations", json=registration_payload()
    )
    problem = assert_problem(stale, 409, "/problems/privacy-notice-changed")
    assert version in problem["detail"]
    after = await register(client, event["id"], privacy_notice_version=version)

    recorded = {
        document["_id"]: document["privacy_notice"]["version"]
        async for document in registrations.find({"event_id": event["id"]})
    }
    assert recorded == {before["id"]: DEFAULT_NOTICE.version, after["id"]: version}
    # Both versions' texts are kept: each record names what its person was shown.
    notices = mongo[infrastructure.database_name("registration")]["privacy_notices"]
    kept = {document["_id"]: document["text"] async for document in notices.find({})}
    assert kept[version] == NEW_TEXT
    assert kept[DEFAULT_NOTICE.version]["fi"] == DEFAULT_NOTICE.text[Language.FI]


async def test_only_an_administrator_puts_a_whole_notice_in_force(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    path = notice_path(event["id"])
    unauthorized = await client.put(path, json={"text": NEW_TEXT})
    assert_problem(unauthorized, 401, "/problems/unauthorized")
    partial = await client.put(path, json={"text": {"fi": "Vain suomeksi."}}, headers=ADMIN)
    problem = assert_problem(partial, 422, "/problems/validation")
    assert {error["field"] for error in problem["errors"]} == {"text.sv", "text.en"}
    missing = await client.put(notice_path("no-such-event"), json={"text": NEW_TEXT}, headers=ADMIN)
    assert_problem(missing, 404, "/problems/not-found")
    assert (await client.get(path)).json()["version"] == DEFAULT_NOTICE.version


async def test_needs_come_with_a_recorded_consent_that_the_registrant_can_withdraw(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(client, event["id"], needs="Induktiosilmukka", needs_consent=True)
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored["needs"] == "Induktiosilmukka"
    assert stored["needs_consent"]["given_at"] is not None
    assert stored["needs_consent"]["withdrawn_at"] is None

    path = f"/api/v1/registrations/{receipt['id']}/needs"
    assert_problem(await client.delete(path), 401, "/problems/unauthorized")
    wrong = await client.delete(path, headers=bearer("not-the-token"))
    assert_problem(wrong, 404, "/problems/not-found")
    withdrawn = await client.delete(path, headers=bearer(receipt["manage_token"]))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["needs"] is None
    assert withdrawn.json()["needs_consent_withdrawn_at"] is not None
    repeated = await client.delete(path, headers=bearer(receipt["manage_token"]))
    assert (
        repeated.json()["needs_consent_withdrawn_at"]
        == (withdrawn.json()["needs_consent_withdrawn_at"])
    )

    erased = await registrations.find_one({"_id": receipt["id"]})
    assert erased is not None
    assert erased["needs"] is None
    assert "Induktiosilmukka" not in str(erased)


async def test_the_manage_page_shows_the_needs_and_withdraws_the_consent(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    receipt = await register(
        client, event["id"], language="en", needs="Gluten-free <lunch>", needs_consent=True
    )
    registration_id = receipt["id"]
    link = urlsplit(manage_link(PUBLIC_URL, MANAGE_LINK_SECRET, registration_id))
    page = await client.get(f"{link.path}?{link.query}")
    assert page.status_code == 200
    assert "Gluten-free &lt;lunch&gt;" in page.text
    assert f'action="{registration_id}/needs"' in page.text
    assert "Withdraw consent and erase my needs" in page.text

    token = manage_link_token(MANAGE_LINK_SECRET, registration_id)
    wrong = await client.post(f"/manage/{registration_id}/needs", data={"token": "wrong"})
    assert wrong.status_code == 404
    posted = await client.post(
        f"/manage/{registration_id}/needs", data={"token": token}, follow_redirects=True
    )
    assert posted.status_code == 200
    assert "You withdrew your consent; your needs have been erased." in posted.text
    assert "Gluten-free" not in posted.text
    stored = await registrations.find_one({"_id": registration_id})
    assert stored is not None
    assert stored["needs"] is None


async def test_a_registration_without_needs_has_no_consent_form(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], language="fi")
    link = urlsplit(manage_link(PUBLIC_URL, MANAGE_LINK_SECRET, receipt["id"]))
    page = await client.get(f"{link.path}?{link.query}")
    # Everything held is listed (Art. 15), the consent as never asked; there is nothing to withdraw.
    assert "Ei kysytty, koska erityistarpeita ei annettu" in page.text
    assert "/needs" not in page.text

"""Signing in to the console through the development identity provider, and out again.

The registration service runs in-process (its public address
https://ilmo.example.fi); the provider is the real one (Ory Hydra and its
login page), driven over HTTP as a browser would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pymongo import AsyncMongoClient

from ilmo_registration.storage.console_sessions import SESSION_COLLECTION
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.console import (
    CALLBACK,
    PUBLIC,
    SIGNED_OUT,
    cookie_header,
    csrf_token_in,
    set_cookies,
    signed_in,
    signed_in_as,
)
from tests.support.identity import Client, IdentityProvider, authorize, register_client
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import MovableClock, running_registration


@pytest.fixture(scope="module")
async def console_client(identity: IdentityProvider) -> Client:
    return await register_client(
        identity, redirect_uris=(CALLBACK,), post_logout_redirect_uris=(SIGNED_OUT,)
    )


@pytest.fixture
async def console(
    infrastructure: IsolatedInfrastructure,
    clock: MovableClock,
    identity: IdentityProvider,
    console_client: Client,
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_registration(
        infrastructure,
        clock,
        oidc_issuer=identity.issuer,
        oidc_client_id=console_client.client_id,
        oidc_client_secret=console_client.client_secret,
        public_base_url=PUBLIC,
    ) as client:
        yield client


async def test_an_organiser_signs_in_and_lands_on_the_page_asked_for(
    console: httpx.AsyncClient, identity: IdentityProvider
) -> None:
    start = await console.get("/console/sign-in", params={"next": "/console/events/new"})
    location = urlsplit(start.headers["location"])
    asked = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}/" == identity.issuer
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["audience"] == ["ilmo"]
    assert asked["scope"] == ["openid profile"]

    callback, session = await signed_in_as(console, identity, "organiser", "/console/events/new")

    assert callback.headers["location"] == "/console/events/new"
    cookie = set_cookies(callback)["__Host-ilmo_console"]["__Host-ilmo_console"]
    assert cookie["httponly"]
    assert cookie["secure"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    page = await console.get("/console/events/new?lang=en", headers=session)
    assert page.status_code == 200
    assert "Organiser" in page.text


async def test_the_session_is_kept_as_a_digest_and_sign_out_deletes_it(
    console: httpx.AsyncClient,
    identity: IdentityProvider,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    _callback, session = await signed_in_as(console, identity, "viewer", "/console")
    value = session["Cookie"].split("=", 1)[1]
    sessions = mongo[infrastructure.database_name("registration")][SESSION_COLLECTION]
    assert await sessions.find_one({"_id": value}) is None  # never the cookie itself
    page = await console.get("/console", headers=session)
    assert page.status_code == 200

    out = await console.post(
        "/console/sign-out", data={"csrf_token": csrf_token_in(page)}, headers=session
    )

    assert out.status_code == 303
    logout = urlsplit(out.headers["location"])
    assert parse_qs(logout.query)["post_logout_redirect_uri"] == [SIGNED_OUT]
    assert "id_token_hint" in parse_qs(logout.query)
    assert (await console.get("/console", headers=session)).status_code == 303
    signed_out = await console.get("/console/signed-out?lang=en")
    assert "You have signed out" in signed_out.text


async def test_sign_out_without_the_csrf_token_is_refused(
    console: httpx.AsyncClient, identity: IdentityProvider
) -> None:
    _callback, session = await signed_in_as(console, identity, "viewer", "/console")

    forged = await console.post("/console/sign-out", data={"csrf_token": "x"}, headers=session)

    assert forged.status_code == 403
    assert (await console.get("/console", headers=session)).status_code == 200


async def test_a_refusal_at_the_provider_is_a_page_not_an_error(
    console: httpx.AsyncClient,
) -> None:
    start = await console.get("/console/sign-in")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]

    answer = await console.get(
        "/console/signed-in",
        params={"error": "access_denied", "state": state, "lang": "en"},
        headers=cookie_header(start, "ilmo_console_sign_in"),
    )

    assert answer.status_code == 400
    assert "You did not sign in" in answer.text


async def test_an_answer_for_another_sign_in_is_refused(
    console: httpx.AsyncClient, identity: IdentityProvider
) -> None:
    mine = await console.get("/console/sign-in")
    other = await console.get("/console/sign-in")
    arrived = await authorize(
        identity, other.headers["location"], "organiser", redirect_uri=CALLBACK
    )

    answer = await console.get(
        arrived.removeprefix(PUBLIC) + "&lang=en",
        headers=cookie_header(mine, "ilmo_console_sign_in"),
    )

    assert answer.status_code == 400
    assert "Signing in did not succeed" in answer.text
    assert "__Host-ilmo_console" not in set_cookies(answer)


async def test_the_return_address_is_only_ever_a_console_page(
    console: httpx.AsyncClient, identity: IdentityProvider
) -> None:
    callback, _session = await signed_in_as(console, identity, "viewer", "https://evil.example/")

    assert callback.headers["location"] == "/console"


async def test_a_sign_in_clears_sessions_that_expired_unseen(
    console: httpx.AsyncClient,
    identity: IdentityProvider,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    forgotten = await signed_in(mongo, infrastructure, Role.VIEWER, now=clock.now)
    clock.now += timedelta(minutes=31)

    await signed_in_as(console, identity, "viewer", "/console")

    sessions = mongo[infrastructure.database_name("registration")][SESSION_COLLECTION]
    assert await sessions.find_one({"_id": forgotten.digest}) is None

"""The development identity provider gives the tokens the services expect (interface of issue 15).

Against the real Hydra and login app that `make infra` starts: people sign in
through the login page's form, and every token is verified against the
issuer's JWKS here with joserfc directly, not with the code under test.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.browser import PageOpener, assert_accessible, screenshot
from tests.support.identity import (
    USERS,
    IdentityProvider,
    SignInRefused,
    authorization_request,
    expired_token,
    finish_sign_in,
    register_client,
    service_token,
    sign_in,
    unverified_claims,
)
from tests.support.pages import Page

REDIRECT_URI = "http://127.0.0.1:9/signed-in"
# Nothing listens there: the test reads the code from the browser's request (a port
# Chromium does not refuse to ask).
BROWSER_REDIRECT_URI = "http://127.0.0.1:65529/signed-in"


async def verified(identity: IdentityProvider, token: str) -> dict[str, object]:
    """The token's claims once its RS256 signature checks out against the issuer's JWKS."""
    async with httpx.AsyncClient(timeout=10) as http:
        discovery = (await http.get(f"{identity.issuer}.well-known/openid-configuration")).json()
        keys = KeySet.import_key_set((await http.get(discovery["jwks_uri"])).json())
    claims: dict[str, object] = jwt.decode(token, keys, algorithms=["RS256"]).claims
    return claims


@pytest.mark.parametrize("username", sorted(USERS))
async def test_a_person_signs_in_and_the_tokens_carry_their_role_and_name(
    identity: IdentityProvider, username: str
) -> None:
    client = await register_client(identity, redirect_uris=[REDIRECT_URI])

    tokens = await sign_in(identity, client, username, redirect_uri=REDIRECT_URI)

    access = await verified(identity, tokens.access_token)
    assert access["iss"] == identity.issuer
    assert access["sub"] == username
    assert access["client_id"] == client.client_id
    assert isinstance(access["aud"], list)
    assert "ilmo" in access["aud"]
    assert access["roles"] == [USERS[username].value]
    assert str(access["name"]).endswith("(development)")
    assert "ext" not in access  # the claims are at the top level only
    assert isinstance(access["exp"], int)
    assert access["exp"] > time.time()
    assert access == tokens.claims
    identification = await verified(identity, tokens.id_token)
    assert identification["aud"] == [client.client_id]
    assert identification["roles"] == [USERS[username].value]
    assert identification["name"] == access["name"]


async def test_a_wrong_password_is_refused_on_the_login_page(identity: IdentityProvider) -> None:
    client = await register_client(identity, redirect_uris=[REDIRECT_URI])

    with pytest.raises(SignInRefused) as refused:
        await sign_in(
            identity, client, "organiser", redirect_uri=REDIRECT_URI, password="not-the-password"
        )

    page = refused.value.page
    assert refused.value.status == 401
    assert "The username or password is wrong" in page.text
    password = next(attrs for tag, attrs in page.elements if attrs.get("name") == "password")
    assert password["aria-invalid"] == "true"
    error = page.by_id(password["aria-describedby"])
    assert error is not None
    assert error.get("role") == "alert"
    fields = page.forms[0].fields
    assert (fields["username"], fields["password"]) == ("organiser", "")  # the name is kept


async def test_an_unknown_sign_in_request_is_named_as_such(identity: IdentityProvider) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        discovery = (await http.get(f"{identity.issuer}.well-known/openid-configuration")).json()
        login = discovery["issuer"].replace(":4444/", ":4446/login")
        response = await http.get(login, params={"login_challenge": "no-such-challenge"})

    assert response.status_code == 404
    assert "unknown, has expired or was already used" in Page(response.text).text


async def test_a_service_token_names_the_client_and_no_roles(identity: IdentityProvider) -> None:
    client = await register_client(identity)

    claims = await verified(identity, await service_token(identity, client))

    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["aud"] == ["ilmo"]
    assert claims["iss"] == identity.issuer
    assert "roles" not in claims
    assert "name" not in claims


async def test_a_token_for_another_audience_does_not_carry_ilmo(
    identity: IdentityProvider,
) -> None:
    client = await register_client(
        identity, redirect_uris=[REDIRECT_URI], audience=["ilmo", "elsewhere"]
    )

    tokens = await sign_in(
        identity, client, "viewer", redirect_uri=REDIRECT_URI, audience="elsewhere"
    )
    service = await service_token(identity, client, audience="elsewhere")

    for token in (tokens.access_token, service):
        claims = await verified(identity, token)
        assert claims["aud"] == ["elsewhere"]


async def test_an_expired_token_is_real_and_past_its_expiry(identity: IdentityProvider) -> None:
    token = await expired_token(identity, "door")

    claims = unverified_claims(token)
    assert isinstance(claims["exp"], int)
    assert claims["exp"] < time.time()
    assert claims["roles"] == ["door"]
    assert await verified(identity, token) == claims  # signed by the provider all the same


@pytest.mark.parametrize("width", [390, 1280])
async def test_a_person_signs_in_in_a_browser_with_the_keyboard(
    identity: IdentityProvider, page_at: PageOpener, width: int
) -> None:
    client = await register_client(identity, redirect_uris=[BROWSER_REDIRECT_URI])
    request = authorization_request(identity, client, redirect_uri=BROWSER_REDIRECT_URI)
    page = await page_at(request.url, width=width, language="en")
    await assert_accessible(page, "the login page")
    await screenshot(page, f"dev-login-{width}")

    await page.get_by_label("Username").focus()
    await page.keyboard.type("operator")
    await page.keyboard.press("Tab")  # to the password, past the hint
    await page.keyboard.type("not-the-password")
    await page.keyboard.press("Enter")
    await page.get_by_role("alert").wait_for()
    assert "The username or password is wrong" in await page.get_by_role("alert").inner_text()
    await assert_accessible(page, "the login page with its error")
    await screenshot(page, f"dev-login-refused-{width}")

    await page.get_by_label("Password").focus()
    await page.keyboard.type(identity.password)
    async with page.expect_request(lambda sent: sent.url.startswith(BROWSER_REDIRECT_URI)) as sent:
        await page.keyboard.press("Enter")

    arrived = (await sent.value).url
    tokens = await finish_sign_in(
        identity, client, request, arrived, redirect_uri=BROWSER_REDIRECT_URI
    )
    assert tokens.claims["roles"] == ["operator"]


async def test_people_signing_in_at_once_all_get_their_tokens(identity: IdentityProvider) -> None:
    """Hydra's SQLite store fails concurrent requests; the gate in front of it queues them."""
    client = await register_client(identity, redirect_uris=[REDIRECT_URI])

    async def one(username: str) -> object:
        tokens = await sign_in(identity, client, username, redirect_uri=REDIRECT_URI)
        await service_token(identity, client)
        return tokens.claims["roles"]

    names = sorted(USERS) * 3
    roles = await asyncio.gather(*(one(name) for name in names))

    assert roles == [[USERS[name].value] for name in names]

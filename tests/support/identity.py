"""The development identity provider (Ory Hydra and its login app), driven as clients and people do.

``deploy/local/infra.sh up`` starts it (docs/operations.md, "The development
identity provider"); the ``identity`` fixture (tests/conftest.py) checks that
it answers and returns the ``IdentityProvider``. ``register_client`` adds an
OAuth client through Hydra's admin API, a new one per call, so that tests
never share or change one. ``sign_in`` is the whole authorization code flow
with PKCE over plain HTTP: Hydra, the login page's form filled in and sent
as a browser sends it, the consent, and the token endpoint. It is the proof
that signing in works; an in-process token signer is only for unit tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from ilmo_shared.access import Role
from tests.support.pages import Page
from tests.support.polling import eventually

REPO_ROOT = Path(__file__).parents[2]
DEFAULT_ISSUER = "http://127.0.0.1:4444/"
DEFAULT_ADMIN_URL = "http://127.0.0.1:4445"
# The development users (deploy/local/dev_login.py), one role each.
USERS: Mapping[str, Role] = {
    "organiser": Role.ORGANISER,
    "viewer": Role.VIEWER,
    "door": Role.DOOR,
    "operator": Role.OPERATOR,
}
_TIMEOUT = 15.0


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str  # with its trailing slash, exactly as tokens carry it in `iss`
    admin_url: str  # Hydra's admin API: clients, and the login app's challenges
    password: str  # every development user's password


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    claims: dict[str, object]  # the access token's, unverified: for assertions only


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where a client sends the browser to sign in, and what it keeps to finish."""

    url: str
    state: str
    verifier: str  # the PKCE code verifier


class SignInRefused(Exception):  # noqa: N818 (the login page's answer, not a fault)
    """The login page answered the form with a page, not a redirect: e.g. a wrong password."""

    def __init__(self, status: int, page: Page) -> None:
        super().__init__(f"the login page answered HTTP {status}: {page.text[:300]}")
        self.status = status
        self.page = page


def identity_provider() -> IdentityProvider:
    """The provider of ILMO_OIDC_TEST_ISSUER (default: the one infra.sh starts).

    The password is ILMO_DEV_PASSWORD, else the one infra.sh generated into
    .local/dev-password (ILMO_LOCAL_DIR moves .local); empty if neither.
    """
    local = Path(os.environ.get("ILMO_LOCAL_DIR") or REPO_ROOT / ".local")
    password = os.environ.get("ILMO_DEV_PASSWORD", "")
    password_file = local / "dev-password"
    if not password and password_file.is_file():
        password = password_file.read_text(encoding="utf-8").strip()
    issuer = os.environ.get("ILMO_OIDC_TEST_ISSUER", DEFAULT_ISSUER)
    return IdentityProvider(
        issuer=issuer if issuer.endswith("/") else f"{issuer}/",
        admin_url=os.environ.get("ILMO_OIDC_TEST_ADMIN_URL", DEFAULT_ADMIN_URL).rstrip("/"),
        password=password,
    )


def problem_with(provider: IdentityProvider) -> str | None:
    """Why tests cannot use the provider (it does not answer, no password), or None."""
    discovery = f"{provider.issuer}.well-known/openid-configuration"
    try:
        issuer = httpx.get(discovery, timeout=5).json().get("issuer")
        ready = httpx.get(f"{provider.admin_url}/health/ready", timeout=5).status_code
    except (httpx.HTTPError, ValueError) as error:
        return f"the identity provider does not answer ({error!r}); run `make infra`"
    if issuer != provider.issuer or ready != 200:
        return f"{discovery} names issuer {issuer!r} (admin API: HTTP {ready}); run `make infra`"
    if not provider.password:
        return "no development password: set ILMO_DEV_PASSWORD, or run `make infra`"
    return None


async def register_client(
    provider: IdentityProvider,
    *,
    redirect_uris: Sequence[str] = (),
    grant_types: Sequence[str] = ("authorization_code", "refresh_token", "client_credentials"),
    audience: Sequence[str] = ("ilmo",),
    access_token_lifespan: str | None = None,
    post_logout_redirect_uris: Sequence[str] = (),
) -> Client:
    """A new confidential client (``test-<uuid>``); ``access_token_lifespan`` e.g. "1s"."""
    client = Client(f"test-{uuid.uuid4().hex}", secrets.token_urlsafe(32))
    body: dict[str, object] = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "client_name": "Ilmo test client",
        "grant_types": list(grant_types),
        "response_types": ["code"],
        "scope": "openid offline_access offline profile",
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "audience": list(audience),
        "token_endpoint_auth_method": "client_secret_basic",
    }
    if access_token_lifespan is not None:
        for grant in ("authorization_code", "client_credentials", "refresh_token"):
            body[f"{grant}_grant_access_token_lifespan"] = access_token_lifespan
    async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
        response = await http.post(f"{provider.admin_url}/admin/clients", json=body)
    assert response.status_code == 201, f"creating a client: HTTP {response.status_code}"
    return client


async def sign_in(
    provider: IdentityProvider,
    client: Client,
    username: str,
    *,
    redirect_uri: str,
    audience: str = "ilmo",
    password: str | None = None,
) -> Tokens:
    """Sign ``username`` in through the login page; raises ``SignInRefused`` if it says no."""
    request = authorization_request(provider, client, redirect_uri=redirect_uri, audience=audience)
    async with httpx.AsyncClient(timeout=_TIMEOUT) as browser:
        response = await browser.get(request.url)
        login = await _browse(browser, response, redirect_uri)
        assert isinstance(login, httpx.Response), f"no login page on the way to {login}"
        response = await _submit_login(browser, login, username, password or provider.password)
        arrived = await _browse(browser, response, redirect_uri)
        if isinstance(arrived, httpx.Response):
            raise SignInRefused(arrived.status_code, Page(arrived.text))
    return await finish_sign_in(provider, client, request, arrived, redirect_uri=redirect_uri)


def authorization_request(
    provider: IdentityProvider, client: Client, *, redirect_uri: str, audience: str = "ilmo"
) -> AuthorizationRequest:
    """An authorization code request with PKCE (S256), a state and a nonce."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    parameters = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "audience": audience,
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
    }
    url = f"{provider.issuer}oauth2/auth?{urlencode(parameters)}"
    return AuthorizationRequest(url, state, verifier)


async def finish_sign_in(
    provider: IdentityProvider,
    client: Client,
    request: AuthorizationRequest,
    arrived: str,
    *,
    redirect_uri: str,
) -> Tokens:
    """The tokens for the code in ``arrived``, the redirect URI the browser was sent to."""
    query = parse_qs(urlsplit(arrived).query)
    assert query.get("state") == [request.state], f"the redirect's state does not match: {arrived}"
    assert "code" in query, f"no code in the redirect: {arrived}"
    answer = await _token(
        provider,
        client,
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": request.verifier,
        },
    )
    access_token = str(answer["access_token"])
    return Tokens(access_token, str(answer["id_token"]), unverified_claims(access_token))


async def service_token(
    provider: IdentityProvider, client: Client, *, audience: str = "ilmo"
) -> str:
    """An access token of the client itself (client credentials): ``sub`` is its client id."""
    answer = await _token(
        provider, client, {"grant_type": "client_credentials", "audience": audience}
    )
    return str(answer["access_token"])


async def expired_token(
    provider: IdentityProvider, username: str = "organiser", audience: str = "ilmo"
) -> str:
    """A real access token of ``username`` whose ``exp`` has passed (its client's lifespan: 1 s)."""
    redirect_uri = "http://127.0.0.1:9/signed-in"  # never followed: the code is read from Location
    client = await register_client(
        provider, redirect_uris=[redirect_uri], audience=[audience], access_token_lifespan="1s"
    )
    tokens = await sign_in(provider, client, username, redirect_uri=redirect_uri, audience=audience)
    expires = tokens.claims["exp"]
    assert isinstance(expires, int)

    async def expired() -> bool:
        return time.time() > expires

    await eventually(expired, what=f"the access token's exp ({expires}) to pass", timeout=10)
    return tokens.access_token


def _s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a verifier (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def unverified_claims(token: str) -> dict[str, object]:
    """A JWT's payload, not verified: for assertions about what the provider put there."""
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def _browse(
    browser: httpx.AsyncClient, response: httpx.Response, redirect_uri: str
) -> httpx.Response | str:
    """Follow redirects as a browser does, up to ``redirect_uri``: that address, or a page."""
    for _ in range(10):
        if not response.is_redirect:
            return response
        location = urljoin(str(response.url), response.headers["location"])
        if location.startswith(redirect_uri):
            return location
        response = await browser.get(location)
    raise AssertionError(f"more than 10 redirects, the last to {response.url}")


async def _submit_login(
    browser: httpx.AsyncClient, login: httpx.Response, username: str, password: str
) -> httpx.Response:
    """Fill in and send the login page's form, as a person does."""
    assert login.status_code == 200, f"login page: HTTP {login.status_code} at {login.url}"
    page = Page(login.text)
    assert page.forms, f"no form on the login page at {login.url}"
    form = page.forms[0]
    fields = {**form.fields, "username": username, "password": password}
    return await browser.request(
        form.method.upper(), urljoin(str(login.url), form.action), data=fields
    )


async def _token(
    provider: IdentityProvider, client: Client, form: dict[str, str]
) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
        response = await http.post(
            f"{provider.issuer}oauth2/token",
            data=form,
            auth=(client.client_id, client.client_secret),
        )
    assert response.status_code == 200, (
        f"token endpoint: HTTP {response.status_code} {response.text}"
    )
    answer: dict[str, object] = response.json()
    return answer


async def authorize(
    provider: IdentityProvider,
    authorization_url: str,
    username: str,
    *,
    redirect_uri: str,
    password: str | None = None,
) -> str:
    """Follow an application's own authorization URL through the login page, as a browser does.

    For a relying party under test (the console) that made the URL itself:
    the address it is sent back to (``redirect_uri`` with the code and state).
    """
    async with httpx.AsyncClient(timeout=_TIMEOUT) as browser:
        login = await _browse(browser, await browser.get(authorization_url), redirect_uri)
        assert isinstance(login, httpx.Response), f"no login page on the way to {login}"
        response = await _submit_login(browser, login, username, password or provider.password)
        arrived = await _browse(browser, response, redirect_uri)
    if isinstance(arrived, httpx.Response):
        raise SignInRefused(arrived.status_code, Page(arrived.text))
    return arrived

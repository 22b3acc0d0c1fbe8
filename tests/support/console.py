"""The console's sessions for in-process tests, made as the sign-in would leave them.

The proof that signing in works is the browser test through the real
identity provider (tests/e2e/test_console_in_browser.py); tests of what a
session allows start from a session document written here, with the same
shape ``ConsoleSessions.open`` writes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from http.cookies import SimpleCookie

import httpx
from playwright.async_api import Page
from pymongo import AsyncMongoClient

from ilmo_registration.console.session import COOKIE, SECURE_COOKIE, digest
from ilmo_registration.storage.console_sessions import SESSION_COLLECTION
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.identity import Client, IdentityProvider, authorize, register_client
from tests.support.infrastructure import IsolatedInfrastructure

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# The in-process service's public address, and where the provider sends people back to it.
PUBLIC = "https://ilmo.example.fi"
CALLBACK = f"{PUBLIC}/console/signed-in"
SIGNED_OUT = f"{PUBLIC}/console/signed-out"


@dataclass(frozen=True)
class SignedIn:
    """A browser's session: its cookie header and its CSRF token."""

    cookie: str
    csrf_token: str
    digest: str

    @property
    def headers(self) -> dict[str, str]:
        # The in-process service's public URL is https: its cookie is the __Host- one.
        return {"Cookie": f"{SECURE_COOKIE}={self.cookie}"}

    @property
    def plain_headers(self) -> dict[str, str]:
        """The cookie of a service on plain HTTP (the services as processes)."""
        return {"Cookie": f"{COOKIE}={self.cookie}"}


async def signed_in(
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    *roles: Role,
    now: datetime,
    subject: str | None = None,
) -> SignedIn:
    """A session of a person with ``roles``, created at ``now``."""
    value = secrets.token_urlsafe(32)
    token = secrets.token_urlsafe(32)
    subject = subject or f"person-{secrets.token_hex(4)}"
    collection = mongo[infrastructure.database_name("registration")][SESSION_COLLECTION]
    await collection.insert_one(
        {
            "_id": digest(value),
            "subject": subject,
            "name": "Testi Henkilö",
            "kind": "person",
            "roles": sorted(role.value for role in roles),
            "csrf_token": token,
            "id_token": None,
            "created_at": now,
            "seen_at": now,
        }
    )
    return SignedIn(value, token, digest(value))


def csrf_token_in(page: httpx.Response) -> str:
    """The CSRF token a console page's forms carry."""
    found = _CSRF.search(page.text)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def console_client(identity: IdentityProvider) -> tuple[Client, dict[str, str]]:
    """A new client of the console at the provider, and the service's settings for it.

    Where the provider sends people back is known once the service has a
    port: ``return_to`` says it then.
    """
    client = await register_client(identity)
    return client, {
        "ILMO_OIDC_ISSUER": identity.issuer,
        "ILMO_OIDC_CLIENT_ID": client.client_id,
        "ILMO_OIDC_CLIENT_SECRET": client.client_secret,
    }


async def return_to(identity: IdentityProvider, client: Client, url: str) -> None:
    """Let the provider send people back to the console at ``url`` (Hydra's admin API)."""
    patch = [
        {"op": "replace", "path": "/redirect_uris", "value": [f"{url}/console/signed-in"]},
        {
            "op": "replace",
            "path": "/post_logout_redirect_uris",
            "value": [f"{url}/console/signed-out"],
        },
    ]
    async with httpx.AsyncClient(timeout=15) as http:
        answer = await http.patch(
            f"{identity.admin_url}/admin/clients/{client.client_id}", json=patch
        )
    assert answer.status_code == 200, answer.text


async def sign_in_at_provider(page: Page, identity: IdentityProvider, username: str) -> None:
    """At the provider's login page: fill it in and send it, as a person does."""
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(identity.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each cookie the response sets, with its attributes."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def cookie_header(response: httpx.Response, name: str) -> dict[str, str]:
    return {"Cookie": f"{name}={set_cookies(response)[name][name].value}"}


async def signed_in_as(
    console: httpx.AsyncClient, identity: IdentityProvider, username: str, next_page: str
) -> tuple[httpx.Response, dict[str, str]]:
    """The in-process console's whole sign-in (its public address ``PUBLIC``), over HTTP.

    The console's redirect to the provider, the provider's login page filled
    in as ``username``, and the console's callback: that answer, and the
    session cookie's header. The client keeps no cookies of it: each request
    states whose session it carries.
    """
    console.cookies.clear()
    start = await console.get("/console/sign-in", params={"next": next_page})
    assert start.status_code == 303
    arrived = await authorize(identity, start.headers["location"], username, redirect_uri=CALLBACK)
    callback = await console.get(
        arrived.removeprefix(PUBLIC), headers=cookie_header(start, "ilmo_console_sign_in")
    )
    assert callback.status_code == 303, callback.text
    console.cookies.clear()
    return callback, cookie_header(callback, "__Host-ilmo_console")

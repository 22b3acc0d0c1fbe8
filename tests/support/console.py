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

import httpx
from pymongo import AsyncMongoClient

from ilmo_registration.console.session import COOKIE, SECURE_COOKIE, digest
from ilmo_registration.storage.console_sessions import SESSION_COLLECTION
from ilmo_shared.access import Role
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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

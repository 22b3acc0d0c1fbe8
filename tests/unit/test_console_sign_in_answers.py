"""What the console's callback makes of the provider's answers, with an in-process provider.

Only the checks: that signing in works at all is proved against the real
provider (tests/integration/test_console_sign_in.py, the browser test).
Here the provider's tokens are signed in-process (``tests.support.signer``)
and the sessions kept in memory, to reach the answers a development
provider never gives: a person with no role, a wrong nonce, an ID token
for another client, a token endpoint that fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from ilmo_registration.console.pages import refusal
from ilmo_registration.console.provider import Provider
from ilmo_registration.console.session import ConsoleAnswer, ConsoleSessions, SessionPolicy, answer
from ilmo_registration.console.sign_in import sign_in_router
from ilmo_registration.storage.console_sessions import ConsoleSessionStore
from ilmo_shared.identity import TokenVerifier
from ilmo_shared.storage import Document
from tests.support.signer import TestProvider

CLIENT = "ilmo-console"
PUBLIC = "http://console.test"


class MemoryStore(ConsoleSessionStore):
    """The sessions' store in a dict: these tests are about the answers, not the storage."""

    def __init__(self) -> None:
        self.kept: dict[str, Document] = {}
        self.attempts: dict[str, Document] = {}

    async def create(self, digest: str, session: Document) -> None:
        self.kept[digest] = session

    async def find(self, digest: str) -> Document | None:
        return self.kept.get(digest)

    async def delete_older(self, created_before: datetime, seen_before: datetime) -> int:
        return 0

    async def begin_sign_in(self, digest: str, sign_in: Document) -> None:
        self.attempts[digest] = sign_in

    async def delete_sign_ins_before(self, created_before: datetime) -> None:
        return None

    async def take_sign_in(self, digest: str) -> Document | None:
        return self.attempts.pop(digest, None)


class Answers:
    """The provider's endpoints: discovery, JWKS (the signer's) and a token endpoint."""

    def __init__(self, signer: TestProvider) -> None:
        self.signer = signer
        self.nonce = ""
        self.id_changes: dict[str, Any] = {}
        self.access_changes: dict[str, Any] = {}
        self.token_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        base = self.signer.issuer.rstrip("/")
        if str(request.url) == f"{base}/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": self.signer.issuer,
                    "jwks_uri": f"{base}/.well-known/jwks.json",
                    "authorization_endpoint": f"{base}/oauth2/auth",
                    "token_endpoint": f"{base}/oauth2/token",
                    "end_session_endpoint": f"{base}/oauth2/sessions/logout",
                },
            )
        if request.url.path == "/oauth2/token":
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_grant"})
            identity = self.signer.token(
                **{"aud": [CLIENT], "nonce": self.nonce, **self.id_changes}
            )
            access = self.signer.token(**self.access_changes)
            return httpx.Response(200, json={"access_token": access, "id_token": identity})
        return self.signer._answer(request)


def console(answers: Answers) -> tuple[httpx.AsyncClient, MemoryStore]:
    transport = httpx.MockTransport(answers)
    store = MemoryStore()
    sessions = ConsoleSessions(store, lambda: datetime.now(UTC), SessionPolicy(), refusal)
    provider = Provider(
        answers.signer.issuer, CLIENT, "secret", audience="ilmo", transport=transport
    )
    verifier = TokenVerifier(issuer=answers.signer.issuer, audience="ilmo", transport=transport)
    app = FastAPI()
    app.include_router(sign_in_router(sessions, provider, verifier, public_url=PUBLIC))
    app.add_exception_handler(ConsoleAnswer, answer)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)
    return client, store


async def come_back(client: httpx.AsyncClient, answers: Answers) -> httpx.Response:
    """Start signing in, and come back from the provider with a code for that attempt."""
    start = await client.get("/console/sign-in")
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    answers.nonce = asked["nonce"][0]
    return await client.get(
        "/console/signed-in",
        params={"code": "the-code", "state": asked["state"][0], "lang": "en"},
    )


async def test_a_person_with_a_role_gets_a_session() -> None:
    answers = Answers(TestProvider())
    client, store = console(answers)

    answer_ = await come_back(client, answers)

    assert answer_.status_code == 303
    [session] = store.kept.values()
    assert session["roles"] == ["organiser"]
    assert session["name"] == "Olli Organisoija"


async def test_a_person_with_no_role_is_told_so_and_gets_no_session() -> None:
    answers = Answers(TestProvider())
    answers.access_changes = {"roles": []}
    client, store = console(answers)

    page = await come_back(client, answers)

    assert page.status_code == 403
    assert "You have no role in Ilmo" in page.text
    assert store.kept == {}


async def test_an_id_token_with_another_nonce_makes_no_session() -> None:
    answers = Answers(TestProvider())
    answers.id_changes = {"nonce": "replayed"}
    client, store = console(answers)
    start = await client.get("/console/sign-in")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]

    page = await client.get(
        "/console/signed-in", params={"code": "c", "state": state, "lang": "en"}
    )

    assert page.status_code == 400
    assert "Signing in did not succeed" in page.text
    assert store.kept == {}


async def test_an_id_token_for_another_client_makes_no_session() -> None:
    answers = Answers(TestProvider())
    answers.id_changes = {"aud": ["someone-else"]}
    client, store = console(answers)

    page = await come_back(client, answers)

    assert page.status_code == 400
    assert store.kept == {}


async def test_an_access_token_of_another_person_makes_no_session() -> None:
    answers = Answers(TestProvider())
    answers.access_changes = {"sub": "person-2"}
    client, store = console(answers)

    page = await come_back(client, answers)

    assert page.status_code == 400
    assert store.kept == {}


async def test_a_failing_token_endpoint_is_a_page_not_an_error() -> None:
    answers = Answers(TestProvider())
    answers.token_status = 500
    client, store = console(answers)

    page = await come_back(client, answers)

    assert page.status_code == 502
    assert "The sign-in service did not answer" in page.text
    assert store.kept == {}

"""Continuing a console session from its timeout warning: ``POST /console/session/continue``.

The service in-process with a clock the test moves (no sleeping), signed in
through the real identity provider. Continuing restarts the idle time, so
a session used only by that button outlives its first idle end; it never
outlives the absolute end, which the page's warning then names. Without
the session's CSRF token, or signed out, continuing is refused.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from ilmo_registration.app import build_app
from tests.support.console import CALLBACK, PUBLIC, SIGNED_OUT, csrf_token_in, signed_in_as
from tests.support.identity import IdentityProvider, register_client
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import serving
from tests.support.registration import MovableClock, settings_for

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=2)
CONTINUE = "/console/session/continue"


@dataclass
class Console:
    client: httpx.AsyncClient
    clock: MovableClock
    identity: IdentityProvider

    async def sign_in(self) -> tuple[dict[str, str], str]:
        """A new organiser's session: its cookie header and CSRF token."""
        _callback, cookie = await signed_in_as(self.client, self.identity, "organiser", "/console")
        return cookie, csrf_token_in(await self.client.get("/console", headers=cookie))

    async def page(self, cookie: dict[str, str]) -> httpx.Response:
        return await self.client.get("/console", params={"lang": "en"}, headers=cookie)

    async def continue_(self, cookie: dict[str, str], csrf: str | None) -> httpx.Response:
        form = {"csrf_token": csrf} if csrf is not None else {}
        return await self.client.post(CONTINUE, params={"lang": "en"}, data=form, headers=cookie)


@pytest.fixture(scope="module")
async def console(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> AsyncIterator[Console]:
    at_provider = await register_client(
        identity, redirect_uris=(CALLBACK,), post_logout_redirect_uris=(SIGNED_OUT,)
    )
    settings = settings_for(
        infrastructure,
        oidc_issuer=identity.issuer,
        oidc_client_id=at_provider.client_id,
        oidc_client_secret=at_provider.client_secret,
        public_base_url=PUBLIC,
        console_idle_minutes=IDLE.total_seconds() / 60,
        console_session_hours=ABSOLUTE.total_seconds() / 3600,
    )
    clock = MovableClock()
    app = build_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with serving(app), httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield Console(client, clock, identity)


def _seconds(page: httpx.Response, name: str) -> int:
    found = re.search(rf'data-{name}-seconds="(\d+)"', page.text)
    assert found is not None, f"no data-{name}-seconds on the page"
    return int(found.group(1))


def _to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith(
        "/console/sign-in?next="
    )


async def test_continuing_restarts_the_idle_time(console: Console) -> None:
    cookie, csrf = await console.sign_in()
    started = console.clock.now
    try:
        # Sooner than an ordinary request records a use (30 s): continuing always does.
        console.clock.now = started + timedelta(seconds=20)
        answer = await console.continue_(cookie, csrf)
        assert answer.status_code == 204
        assert answer.content == b""

        console.clock.now = started + IDLE + timedelta(seconds=10)  # past the first idle end
        page = await console.page(cookie)
    finally:
        console.clock.now = started

    assert page.status_code == 200
    assert _seconds(page, "idle") == IDLE.total_seconds()  # the page is a use too
    assert "Continue session" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_continuing_never_passes_the_absolute_end(console: Console) -> None:
    cookie, csrf = await console.sign_in()
    started = console.clock.now
    try:
        for minutes in (25, 50, 75, 100, 118):
            console.clock.now = started + timedelta(minutes=minutes)
            assert (await console.continue_(cookie, csrf)).status_code == 204
        page = await console.page(cookie)  # at 118 minutes: 2 left, whatever is continued

        console.clock.now = started + ABSOLUTE + timedelta(seconds=1)
        late = await console.continue_(cookie, csrf)
        after = await console.page(cookie)
    finally:
        console.clock.now = started

    assert _seconds(page, "idle") == _seconds(page, "absolute") == 120
    assert "Your session ends at" in page.text
    assert _to_sign_in(late), late.status_code
    assert _to_sign_in(after), after.status_code


async def test_continuing_without_the_sessions_csrf_token_is_refused(console: Console) -> None:
    cookie, _csrf = await console.sign_in()

    for token in (None, "forged-token"):
        answer = await console.continue_(cookie, token)
        assert answer.status_code == 403, token
        assert "Your form could not be checked" in answer.text


async def test_continuing_signed_out_is_sent_to_sign_in(console: Console) -> None:
    cookie, csrf = await console.sign_in()
    signed_out = await console.client.post(
        "/console/sign-out", data={"csrf_token": csrf}, headers=cookie
    )
    assert signed_out.status_code == 303

    assert _to_sign_in(await console.continue_(cookie, csrf))
    assert _to_sign_in(await console.continue_({}, csrf))

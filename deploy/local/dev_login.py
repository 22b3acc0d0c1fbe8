"""The development identity provider's sign-in pages: login, consent and logout for Ory Hydra.

Hydra (started by ``deploy/local/infra.sh``) speaks OpenID Connect but has
no users and no pages of its own: it sends the browser here with a
challenge, and this app accepts the challenge through Hydra's admin API.
It stands in, on a developer's machine and in the tests, for the ministry's
identity provider; it is never deployed (docs/security.md).

- ``/login``: a form for one of four development users, one role each
  (``USERS``), all with one shared password (``ILMO_DEV_PASSWORD``, or the
  file ``--password-file`` names, which infra.sh generates once).
- ``/consent``: accepted at once, as a first-party client's would be: it
  grants the requested scopes and audience and puts the user's ``roles``
  and ``name`` into the access token and the ID token.
- ``/logout``: accepted at once.

Why a script here and not a package: it is local tooling like the mail
sink, run with the workspace's Python (Starlette, Jinja2 and httpx are
already there), and nothing in the services imports it. Run directly::

    uv run --frozen python deploy/local/dev_login.py --port 4446 \\
        --admin-url http://127.0.0.1:4445 --password-file .local/dev-password
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ilmo_shared.access import Role

log = logging.getLogger("dev-login")


@dataclass(frozen=True)
class DevelopmentUser:
    """A person of the development provider: the subject is the username."""

    username: str
    role: Role
    name: str


USERS: dict[str, DevelopmentUser] = {
    user.username: user
    for user in (
        DevelopmentUser("organiser", Role.ORGANISER, "Olli Organiser (development)"),
        DevelopmentUser("viewer", Role.VIEWER, "Veera Viewer (development)"),
        DevelopmentUser("door", Role.DOOR, "Dani Door (development)"),
        DevelopmentUser("operator", Role.OPERATOR, "Outi Operator (development)"),
    )
}


def authenticate(username: str, password: str, expected: str) -> DevelopmentUser | None:
    """The user these credentials name, or None; the same answer for a wrong name or password."""
    user = USERS.get(username.strip())
    matches = hmac.compare_digest(password.encode(), expected.encode())
    return user if user is not None and matches else None


def session_claims(user: DevelopmentUser) -> dict[str, object]:
    """The claims Hydra adds to both tokens (top level: hydra.yml allows exactly these)."""
    return {"roles": [user.role.value], "name": user.name}


# ---------------------------------------------------------------- Hydra's admin API


class UnknownChallenge(Exception):  # noqa: N818 (Hydra's answer, not a fault)
    """Hydra does not know the challenge, or it has expired or been used."""


class HydraAdmin:
    """The few admin API calls of a login and consent app (Hydra v2 paths)."""

    def __init__(self, admin_url: str) -> None:
        self._http = httpx.AsyncClient(base_url=admin_url.rstrip("/"), timeout=10.0)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, flow: str, challenge: str) -> dict[str, Any]:
        """The pending login, consent or logout request of a challenge."""
        response = await self._http.get(
            f"/admin/oauth2/auth/requests/{flow}", params={f"{flow}_challenge": challenge}
        )
        return self._answer(response)

    async def accept(self, flow: str, challenge: str, body: dict[str, Any]) -> str:
        """Accept a request; Hydra answers where the browser goes next."""
        response = await self._http.put(
            f"/admin/oauth2/auth/requests/{flow}/accept",
            params={f"{flow}_challenge": challenge},
            json=body,
        )
        return str(self._answer(response)["redirect_to"])

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (400, 404, 410):
            raise UnknownChallenge(response.text[:200])
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


# ---------------------------------------------------------------- pages

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% if error %}Error: {% endif %}{{ title }} - Ilmo development sign-in</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 0 1rem; color: #1a1a1a;
  background: #f4f4f4; line-height: 1.5; }
main { max-width: 28rem; margin: 2rem auto; padding: 1.5rem; background: #fff;
  border: 1px solid #767676; }
h1 { font-size: 1.5rem; margin-top: 0; }
label { display: block; font-weight: 600; margin-top: 1rem; }
input, button { font: inherit; }
input { display: block; width: 100%; box-sizing: border-box; padding: .5rem;
  border: 1px solid #595959; }
button { margin-top: 1.5rem; padding: .6rem 1.2rem; color: #fff;
  background: #0b4f8a; border: 0; cursor: pointer; }
:focus-visible { outline: 3px solid #0b4f8a; outline-offset: 2px; }
.error { color: #a4001d; font-weight: 600; }
.note { font-size: .9rem; color: #3d3d3d; }
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

_LOGIN = """{% extends "page.html" %}
{% block content %}
<p class="note">Development stand-in for the identity provider. Never use it in production.
<span lang="fi">Kehityskäyttöön, ei tuotantoon.</span>
<span lang="sv">För utveckling, inte för produktion.</span></p>
<form method="post" action="/login" novalidate>
<input type="hidden" name="login_challenge" value="{{ challenge }}">
{% if error %}<p id="sign-in-error" class="error" role="alert">{{ error }}</p>{% endif %}
<label for="username">Username · <span lang="fi">Käyttäjätunnus</span> ·
<span lang="sv">Användarnamn</span></label>
<input id="username" name="username" type="text" autocomplete="username" required
 value="{{ username }}" aria-describedby="users{% if error %} sign-in-error{% endif %}"
 {% if error %}aria-invalid="true"{% endif %}>
<p id="users" class="note">One of: {{ users | join(", ") }}.</p>
<label for="password">Password · <span lang="fi">Salasana</span> ·
<span lang="sv">Lösenord</span></label>
<input id="password" name="password" type="password" autocomplete="current-password" required
 {% if error %}aria-invalid="true" aria-describedby="sign-in-error"{% endif %}>
<p class="note">The password is ILMO_DEV_PASSWORD, or the one in .local/dev-password.</p>
<button type="submit">Sign in · <span lang="fi">Kirjaudu</span> ·
<span lang="sv">Logga in</span></button>
</form>
{% endblock %}
"""

_PROBLEM = """{% extends "page.html" %}
{% block content %}
<p class="error">{{ message }}</p>
<p>Start again from the console: <a href="http://127.0.0.1:8081/console">Ilmo console</a>.</p>
{% endblock %}
"""

_TEMPLATES = Environment(
    loader=DictLoader({"page.html": _PAGE, "login.html": _LOGIN, "problem.html": _PROBLEM}),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
UNKNOWN_CHALLENGE = (
    "This sign-in request is unknown, has expired or was already used. "
    "Please start signing in again."
)
WRONG_CREDENTIALS = "The username or password is wrong. Check both and try again."


def _render(name: str, status: int = 200, **values: object) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(name).render(**values), status_code=status)


def _login_form(challenge: str, *, username: str = "", error: str = "") -> HTMLResponse:
    return _render(
        "login.html",
        401 if error else 200,
        title="Sign in",
        challenge=challenge,
        username=username,
        error=error,
        users=list(USERS),
    )


def _unknown_challenge() -> HTMLResponse:
    return _render(
        "problem.html", 404, title="Sign-in request not found", message=UNKNOWN_CHALLENGE
    )


def create_app(admin_url: str, password: str) -> Starlette:
    """The login, consent and logout endpoints that hydra.yml names."""
    hydra = HydraAdmin(admin_url)

    async def login_page(request: Request) -> Response:
        challenge = request.query_params.get("login_challenge", "")
        try:
            pending = await hydra.request("login", challenge)
            if pending.get("skip"):
                # Hydra already knows who this is (a remembered session).
                return _redirect(await _accept_login(challenge, str(pending["subject"])))
        except UnknownChallenge:
            return _unknown_challenge()
        return _login_form(challenge)

    async def login_submit(request: Request) -> Response:
        form = await _form(request)
        challenge = form.get("login_challenge", "")
        username = form.get("username", "")
        user = authenticate(username, form.get("password", ""), password)
        try:
            await hydra.request("login", challenge)
            if user is None:
                log.info("login refused")
                return _login_form(challenge, username=username, error=WRONG_CREDENTIALS)
            return _redirect(await _accept_login(challenge, user.username))
        except UnknownChallenge:
            return _unknown_challenge()

    async def _accept_login(challenge: str, subject: str) -> str:
        return await hydra.accept("login", challenge, {"subject": subject, "remember": False})

    async def consent(request: Request) -> Response:
        challenge = request.query_params.get("consent_challenge", "")
        try:
            pending = await hydra.request("consent", challenge)
            user = USERS.get(str(pending.get("subject", "")))
            if user is None:
                return _render(
                    "problem.html", 403, title="Unknown user", message="No such development user."
                )
            claims = session_claims(user)
            body = {
                "grant_scope": pending.get("requested_scope") or [],
                "grant_access_token_audience": pending.get("requested_access_token_audience") or [],
                "remember": False,
                "session": {"access_token": claims, "id_token": claims},
            }
            return _redirect(await hydra.accept("consent", challenge, body))
        except UnknownChallenge:
            return _unknown_challenge()

    async def logout(request: Request) -> Response:
        challenge = request.query_params.get("logout_challenge", "")
        try:
            return _redirect(await hydra.accept("logout", challenge, {}))
        except UnknownChallenge:
            return _unknown_challenge()

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_submit, methods=["POST"]),
            Route("/consent", consent, methods=["GET"]),
            Route("/logout", logout, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=_closing(hydra),
    )


def _closing(hydra: HydraAdmin) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the admin API's connections at shutdown."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await hydra.close()

    return lifespan


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (Starlette's own parser needs python-multipart)."""
    fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _password(password_file: Path | None) -> str:
    """ILMO_DEV_PASSWORD if set, else the first line of the password file."""
    from_environment = os.environ.get("ILMO_DEV_PASSWORD", "")
    if from_environment:
        return from_environment
    if password_file is None:
        sys.exit("dev-login: set ILMO_DEV_PASSWORD or pass --password-file")
    return password_file.read_text(encoding="utf-8").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4446)
    parser.add_argument("--admin-url", default="http://127.0.0.1:4445")
    parser.add_argument("--password-file", type=Path)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(arguments.admin_url, _password(arguments.password_file))
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="warning")


if __name__ == "__main__":
    main()

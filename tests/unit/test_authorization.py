"""The one check of every protected route: 401 and 403 as problem details, in one's language."""

# No ``from __future__ import annotations``: FastAPI reads the routes' signatures,
# whose dependencies refer to a closure.

from typing import Annotated

import httpx
from fastapi import FastAPI

from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import PROBLEM_JSON, install_problem_handlers
from ilmo_shared.identity import Authorization, TokenVerifier, guarded_routes, name_permissions
from tests.support.signer import AUDIENCE, TestProvider

PROVIDER = TestProvider()


def _app() -> FastAPI:
    authorization = Authorization(
        TokenVerifier(issuer=PROVIDER.issuer, audience=AUDIENCE, transport=PROVIDER.transport())
    )
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def change(
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
    ) -> dict[str, str]:
        return {"by": principal.subject}

    @app.get("/things")
    async def read(
        caller: Annotated[Principal | None, authorization.optional()],
    ) -> dict[str, str | None]:
        return {"caller": caller.subject if caller else None}

    name_permissions(app)
    return app


async def _call(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, headers=headers)


def _bearer(roles: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {PROVIDER.token(roles=roles)}"}


async def test_no_token_is_401_with_a_bearer_challenge_in_the_callers_language() -> None:
    answer = await _call("POST", "/things", {"Accept-Language": "fi"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["www-authenticate"] == 'Bearer realm="ilmo"'
    assert answer.json()["type"] == "/problems/unauthorized"
    assert answer.json()["title"] == "Tunnistautuminen vaaditaan"


async def test_a_bad_token_is_401_invalid_token_and_never_echoed() -> None:
    token = PROVIDER.token(aud=["elsewhere"])
    answer = await _call("POST", "/things", {"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="ilmo", error="invalid_token"'
    assert token not in answer.text
    assert answer.json()["detail"] == "The bearer token is invalid or has expired."


async def test_a_role_without_the_permission_is_403_and_with_it_passes() -> None:
    refused = await _call("POST", "/things", {**_bearer(["viewer"]), "Accept-Language": "sv"})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"
    assert refused.json()["title"] == "Ingen behörighet"
    assert "www-authenticate" not in refused.headers
    allowed = await _call("POST", "/things", _bearer(["organiser"]))
    assert allowed.json() == {"by": "person-1"}


async def test_optional_reads_the_caller_when_there_is_one() -> None:
    assert (await _call("GET", "/things", {})).json() == {"caller": None}
    assert (await _call("GET", "/things", _bearer(["door"]))).json() == {"caller": "person-1"}
    bad = await _call("GET", "/things", {"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_routes_tell_their_permission_and_the_document_names_it() -> None:
    app = _app()
    routes = {(route.method, route.path): route for route in guarded_routes(app)}
    assert routes[("POST", "/things")].permission is Permission.CHANGE_EVENTS
    assert routes[("GET", "/things")].optional
    described = app.openapi()["paths"]["/things"]["post"]["description"]
    assert "`change-events`" in described
    assert "`organiser`" in described
    assert app.openapi()["components"]["securitySchemes"]["bearer"]["bearerFormat"] == "JWT"

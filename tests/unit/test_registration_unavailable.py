"""While the database cannot be reached, the API answers 503 with Retry-After, never 500."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from ilmo_shared.http.problems import ProblemRoute, install_problem_handlers


def app_failing_with(error: Exception) -> FastAPI:
    app = FastAPI()
    router = APIRouter(route_class=ProblemRoute)

    @router.post("/store")
    async def store() -> None:
        raise error

    app.include_router(router)
    install_problem_handlers(app)
    return app


async def call(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/store")


async def test_an_unreachable_database_is_a_503_with_retry_after() -> None:
    for error in (ServerSelectionTimeoutError("no servers"), AutoReconnect("connection reset")):
        response = await call(app_failing_with(error))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "/problems/unavailable"


async def test_other_surprises_stay_a_500_problem_without_details() -> None:
    response = await call(app_failing_with(KeyError("asa@example.fi")))
    assert response.status_code == 500
    assert "asa@example.fi" not in response.text
    assert response.json()["type"] == "/problems/internal-error"

"""Correlation ids: Ilmo's own for every request; a client's is logged beside it, never used."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from structlog.testing import capture_logs

from ilmo_shared.http.correlation import CorrelationIdMiddleware
from ilmo_shared.logging import current_correlation_id


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/id")
    async def seen() -> dict[str, str | None]:
        return {"correlation_id": current_correlation_id()}

    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ilmo.test") as client:
        return await client.get("/id", headers=headers)


async def test_a_client_id_is_logged_beside_ilmo_s_own_which_is_used_and_answered() -> None:
    with capture_logs() as logs:
        response = await _get({"X-Correlation-ID": "client-abc-123"})

    ours = response.json()["correlation_id"]
    assert ours is not None
    assert ours != "client-abc-123"
    assert response.headers["X-Correlation-ID"] == ours
    [pair] = [entry for entry in logs if entry["event"] == "client_correlation_id"]
    assert pair["client_correlation_id"] == "client-abc-123"
    assert pair["correlation_id"] == ours


async def test_every_request_gets_a_new_id_and_unusable_client_ids_are_not_logged() -> None:
    with capture_logs() as logs:
        first = await _get({})
        second = await _get({"X-Correlation-ID": "x" * 101})

    assert first.headers["X-Correlation-ID"] != second.headers["X-Correlation-ID"]
    assert not [entry for entry in logs if entry["event"] == "client_correlation_id"]

"""The body cap (413 problem details, or the page) and the security headers on answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ilmo_shared.http.body_limit import BodyLimitMiddleware
from ilmo_shared.http.problems import PROBLEM_JSON, PageErrors, install_problem_handlers
from ilmo_shared.http.security_headers import SecurityHeadersMiddleware, docs_paths
from ilmo_shared.runtime import server_config
from ilmo_shared.settings import ServiceSettings

LIMIT = 100
PAGE_CSP = "default-src 'none'; style-src 'sha256-abc'"


def _page(status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(
        f"<p>error {status}</p>",
        status_code=status,
        headers={"Content-Security-Policy": PAGE_CSP, **(headers or {})},
    )


def _app(*, hsts_max_age: int | None = None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, PageErrors(("/page/",), render=_page))
    app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT, pages=app.state.page_errors)
    app.add_middleware(
        SecurityHeadersMiddleware, no_csp_paths=docs_paths(app), hsts_max_age=hsts_max_age
    )
    app.state.bodies = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        app.state.bodies.append(body)
        return {"length": len(body)}

    @app.post("/page/form")
    async def form(request: Request) -> HTMLResponse:
        body = b"".join([chunk async for chunk in request.stream()])
        return _page(200) if body else _page(400)

    @app.get("/cached")
    async def cached() -> JSONResponse:
        return JSONResponse({}, headers={"Cache-Control": "public, max-age=60"})

    return app


class Chunks:
    """A chunked body that counts how many of its chunks were taken."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = sizes
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for size in self.sizes:
            self.taken += 1
            yield b"x" * size


async def _post(
    app: FastAPI, path: str, content: bytes | Chunks, headers: dict[str, str] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ilmo.test") as client:
        return await client.post(path, content=content, headers=headers)


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "/problems/content-too-large",
        "title": "Content Too Large",
        "status": 413,
        "detail": f"The request body is larger than {LIMIT} bytes.",
    }


async def test_a_body_exactly_at_the_limit_or_under_it_is_read() -> None:
    app = _app()

    at = await _post(app, "/echo", b"x" * LIMIT)
    under = await _post(app, "/echo", b"x" * 3)
    chunked_at = await _post(app, "/echo", Chunks(40, 40, 20))

    assert [at.json(), under.json(), chunked_at.json()] == [
        {"length": LIMIT},
        {"length": 3},
        {"length": LIMIT},
    ]


async def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read() -> None:
    app = _app()
    body = Chunks(LIMIT + 1)

    response = await _post(app, "/echo", body, {"Content-Length": str(LIMIT + 1)})

    _assert_too_large(response)
    assert body.taken == 0
    assert app.state.bodies == []


async def test_a_chunked_body_growing_past_the_limit_is_refused_at_the_chunk_that_crosses() -> None:
    app = _app()
    body = Chunks(60, 60, 60, 60)

    response = await _post(app, "/echo", body)

    _assert_too_large(response)
    assert body.taken == 2
    assert app.state.bodies == []


async def test_a_page_gets_its_own_413_page() -> None:
    declared = await _post(_app(), "/page/form", b"x" * (LIMIT + 1))
    chunked = await _post(_app(), "/page/form", Chunks(60, 60))

    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.text == "<p>error 413</p>"
        assert response.headers["content-security-policy"] == PAGE_CSP


async def test_json_answers_carry_the_security_headers_and_no_hsts_unless_configured() -> None:
    response = await _post(_app(), "/echo", b"{}")

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers
    # Errors, the 413 included, carry them too.
    refused = await _post(_app(), "/echo", b"x" * (LIMIT + 1))
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_hsts_is_sent_when_configured() -> None:
    response = await _post(_app(hsts_max_age=31536000), "/echo", b"{}")

    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_a_response_s_own_headers_are_kept_and_the_docs_get_no_csp() -> None:
    app = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ilmo.test") as client:
        cached = await client.get("/cached")
        page = await client.post("/page/form", content=b"token=x")
        docs = await client.get("/docs")

    assert cached.headers.get_list("cache-control") == ["public, max-age=60"]
    assert page.headers.get_list("content-security-policy") == [PAGE_CSP]
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"
    assert docs.headers["x-content-type-options"] == "nosniff"


def test_the_server_runs_h11_with_the_limits_from_the_settings(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ILMO_HTTP_LIMIT_CONCURRENCY", "7")
    monkeypatch.setenv("ILMO_HTTP_KEEP_ALIVE_SECONDS", "61")
    monkeypatch.setenv("ILMO_HTTP_MAX_HEADER_BYTES", "8192")

    config = server_config(FastAPI(), ServiceSettings())

    assert config.http == "h11"
    assert config.limit_concurrency == 7
    assert config.timeout_keep_alive == 61
    assert config.h11_max_incomplete_event_size == 8192
    defaults = ServiceSettings.model_fields
    assert defaults["max_body_bytes"].default == 1024 * 1024
    assert defaults["hsts_max_age"].default == 0

"""A 405 names in ``Allow`` every method its address has, pages and JSON API alike.

Starlette's router names only the methods of the first route whose path
matched; one address is often served by several routes (a registration's GET
and DELETE are two functions), and RFC 9110 wants them all.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse

from ilmo_shared.http.problems import PageErrors, install_problem_handlers


def _page(status: int, headers: Mapping[str, str] | None = None) -> Response:
    return HTMLResponse(f"<p>{status}</p>", status_code=status, headers=headers)


def _app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_problem_handlers(app, PageErrors(("/pages/",), render=_page))
    things = APIRouter(prefix="/api/things")

    @things.get("/{thing_id}")
    async def show(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @things.delete("/{thing_id}")
    async def remove(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @things.patch("/{thing_id}")
    async def change(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    pages = APIRouter(prefix="/pages")

    @pages.get("/{page}", response_class=HTMLResponse)
    async def page(page: str) -> str:
        return page

    @pages.post("/{page}", response_class=HTMLResponse)
    async def send(page: str) -> str:
        return page

    app.include_router(things)
    app.include_router(pages)
    return app


async def _ask(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ilmo.test") as client:
        return await client.request(method, path)


@pytest.mark.parametrize("method", ["PUT", "POST", "OPTIONS", "TRACE"])
async def test_the_json_api_names_every_method_of_the_address(method: str) -> None:
    response = await _ask(method, "/api/things/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/method-not-allowed"


async def test_a_page_names_them_too() -> None:
    response = await _ask("DELETE", "/pages/about")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"].startswith("text/html")

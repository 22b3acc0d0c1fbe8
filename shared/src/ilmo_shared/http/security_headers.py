"""Security headers on every answer that does not set its own.

The JSON API's answers are data, never documents to render, frame or
cache, so each gets:

- ``X-Content-Type-Options: nosniff``: a browser never guesses JSON to be HTML;
- ``Cache-Control: no-store``: answers may carry personal data (a
  registration, a seat count per person), and nothing in between keeps them;
  a route that may be cached sets its own ``Cache-Control``;
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'``:
  should a browser render an answer anyway, nothing loads or runs, and no
  page frames it;
- ``X-Frame-Options: DENY``: the same refusal to be framed for browsers that
  predate ``frame-ancestors``, and the only one on ``/docs``;
- ``Referrer-Policy: no-referrer``: an address never leaves in a ``Referer``;
- ``Strict-Transport-Security`` only when configured (``ILMO_HSTS_MAX_AGE``):
  a local run is plain HTTP, and HSTS belongs to whoever terminates TLS.

A header is added only where the response has none of that name, so the
HTML pages under ``/manage/`` and ``/watch/`` keep their own, stricter or
looser where they must be (their CSP allows their one style). The
interactive docs (``/docs``, ``/redoc``) get no CSP: Swagger UI and ReDoc
load their scripts and styles from a CDN and run an inline script, which
``default-src 'none'`` would block.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "Content-Security-Policy"
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    CSP: "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeadersMiddleware:
    """Adds ``API_HEADERS`` (and HSTS when ``hsts_max_age`` is set) where a response lacks them.

    ``no_csp_paths`` are served without the CSP (the interactive docs).
    """

    def __init__(
        self, app: ASGIApp, no_csp_paths: Iterable[str] = (), hsts_max_age: int | None = None
    ) -> None:
        self.app = app
        self.no_csp_paths = frozenset(no_csp_paths)
        self.headers = dict(API_HEADERS)
        if hsts_max_age:
            self.headers["Strict-Transport-Security"] = f"max-age={hsts_max_age}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        add = self.headers
        if scope.get("path") in self.no_csp_paths:
            add = {name: value for name, value in add.items() if name != CSP}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in add.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def docs_paths(app: FastAPI) -> tuple[str, ...]:
    """The addresses of ``app``'s interactive docs, which run scripts from a CDN."""
    return tuple(
        path for path in (app.docs_url, app.swagger_ui_oauth2_redirect_url, app.redoc_url) if path
    )

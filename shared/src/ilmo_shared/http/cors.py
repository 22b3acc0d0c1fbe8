"""Web clients on other sites may call the JSON API: CORS for the origins an operator allows.

A browser lets a page on ``https://app.example.fi`` read an answer from Ilmo
only when Ilmo names that origin in ``Access-Control-Allow-Origin``; before
a request with a JSON body or an ``Authorization`` header it asks first
(a preflight ``OPTIONS``). The origins come from a setting
(``ILMO_CORS_ALLOWED_ORIGINS``), none by default, so nothing changes for a
service until an operator names a client's site.

Only the JSON API (``/api/``) is shared this way: the pages for people
(``/manage/``, ``/confirm/``) are for the browser that opened them, never
for another site's script. No credentials are shared either: the API's
callers present a bearer token, never a cookie, so ``Access-Control-Allow-
Credentials`` is never sent, and a foreign origin gets no CORS headers at
all (the browser then keeps the answer from its script).

Starlette's ``CORSMiddleware`` does the protocol; this module says what the
API needs: its methods, the request headers clients send (``Content-Type``,
``Accept-Language`` for the language of problem details, ``Authorization``,
``X-Correlation-ID``, and ``Idempotency-Key``, which makes a registration
safe to retry), and the answer headers they may read (``Location``
of a new registration, ``Retry-After`` of a 429 or 503, ``Content-Language``
and ``X-Correlation-ID``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

API_PATHS = ("/api/",)
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = (
    "Content-Type",
    "Accept-Language",
    "Authorization",
    "X-Correlation-ID",
    "Idempotency-Key",
)
EXPOSED_HEADERS = ("Location", "Retry-After", "Content-Language", "X-Correlation-ID")
# How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
PREFLIGHT_MAX_AGE_SECONDS = 600

_ORIGIN = re.compile(r"^https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$")


def origin(value: str) -> str:
    """``value`` as browsers send it in ``Origin``: ``scheme://host[:port]``, lower case.

    ValueError for anything else (a path, a trailing slash, a wildcard), so
    that a typo in the setting stops the service rather than silently
    allowing nothing.
    """
    normal = value.strip().lower()
    if not _ORIGIN.fullmatch(normal):
        raise ValueError(
            f"{value!r} is not an origin: scheme://host[:port], http or https, without a path "
            "(e.g. https://app.example.fi)"
        )
    return normal


class CrossOriginApi:
    """CORS under ``paths`` for ``origins``; every other request passes by untouched."""

    def __init__(
        self, app: ASGIApp, origins: Iterable[str], paths: tuple[str, ...] = API_PATHS
    ) -> None:
        self.app = app
        self.paths = paths
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.paths):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

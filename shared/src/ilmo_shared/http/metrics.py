"""Requests and their durations per route, for the traffic, error and latency alerts.

``ilmo_http_requests_total{handler,method,status}`` and
``ilmo_http_request_duration_seconds{handler,method}`` on the public
listener. ``handler`` is the path template of the route that answered
(``/api/v1/events/{event_id}/registrations``), never the path itself: ids in
paths would make one series per event or registration. A request no route
matched counts as ``handler="unmatched"``, so that scanners probing random
paths cannot grow the series either. ``status`` is the class (``2xx`` ..
``5xx``): the alerts need ratios of classes, not single codes.

A plain ASGI middleware rather than prometheus-fastapi-instrumentator: that
library's metric names and labels are its own (``http_requests_total`` with
``handler``/``status`` codes), and the agreed names are Ilmo's. Starlette's
router writes the matched route into the request's scope, which this
middleware reads once the answer is sent.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
# The methods a route may have; anything else is counted as OTHER (clients
# may send any token as a method).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "ilmo_http_requests_total",
    "HTTP requests answered on the public listener, by route template, method and status class.",
    ["handler", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "ilmo_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ["handler", "method"],
    # From a cached page (5 ms) to a request that ran into a timeout (10 s).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def status_class(status: int) -> str:
    """``2xx`` for 200..299 and so on; a status outside 100..599 counts as ``5xx``."""
    if 100 <= status <= 599:
        return f"{status // 100}xx"
    return "5xx"


def handler_of(scope: Scope) -> str:
    """The path template of the route that matched (a mount's prefix), or ``unmatched``."""
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            return path
    return UNMATCHED


def method_of(scope: Scope) -> str:
    method = str(scope.get("method", "")).upper()
    return method if method in KNOWN_METHODS else "OTHER"


class HttpMetricsMiddleware:
    """Counts and times every HTTP request of the app it wraps (the outermost middleware).

    An exception that escapes the app counts as ``5xx``: Starlette's error
    middleware, outside this one, answers it with 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        except BaseException:
            status = 500
            raise
        finally:
            handler, method = handler_of(scope), method_of(scope)
            HTTP_REQUESTS.labels(handler, method, status_class(status)).inc()
            HTTP_REQUEST_SECONDS.labels(handler, method).observe(time.perf_counter() - started)

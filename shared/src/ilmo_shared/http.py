"""HTTP plumbing every service shares: health, metrics, correlation ids, problem details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilmo_shared.logging import correlation_scope

CORRELATION_HEADER = "X-Correlation-ID"
PROBLEM_JSON = "application/problem+json"


class ReadinessReport(Protocol):
    """Whether the service does its work now, and what ``/health/ready`` says about it."""

    @property
    def ready(self) -> bool: ...

    def body(self) -> dict[str, object]: ...


def health_router(readiness: Callable[[], ReadinessReport]) -> APIRouter:
    """``/health/live`` (the process answers) and ``/health/ready`` (it does its work).

    Readiness is read from state a background watch keeps, never probed
    inside the request: a probe of a server that is down would take seconds,
    longer than a load balancer's or kubelet's probe waits.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        report = readiness()
        return JSONResponse(report.body(), status_code=200 if report.ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class CorrelationIdMiddleware:
    """Binds the request's correlation id (or a new one) for logs and the events it causes.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, so
    the request is not copied through an extra task and stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_HEADER)
        if incoming is not None and not (0 < len(incoming) <= 100 and incoming.isprintable()):
            incoming = None
        with correlation_scope(incoming) as correlation_id:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                await send(message)

            await self.app(scope, receive, send_with_id)


def problem(
    status: int,
    title: str,
    *,
    type_: str = "about:blank",
    detail: str | None = None,
    **extra: object,
) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body: dict[str, object] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_common(app: FastAPI, readiness: Callable[[], ReadinessReport]) -> None:
    """Add health, metrics and correlation ids to a service's FastAPI app."""
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(health_router(readiness))

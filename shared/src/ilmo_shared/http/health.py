"""``/health/live``, ``/health/ready`` and ``/metrics``, which every service answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ilmo_shared.http.correlation import CorrelationIdMiddleware


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


def install_common(app: FastAPI, readiness: Callable[[], ReadinessReport]) -> None:
    """Add health, metrics and correlation ids to a service's FastAPI app."""
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(health_router(readiness))

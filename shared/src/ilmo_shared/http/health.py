"""``/health/live`` and ``/health/ready``, which every service answers on both its listeners.

Health is on the public listener and on the operations listener alike
(``ilmo_shared.listeners``). A load balancer or ingress checks the listener
it sends traffic to, and it is not meant to reach the operations address at
all; monitoring and probes that live beside the service read the operations
one. Both answer from the same state, so they never disagree, and neither
tells more than a phase and ``ok``/``failing`` per dependency: no address,
no version, no count. ``/metrics`` is on the operations listener only
(``ilmo_shared.http.operations``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse


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

    return router

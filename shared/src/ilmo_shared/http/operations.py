"""The operations listener's app: what operators and monitoring read, apart from the public.

Every service process serves two HTTP listeners (``ilmo_shared.listeners``):
the public one (its JSON API and pages) and this one, on an address of its
own (``ILMO_OPERATIONS_HOST``/``ILMO_OPERATIONS_PORT``) that an ingress never
routes to (docs/operations.md). Here are:

- ``/metrics``: Prometheus. Counters by event and outcome tell how busy an
  event is and how many registrations fail, which is not for the public;
- ``/docs``, ``/redoc`` and ``/openapi.json``: the *public* API's document
  and its interactive docs, for integrators' and operators' eyes, not as a
  map of the public listener for anyone who finds it;
- ``/operations/openapi.json``: this listener's own routes (seat counts,
  mail summaries, stream link counts), which the public document leaves out;
- ``/health/live`` and ``/health/ready``: see ``ilmo_shared.http.health``
  for why they are on both listeners;
- each service's operator routes (``ServiceParts.operator_routers``).

Everything but health needs a bearer token (``ilmo_shared.identity``):
metrics, docs and the OpenAPI documents the ``operate`` permission (the
operator role; Prometheus scrapes with a token of its own), the operator
routes ``read-counts`` (operators, organisers, viewers and Ilmo's service
clients, for the console's dashboard). Health stays open for the probes.
The address still keeps all of it off the public network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ilmo_shared.access import Permission
from ilmo_shared.http.health import ReadinessReport, health_router
from ilmo_shared.http.problems import install_problem_handlers, problem_responses
from ilmo_shared.identity import Authorization

PUBLIC_OPENAPI = "/openapi.json"
PUBLIC_DOCS = "/docs"
PUBLIC_DOCS_OAUTH2_REDIRECT = "/docs/oauth2-redirect"
PUBLIC_REDOC = "/redoc"
OPERATIONS_OPENAPI = "/operations/openapi.json"
METRICS = "/metrics"
# Where the public listener answers 404 because these moved here.
MOVED_FROM_PUBLIC = (METRICS, PUBLIC_OPENAPI, PUBLIC_DOCS, PUBLIC_REDOC)
# Served without a CSP: Swagger UI and ReDoc load scripts from a CDN.
DOCS_PATHS = (PUBLIC_DOCS, PUBLIC_DOCS_OAUTH2_REDIRECT, PUBLIC_REDOC)


def metrics_router(authorization: Authorization) -> APIRouter:
    """``/metrics``: every Prometheus metric of the process, in the text format."""
    router = APIRouter(dependencies=[authorization.requires(Permission.OPERATE)])

    @router.get(METRICS, include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def public_docs_router(public: FastAPI, authorization: Authorization) -> APIRouter:
    """The public app's OpenAPI document and its Swagger UI and ReDoc pages.

    The document is the public app's own (``public.openapi()``), generated
    once and kept by it, so it describes exactly the routes the public
    listener serves.
    """
    router = APIRouter(
        include_in_schema=False, dependencies=[authorization.requires(Permission.OPERATE)]
    )
    title = public.title

    @router.get(PUBLIC_OPENAPI)
    async def openapi() -> JSONResponse:
        return JSONResponse(public.openapi())

    @router.get(PUBLIC_DOCS)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=PUBLIC_OPENAPI,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=PUBLIC_DOCS_OAUTH2_REDIRECT,
        )

    @router.get(PUBLIC_DOCS_OAUTH2_REDIRECT)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(PUBLIC_REDOC)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=PUBLIC_OPENAPI, title=f"{title} - ReDoc")

    return router


def create_operations_app(
    public: FastAPI,
    readiness: Callable[[], ReadinessReport],
    authorization: Authorization,
    routers: Sequence[APIRouter] = (),
    **app_options: Any,
) -> FastAPI:
    """The operations listener's app for the service whose public app is ``public``.

    It has no lifespan of its own: it shares the public app's (the service's
    ``Lifecycle``), which the process runs once for both listeners. Its
    errors are problem details like the public API's. The middleware both
    apps share (body cap, security headers, correlation ids) is added by
    ``ilmo_shared.runtime``; ``app_options`` go to ``FastAPI``.
    """
    app = FastAPI(
        title=f"{public.title} operations",
        version=public.version,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        **app_options,
    )
    install_problem_handlers(app)
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(authorization))
    app.include_router(public_docs_router(public, authorization))
    app.include_router(operations_document_router(app, authorization))
    # Every operator route reads counts, never people: one permission for all of them.
    counts = authorization.requires(Permission.READ_COUNTS)
    for router in routers:
        app.include_router(router, dependencies=[counts], responses=problem_responses(401, 403))
    return app


def operations_document_router(operations: FastAPI, authorization: Authorization) -> APIRouter:
    """``/operations/openapi.json``: this listener's own document, behind the same permission."""
    router = APIRouter(
        include_in_schema=False, dependencies=[authorization.requires(Permission.OPERATE)]
    )

    @router.get(OPERATIONS_OPENAPI)
    async def openapi() -> JSONResponse:
        return JSONResponse(operations.openapi())

    return router

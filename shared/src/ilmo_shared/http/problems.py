"""Every error of every service as RFC 9457 problem details, naming the fields at fault.

Routes raise ``Problem``; FastAPI's own validation errors and HTTP exceptions
(unknown path, wrong method) are turned into the same shape here, and an
unexpected exception becomes a bare 500 problem: never a stack trace. The
``type`` of each problem is a relative URI under ``/problems/``, the one
scheme of all services.

Pages for people (a service's ``PageErrors``) are outside the JSON API's
contract: their errors are short HTML pages the service renders, never
problem details, and never a stack trace either.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEMS = "/problems/"
RETRY_AFTER_SECONDS = 5


class FieldFault(Protocol):
    """A rule an input breaks: the JSON path of the field at fault and why."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class PageErrors:
    """Where a service serves HTML pages for people, and how it renders their error pages.

    ``render(status, headers)`` answers a request under one of ``prefixes``
    that failed; it must not tell more than the status (a wrong link and an
    unknown id get the same page).
    """

    prefixes: tuple[str, ...]
    render: Callable[[int, Mapping[str, str] | None], Response]

    def serves(self, request: Request) -> bool:
        return request.url.path.startswith(self.prefixes)


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


class FieldError(BaseModel):
    field: str = Field(
        examples=["email"], description="JSON path of the field, e.g. agenda.0.ends_at"
    )
    message: str = Field(examples=["value is not a valid email address"])


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error response of this service is shaped."""

    type: str = Field(examples=["/problems/validation"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="For 422: each field at fault and why."
    )


class Problem(Exception):  # noqa: N818 (named after RFC 9457)
    """An error answered as problem details with ``type`` ``/problems/<slug>``."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        extra: dict[str, object] = {}
        if self.errors:
            extra["errors"] = [error.model_dump() for error in self.errors]
        response = problem(
            self.status, self.title, type_=PROBLEMS + self.slug, detail=self.detail, **extra
        )
        response.headers.update(self.headers)
        return response


def not_found() -> Problem:
    return Problem(404, "not-found", "Not found")


def unauthorized() -> Problem:
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "A valid bearer token is required.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid(violations: Iterable[FieldFault]) -> Problem:
    """A 422 naming each field at fault and why."""
    return Problem(
        422,
        "validation",
        "Invalid request",
        "One or more fields are invalid.",
        errors=[FieldError(field=v.field, message=v.message) for v in violations],
    )


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors as ``{field, message}``, without echoing the input back."""
    found: list[FieldError] = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] == "body":
            location = location[1:]
        field = ".".join(location) or "body"
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "field required"
        elif kind == "json_invalid":
            field, message = "body", "body is not valid JSON"
        elif field == "body" and kind in ("model_attributes_type", "dict_type"):
            message = "body must be a JSON object (Content-Type: application/json)"
        else:
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        found.append(FieldError(field=field, message=message))
    return found


def validation_failed(errors: Sequence[Any]) -> Problem:
    """A 422 naming every field pydantic refused."""
    return invalid(field_errors(errors))


def _page_errors(request: Request) -> PageErrors | None:
    pages: PageErrors | None = getattr(request.app.state, "page_errors", None)
    return pages if pages is not None and pages.serves(request) else None


async def _validation_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    pages = _page_errors(request)
    if pages is not None:
        return pages.render(404, None)
    return validation_failed(error.errors()).response()


_HTTP_SLUGS = {
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "content-too-large",
    415: "unsupported-media-type",
}
# RFC 9110's name; Python before 3.13 still says "Request Entity Too Large".
_HTTP_TITLES = {413: "Content Too Large"}


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    pages = _page_errors(request)
    if pages is not None:
        return pages.render(status, error.headers)
    detail = error.detail if isinstance(error.detail, str) else None
    return http_problem(status, detail, error.headers).response()


def http_problem(
    status: int, detail: str | None = None, headers: Mapping[str, str] | None = None
) -> Problem:
    """The problem for an HTTP-level error (unknown path, wrong method, body too large)."""
    title = _HTTP_TITLES.get(status) or (
        HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    )
    return Problem(
        status,
        _HTTP_SLUGS.get(status, "http-error"),
        title,
        detail if detail != title else None,
        headers=headers,
    )


async def _problem(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return error.response()


async def _unexpected(request: Request, error: Exception) -> Response:
    return _failure(request, error)


def _failure(request: Request, error: Exception) -> Response:
    """A 503 with ``Retry-After`` while storage is unreachable; any other surprise is a 500.

    Nothing is accepted that could not be stored: the write failed, so the
    client is told to come back rather than that something broke for good.
    A page for people gets the same statuses as an HTML page.
    """
    _log_failure(request, error)
    unavailable = isinstance(error, ConnectionFailure)
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    pages = _page_errors(request)
    if pages is not None:
        return pages.render(503, retry) if unavailable else pages.render(500, None)
    if unavailable:
        return Problem(
            503,
            "unavailable",
            "Service temporarily unavailable",
            "The service cannot reach its storage right now; nothing was saved. Try again shortly.",
            headers=retry,
        ).response()
    return Problem(500, "internal-error", "Internal server error").response()


def _log_failure(request: Request, error: BaseException) -> None:
    """Log where a request failed, without the exception's message.

    Messages can carry input (a pydantic error quotes the value it refused,
    a database error the key it found twice), and input here is personal
    data; the type and the frames say where to look.
    """
    frames = traceback.extract_tb(error.__traceback__)
    log.error(
        "request_failed",
        method=request.method,
        route=_route(request),
        error_type=type(error).__qualname__,
        frames=[f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-8:]],
    )


class ProblemRoute(APIRoute):
    """A route whose unexpected failures become a 500 problem right there.

    Handled inside the route (and so inside the correlation id's scope), an
    unexpected exception is logged once, without its message, and never
    reaches the server, which would log it again with its message. Pages
    for people use the same route class and get HTML error pages instead.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handle(request)
            except (Problem, StarletteHTTPException, RequestValidationError):
                raise
            except Exception as error:
                return _failure(request, error)

        return guarded


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


def install_problem_handlers(app: FastAPI, pages: PageErrors | None = None) -> None:
    """Make every error of ``app`` a problem-details response, and document the shape.

    Requests under ``pages.prefixes`` get the service's HTML error pages instead.
    """
    app.state.page_errors = pages
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_problem_schema(app, pages.prefixes if pages is not None else ())


_DESCRIPTIONS = {
    401: "Missing or wrong bearer token (`/problems/unauthorized`).",
    404: "Not found (`/problems/not-found`).",
    422: "Invalid input; `errors` names each field at fault (`/problems/validation`).",
}


def problem_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for problem-details answers.

    ``described`` gives a description for a status written as ``_409="…"``.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    texts = {int(key.removeprefix("_")): text for key, text in described.items()}
    for status in sorted({*statuses, *texts}):
        responses[status] = {
            "description": texts.get(status)
            or _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
    return responses


def _document_problem_schema(app: FastAPI, page_prefixes: tuple[str, ...]) -> None:
    """Add ``ProblemDetails`` to the OpenAPI components that ``problem_responses`` refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = ProblemDetails.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.update(problem_schema.pop("$defs", {}))
        components["ProblemDetails"] = problem_schema
        # FastAPI documents its own 422 shape wherever a route takes input;
        # the handler above answers with problem details instead. Pages never
        # answer 422 (a page's wrong input gets its 404 page).
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if "422" in responses and page_prefixes and path.startswith(page_prefixes):
                    del responses["422"]
                elif "422" in responses:
                    responses["422"] = problem_responses(422)[422]
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

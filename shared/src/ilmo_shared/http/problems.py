"""Every error of every service as RFC 9457 problem details, naming the fields at fault.

Routes raise ``Problem``; FastAPI's own validation errors and HTTP exceptions
(unknown path, wrong method) are turned into the same shape here, and an
unexpected exception becomes a bare 500 problem: never a stack trace. The
``type`` of each problem is a relative URI under ``/problems/``, the one
scheme of all services.

``title``, ``detail`` and Ilmo's own per-field messages follow the request's
``Accept-Language`` (Finnish, Swedish or English), answered with
``Content-Language``; ``type``, ``status`` and field names never change. A
request that names none of the three, or no language at all, is answered in
English: API consumers are developers, and English is what they search for
(``api_language``). The texts are English message ids marked with ``_()``,
translated at response time from the catalogue of the package that defines
the problem (``catalogue``), then from this package's own.

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
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field, PrivateAttr
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ilmo_event_contracts import Language
from ilmo_shared.i18n import _, negotiate, translations

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEMS = "/problems/"
RETRY_AFTER_SECONDS = 5
# The catalogue of the texts defined here; a service's problems name their own.
SHARED_CATALOGUE = "ilmo_shared"
# The language of a problem when the request asks for none of fi, sv and en.
API_DEFAULT_LANGUAGE = Language.EN


def api_language(accept_language: str | None) -> Language:
    """The language of a JSON API answer: fi, sv or en as asked, otherwise English.

    People read pages, which default to Finnish; problem details are read
    by the developers of clients first, and shown to people only by a client
    that asks for their language.
    """
    return negotiate(accept_language, default=API_DEFAULT_LANGUAGE)


def localized(
    catalogue: str, language: Language, message: str, values: Mapping[str, object] | None = None
) -> str:
    """``message`` in ``language`` from ``catalogue`` or the shared one; English if neither has it.

    Values (``%(name)s``) are filled in after translation, so a translation
    may put them where its grammar wants them.
    """
    text = message
    for name in dict.fromkeys((catalogue, SHARED_CATALOGUE)):
        found = translations(name, language).gettext(message)
        if found != message:
            text = found
            break
    return text % values if values else text


class FieldFault(Protocol):
    """A rule an input breaks: the JSON path of the field at fault and why.

    ``message`` is an English message id; one with ``%(name)s`` placeholders
    may carry a ``values`` mapping attribute to fill them in.
    """

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
    # The English message id and its values, when ``message`` was filled in from them.
    _source: str | None = PrivateAttr(default=None)
    _values: dict[str, object] = PrivateAttr(default_factory=dict)

    @classmethod
    def of(cls, field: str, message: str, values: Mapping[str, object] | None = None) -> FieldError:
        """The error with ``message`` in English, able to say it in another language."""
        error = cls(field=field, message=message % values if values else message)
        error._source, error._values = message, dict(values or {})
        return error

    def in_language(self, catalogue: str, language: Language) -> FieldError:
        """This error with its message in ``language``, where it is one of Ilmo's own texts.

        Messages that are not (pydantic's own) stay in English.
        """
        source = self._source or self.message
        return FieldError(
            field=self.field, message=localized(catalogue, language, source, self._values)
        )


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
        values: Mapping[str, object] | None = None,
        catalogue: str = SHARED_CATALOGUE,
    ) -> None:
        """``title`` and ``detail`` are English message ids of ``catalogue`` (marked ``_()``);
        ``values`` fill the detail's ``%(name)s`` placeholders. ``detail`` is the English text.
        """
        super().__init__(title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail_source = detail
        self.values = dict(values or {})
        self.detail = detail % self.values if detail is not None and self.values else detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.catalogue = catalogue

    def response(self, language: Language = API_DEFAULT_LANGUAGE) -> JSONResponse:
        """The problem in ``language``, saying so in ``Content-Language``."""
        extra: dict[str, object] = {}
        if self.errors:
            extra["errors"] = [
                error.in_language(self.catalogue, language).model_dump() for error in self.errors
            ]
        source, values = self.detail_source, self.values
        detail = None if source is None else localized(self.catalogue, language, source, values)
        response = problem(
            self.status,
            localized(self.catalogue, language, self.title),
            type_=PROBLEMS + self.slug,
            detail=detail,
            **extra,
        )
        response.headers.update(self.headers)
        response.headers["Content-Language"] = language.value
        response.headers.add_vary_header("Accept-Language")
        return response


def not_found() -> Problem:
    return Problem(404, "not-found", _("Not found"))


def unauthorized() -> Problem:
    return Problem(
        401,
        "unauthorized",
        _("Unauthorized"),
        _("A valid bearer token is required."),
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid(violations: Iterable[FieldFault], catalogue: str = SHARED_CATALOGUE) -> Problem:
    """A 422 naming each field at fault and why (``catalogue``: where their messages are)."""
    return Problem(
        422,
        "validation",
        _("Invalid request"),
        _("One or more fields are invalid."),
        errors=[FieldError.of(v.field, v.message, getattr(v, "values", None)) for v in violations],
        catalogue=catalogue,
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
            message = _("unknown field")
        elif kind == "missing":
            message = _("field required")
        elif kind == "json_invalid":
            field, message = "body", _("body is not valid JSON")
        elif field == "body" and kind in ("model_attributes_type", "dict_type"):
            message = _("body must be a JSON object (Content-Type: application/json)")
        else:
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        found.append(FieldError(field=field, message=message))
    return found


def validation_failed(errors: Sequence[Any], catalogue: str = SHARED_CATALOGUE) -> Problem:
    """A 422 naming every field pydantic refused.

    Messages of Ilmo's own validators are found in ``catalogue`` (the service's).
    """
    return invalid(field_errors(errors), catalogue)


def request_language(request: Request) -> Language:
    """The language a problem answering ``request`` is written in (``api_language``)."""
    return api_language(request.headers.get("accept-language"))


def _catalogue(request: Request) -> str:
    """The catalogue of the service that answers ``request`` (``install_problem_handlers``)."""
    return str(getattr(request.app.state, "problem_catalogue", SHARED_CATALOGUE))


def _page_errors(request: Request) -> PageErrors | None:
    pages: PageErrors | None = getattr(request.app.state, "page_errors", None)
    return pages if pages is not None and pages.serves(request) else None


async def _validation_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    pages = _page_errors(request)
    if pages is not None:
        return pages.render(404, None)
    problem_ = validation_failed(error.errors(), _catalogue(request))
    return problem_.response(request_language(request))


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "content-too-large",
    415: "unsupported-media-type",
}
# The titles of the HTTP-level errors the services answer, to be translated;
# 413 is RFC 9110's name (Python before 3.13 still says "Request Entity Too Large").
_HTTP_TITLES = {
    400: _("Bad Request"),
    401: _("Unauthorized"),
    403: _("Forbidden"),
    404: _("Not Found"),
    405: _("Method Not Allowed"),
    406: _("Not Acceptable"),
    413: _("Content Too Large"),
    415: _("Unsupported Media Type"),
}


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    headers = dict(error.headers or {})
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    pages = _page_errors(request)
    if pages is not None:
        return pages.render(status, headers)
    detail = error.detail if isinstance(error.detail, str) else None
    # An exception of Ilmo's own (``ContentTooLarge``) carries its detail's message id.
    source = getattr(error, "message", detail)
    values = getattr(error, "values", None)
    answer = http_problem(status, source, headers, values=values)
    return answer.response(request_language(request))


def allowed_methods(request: Request) -> str:
    """The ``Allow`` of a 405: every method some route of the app serves at the request's path.

    Starlette's router names only the methods of the first route whose path
    matched, but a path is often served by several routes (GET and DELETE of
    one registration are two functions), and RFC 9110 wants all of them: a
    client, or a generated one, learns from it what it may do there.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _child = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def http_problem(
    status: int,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    values: Mapping[str, object] | None = None,
) -> Problem:
    """The problem for an HTTP-level error (unknown path, wrong method, body too large)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    title = _HTTP_TITLES.get(status) or phrase
    return Problem(
        status,
        _HTTP_SLUGS.get(status, "http-error"),
        title,
        detail if detail not in (title, phrase) else None,
        headers=headers,
        values=values,
    )


async def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return error.response(request_language(request))


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
    language = request_language(request)
    if unavailable:
        return Problem(
            503,
            "unavailable",
            _("Service temporarily unavailable"),
            _(
                "The service cannot reach its storage right now; nothing was saved. "
                "Try again shortly."
            ),
            headers=retry,
        ).response(language)
    return Problem(500, "internal-error", _("Internal server error")).response(language)


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


def install_problem_handlers(
    app: FastAPI, pages: PageErrors | None = None, catalogue: str = SHARED_CATALOGUE
) -> None:
    """Make every error of ``app`` a problem-details response, and document the shape.

    Requests under ``pages.prefixes`` get the service's HTML error pages instead.
    ``catalogue`` is the service's package, whose catalogue translates the
    messages of its own validators.
    """
    app.state.page_errors = pages
    app.state.problem_catalogue = catalogue
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_problem_schema(app, pages.prefixes if pages is not None else ())


_DESCRIPTIONS = {
    400: "The body could not be read as JSON text (`/problems/bad-request`).",
    401: "No valid bearer token: missing, invalid or expired (`/problems/unauthorized`).",
    403: "The token's roles do not permit this (`/problems/forbidden`).",
    404: "Not found (`/problems/not-found`).",
    413: "The body is larger than the service takes (`/problems/content-too-large`).",
    422: "Invalid input; `errors` names each field at fault (`/problems/validation`).",
    503: "The service cannot reach its storage; nothing was saved. `Retry-After` gives the "
    "seconds to wait (`/problems/unavailable`).",
}
# Where a service's JSON API is: its answers are problem details, never pages.
API_PREFIX = "/api/"


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
                if path.startswith(API_PREFIX):
                    _document_plumbing_answers(operation)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_plumbing_answers(operation: dict[str, Any]) -> None:
    """Add to a JSON API operation the problems the shared plumbing answers, not its route.

    Whatever a route declares, a body that is not JSON text (bytes that do
    not decode: FastAPI's 400) or past the cap (``BodyLimitMiddleware``'s
    413) is refused before the route runs, and storage out of reach is a 503
    (``_failure``). A generated client then has a type for each of them.
    """
    statuses = (400, 413, 503) if "requestBody" in operation else (503,)
    responses = operation.setdefault("responses", {})
    for status, answer in problem_responses(*statuses).items():
        responses.setdefault(str(status), answer)
    responses["503"]["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer"},
        }
    }

"""The console's sessions: a cookie for the browser, a document on the server.

A session is made by the sign-in (``console.sign_in``) once the provider
has vouched for the person: its cookie (``ilmo_console``) holds 32 random
bytes, the database only their SHA-256 (``storage.console_sessions``). The
cookie is ``HttpOnly`` and ``SameSite=Lax`` (the provider's answer is a
cross-site top-level GET that must carry the sign-in cookie; every change
is a POST, which Lax keeps from other sites). Its path is ``/console``;
behind HTTPS it is ``Secure`` and named ``__Host-ilmo_console``, a prefix
that the browser only accepts with ``Path=/`` and no ``Domain``, so there
it is sent for the whole host, which no other application shares.

A session ends after ``console_idle_minutes`` without a request or
``console_session_hours`` after sign-in, whichever comes first; a session
past either is refused and deleted. Signing out deletes it at once. Each
session found carries the seconds it has left (``timeout.TimeLeft``), which
the pages give their timeout warning; ``extend`` (``POST
/console/session/continue``) restarts the idle time, never the absolute one.

Every console form carries the session's CSRF token (``csrf_token``); the
dependency ``requires`` checks it on every POST before the route runs, so
no route can forget it, and reads the form for the route
(``submitted_form``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from ilmo_registration.console.timeout import TimeLeft, session_ends, time_left
from ilmo_registration.forms import form_fields
from ilmo_registration.storage.console_sessions import ConsoleSessionStore
from ilmo_shared.access import Kind, Permission, Principal, Role
from ilmo_shared.storage import Document

COOKIE = "ilmo_console"
SECURE_COOKIE = "__Host-ilmo_console"
PATH = "/console"
CSRF_FIELD = "csrf_token"
# The event form is the largest: every field of an event in three languages.
MAX_FORM_BYTES = 512 * 1024
MAX_FORM_FIELDS = 4000
# A cookie value is 43 characters; anything much longer is not one of ours.
_MAX_COOKIE = 128
# A session's last use is written at most this often: reading pages is not a write each.
_TOUCH_EVERY = timedelta(seconds=30)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_ROLE_NAMES = frozenset(role.value for role in Role)


class ConsoleAnswer(HTTPException):
    """A finished answer from a console dependency: a redirect to sign in, a refusal page.

    An ``HTTPException`` so that every route class passes it on; the app's
    handler for it (``answer``) sends ``response`` as it is.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer(_request: Request, error: Exception) -> Response:
    """The exception handler for ``ConsoleAnswer`` (installed in ``app.build_app``)."""
    assert isinstance(error, ConsoleAnswer)
    return error.response


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts, and whether its cookie needs HTTPS."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=10)
    secure: bool = False
    # How long before the end the pages warn (``console_timeout_warning_seconds``).
    warn_before: timedelta = timedelta(minutes=2)

    @property
    def cookie(self) -> str:
        return SECURE_COOKIE if self.secure else COOKIE

    @property
    def path(self) -> str:
        return "/" if self.secure else PATH


@dataclass(frozen=True)
class ConsoleSession:
    """One signed-in browser: who, its CSRF token, the provider's ID token for logout.

    ``time_left``: how long it lasts from the request that found it (None
    for one just opened, whose page is a redirect).
    """

    principal: Principal
    csrf_token: str
    id_token: str | None = None
    time_left: TimeLeft | None = None


# The refusal pages, rendered by ``console.pages`` (set there, to keep this module free of them).
Refusals = Callable[[Request, str], Response]


def digest(value: str) -> str:
    """What the database keeps of a cookie's value."""
    return hashlib.sha256(value.encode()).hexdigest()


def cookie_value(request: Request, name: str) -> str | None:
    value = request.cookies.get(name)
    if value is None or not value.isascii() or not 0 < len(value) <= _MAX_COOKIE:
        return None
    return value


class ConsoleSessions:
    """Opens, finds and closes sessions; ``requires`` is every console route's guard."""

    def __init__(
        self,
        store: ConsoleSessionStore,
        clock: Callable[[], datetime],
        policy: SessionPolicy,
        refuse: Refusals,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.refuse = refuse

    async def open(
        self, response: Response, principal: Principal, id_token: str | None = None
    ) -> ConsoleSession:
        """Start a session for ``principal`` and give ``response`` its cookie."""
        value = secrets.token_urlsafe(32)
        now = self.clock()
        session = ConsoleSession(principal, secrets.token_urlsafe(32), id_token)
        # Sessions nobody presented again since they expired go now; the database keeps no pile.
        await self.store.delete_older(now - self.policy.absolute, now - self.policy.idle)
        await self.store.create(digest(value), _document(session, now))
        response.set_cookie(
            self.policy.cookie,
            value,
            path=self.policy.path,
            httponly=True,
            samesite="lax",
            secure=self.policy.secure,
        )
        return session

    async def current(self, request: Request) -> ConsoleSession | None:
        """The request's session if it has one in force; an expired one is deleted."""
        value = cookie_value(request, self.policy.cookie)
        if value is None:
            return None
        key = digest(value)
        document = await self.store.find(key)
        if document is None:
            return None
        now = self.clock()
        if self._expired(document, now):
            await self.store.delete(key)
            return None
        seen = aware(document["seen_at"])
        if now - seen >= _TOUCH_EVERY:
            await self.store.touch(key, now)
            seen = now
        return _session(document, self._time_left(aware(document["created_at"]), seen, now))

    async def extend(self, request: Request) -> None:
        """Restart the idle time of the request's session now (a person chose to continue).

        Not limited to once in ``_TOUCH_EVERY``: the warning's promise is the
        whole idle time from the press of the button. The absolute end stays.
        """
        value = cookie_value(request, self.policy.cookie)
        if value is not None:
            await self.store.touch(digest(value), self.clock())

    def _time_left(self, created: datetime, seen: datetime, now: datetime) -> TimeLeft:
        ends = session_ends(created, seen, self.policy.idle, self.policy.absolute)
        return time_left(ends, now, self.policy.idle, self.policy.warn_before)

    async def close(self, request: Request, response: Response) -> None:
        """Delete the request's session, and its cookie in the browser."""
        value = cookie_value(request, self.policy.cookie)
        if value is not None:
            await self.store.delete(digest(value))
        response.delete_cookie(
            self.policy.cookie,
            path=self.policy.path,
            httponly=True,
            samesite="lax",
            secure=self.policy.secure,
        )

    def _expired(self, document: Document, now: datetime) -> bool:
        created, seen = aware(document["created_at"]), aware(document["seen_at"])
        return now - created >= self.policy.absolute or now - seen >= self.policy.idle

    async def session_of(self, request: Request) -> ConsoleSession:
        """The request's session (CSRF checked on a POST); else a ``ConsoleAnswer``."""
        session = await self.current(request)
        if session is None:
            raise ConsoleAnswer(_to_sign_in(request))
        request.state.console_session = session
        if request.method not in _SAFE_METHODS:
            fields = await form_fields(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
            if fields is None or not _same(fields.get(CSRF_FIELD), session.csrf_token):
                raise ConsoleAnswer(self.refuse(request, "form"))
            request.state.console_form = fields
        return session

    def signed_in(self) -> Any:
        """A dependency: the session (CSRF checked on a POST), or a redirect to sign in."""
        return Depends(self.session_of)

    def requires(self, permission: Permission) -> Any:
        """A dependency giving the signed-in ``Principal`` that may do ``permission``.

        Not signed in: 303 to ``/console/sign-in?next=<this page>``. Signed
        in without the permission: a 403 page. A POST whose CSRF token is
        not the session's: a 403 page, before the route runs.
        """
        return Depends(ConsoleRequirement(self, permission))


class ConsoleRequirement:
    """The dependency ``requires`` gives: a callable that names its permission.

    The permission is an attribute, not hidden in a closure, so that the
    authorization matrix (tests/integration/test_console_authorization_matrix.py)
    reads what each console route demands from the app itself.
    """

    def __init__(self, sessions: ConsoleSessions, permission: Permission) -> None:
        self.sessions = sessions
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        session = await self.sessions.session_of(request)
        if not session.principal.may(self.permission):
            raise ConsoleAnswer(self.sessions.refuse(request, "permission"))
        return session.principal


def console_requirements(app: FastAPI) -> dict[tuple[str, str], Permission | None]:
    """Every console route of ``app`` by method and path, with the permission it requires.

    None: the route states no ``requires`` (the sign-in and sign-out pages).
    """
    found: dict[tuple[str, str], Permission | None] = {}
    for context in iter_route_contexts(app.routes):
        dependant: Dependant | None = getattr(context, "dependant", None)
        # The path as documented: ``{message_id}``, not the route's ``{message_id:uuid}``.
        path = context.path_format
        if dependant is None or path is None or not path.startswith(PATH):
            continue
        permission = _requirement(dependant)
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found[(method, path)] = permission
    return found


# How ``requires`` answers for a route that does not run (its docstring).
REFUSALS: dict[str, dict[str, Any]] = {
    "303": {
        "description": "Not signed in: to the sign-in page, `/console/sign-in?next=<this page>`."
    },
    "403": {
        "description": "Signed in without the permission, or a form (POST) whose CSRF token is "
        "not the session's.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
}


def document_refusals(app: FastAPI) -> None:
    """Document on every console route that ``requires`` a permission how it refuses.

    One dependency answers for all of them, so the document says it in one
    place too; a route's own description of a 303 or a 403 (where it has
    more to say) stays.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for (method, path), permission in console_requirements(app).items():
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is not None and permission is not None:
                for status, answer in REFUSALS.items():
                    operation["responses"].setdefault(status, answer)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _requirement(dependant: Dependant) -> Permission | None:
    pending = list(dependant.dependencies)
    while pending:
        current = pending.pop()
        if isinstance(current.call, ConsoleRequirement):
            return current.call.permission
        pending.extend(current.dependencies)
    return None


def submitted_form(request: Request) -> dict[str, str]:
    """The fields of the POST that ``requires`` checked: the first value of each."""
    fields: dict[str, str] = getattr(request.state, "console_form", {})
    return fields


def current_session(request: Request) -> ConsoleSession | None:
    """The session ``requires`` found for this request, if it ran."""
    session: ConsoleSession | None = getattr(request.state, "console_session", None)
    return session


def local_target(value: str | None) -> str:
    """Where to go after signing in: a console address of this site, else the console itself."""
    if (
        value is None
        or not value.startswith(PATH)
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x21 for c in value)
    ):
        return PATH
    rest = value[len(PATH) :]
    return value if rest == "" or rest[0] in "/?" else PATH


def _to_sign_in(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = here if request.method in _SAFE_METHODS else request.url.path
    return Response(
        status_code=303,
        headers={
            "Location": f"{PATH}/sign-in?{urlencode({'next': local_target(target)})}",
            "Cache-Control": "no-store",
        },
    )


def _same(presented: str | None, expected: str) -> bool:
    given = presented if presented is not None and presented.isascii() else "-"
    return hmac.compare_digest(given, expected)


def _document(session: ConsoleSession, now: datetime) -> Document:
    principal = session.principal
    return {
        "subject": principal.subject,
        "name": principal.name,
        "kind": principal.kind.value,
        "roles": sorted(role.value for role in principal.roles),
        "csrf_token": session.csrf_token,
        "id_token": session.id_token,
        "created_at": now,
        "seen_at": now,
    }


def _session(document: Document, left: TimeLeft) -> ConsoleSession:
    principal = Principal(
        subject=document["subject"],
        name=document["name"],
        kind=Kind(document["kind"]),
        roles=frozenset(Role(role) for role in document["roles"] if role in _ROLE_NAMES),
    )
    return ConsoleSession(principal, document["csrf_token"], document.get("id_token"), left)


def aware(moment: datetime) -> datetime:
    """MongoDB gives naive UTC datetimes back unless the client is told otherwise."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

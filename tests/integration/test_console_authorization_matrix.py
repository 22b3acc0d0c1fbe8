"""Who may open what in the console: every console page and form, tried by every kind of caller.

The routes come from the registration app itself (``console_requirements``:
each states its permission with ``ConsoleSessions.requires``); each must
have a row below naming the permission it is meant to need and a request it
succeeds with. A new console route without a row, a row without its route,
or a route that states another permission than its row fails the test. The
sign-in and sign-out routes and continuing a session are the only ones
without a permission, and are named as such (``UNGUARDED``).

Then every row is tried by a browser that is not signed in (303 to the
sign-in) and by each development user (one role each) signed in through the
console's own sign-in over HTTP with the real identity provider
(``tests.support.console.signed_in_as``): a role that grants the permission
gets the row's status, one that does not the console's 403 page. The rows
change nothing that a later row needs: the forms that would change the
shared event act on a spare one or on a registration made for that request.
Every route about an event or a registration answers 404 to a caller that
may ask about an id nobody knows, and 403 to one that may not.

A session past its idle timeout (the service's clock moved, no sleeping) is
sent to sign in again; a form sent without the session's CSRF token, or with
another, is refused with 403 and changes nothing.

Not here: a person with none of Ilmo's roles (the sign-in answers them with
the "no role" page). The development provider has no such user, one role
each (deploy/local/dev_login.py), and the tests do not add users to it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_registration.app import build_app
from ilmo_registration.console.session import console_requirements
from ilmo_shared.access import ROLE_PERMISSIONS, Permission
from ilmo_shared.storage import Document
from tests.support.console import CALLBACK, PUBLIC, SIGNED_OUT, csrf_token_in, signed_in_as
from tests.support.identity import USERS, IdentityProvider, register_client
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import serving
from tests.support.registration import (
    MovableClock,
    create_event,
    register,
    settings_for,
    unique_id,
)

# The console's routes that no permission guards: signing in and out.
UNGUARDED = frozenset(
    {
        ("GET", "/console/sign-in"),
        ("GET", "/console/signed-in"),
        ("POST", "/console/sign-out"),  # needs a session, any session: it ends it
        ("GET", "/console/signed-out"),
        # Any session may restart its own idle time (test_console_session_continue.py).
        ("POST", "/console/session/continue"),
    }
)
UNKNOWN = {
    "event_id": "matrix-unknown-event",
    "registration_id": str(uuid.uuid4()),
    "message_id": str(uuid.uuid4()),
}
# The shared event's message, sent by the organiser when the console starts.
MESSAGE_ID = str(uuid.uuid4())
MESSAGE = {"audience": "all", "title.fi": "Hei", "body.fi": "Tervetuloa."}

Values = dict[str, str]


@dataclass(frozen=True)
class Row:
    """A console route, the permission it is meant to need, and a request it succeeds with."""

    permission: Permission
    succeeds: int
    form: dict[str, str] | None = None  # a POST's fields, besides the CSRF token
    fixed: Values = field(default_factory=dict)  # path values of this row only
    # Path values made for each request (a registration to cancel), else the shared ones.
    fresh: Callable[[httpx.AsyncClient, Values], Awaitable[Values]] | None = None


async def _fresh_registration(client: httpx.AsyncClient, values: Values) -> Values:
    receipt = await register(client, values["event_id"], first_name="Matti", last_name="Matriisi")
    return {**values, "registration_id": receipt["id"]}


def _spare(values: Values) -> Values:
    return {**values, "event_id": values["spare_event_id"]}


async def _spare_of(_client: httpx.AsyncClient, values: Values) -> Values:
    """Publishing and unpublishing act on the spare event: the shared one stays as it is."""
    return _spare(values)


async def _fresh_event(client: httpx.AsyncClient, values: Values) -> Values:
    """Cancelling is final: each request cancels an event of its own."""
    event = await create_event(client, unique_id("matrix-cancel"))
    return {**values, "event_id": event["id"]}


ADD_ROW = {"action": "add:agenda"}
ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/console"): Row(Permission.READ_EVENTS, 200),
    ("GET", "/console/events/new"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/new"): Row(Permission.CHANGE_EVENTS, 200, ADD_ROW),
    ("GET", "/console/events/{event_id}"): Row(Permission.READ_EVENTS, 200),
    ("GET", "/console/events/{event_id}/edit"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/{event_id}/edit"): Row(Permission.CHANGE_EVENTS, 200, ADD_ROW),
    ("POST", "/console/events/{event_id}/duplicate"): Row(Permission.CHANGE_EVENTS, 303, {}),
    ("GET", "/console/events/{event_id}/publish"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/{event_id}/publish"): Row(
        Permission.CHANGE_EVENTS, 303, {}, fresh=_spare_of
    ),
    ("GET", "/console/events/{event_id}/unpublish"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/{event_id}/unpublish"): Row(
        Permission.CHANGE_EVENTS, 303, {}, fresh=_spare_of
    ),
    ("GET", "/console/events/{event_id}/cancel"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/{event_id}/cancel"): Row(
        Permission.CHANGE_EVENTS, 303, {}, fresh=_fresh_event
    ),
    ("GET", "/console/events/{event_id}/messages"): Row(Permission.READ_EVENTS, 200),
    ("GET", "/console/events/{event_id}/messages/new"): Row(Permission.CHANGE_EVENTS, 200),
    ("POST", "/console/events/{event_id}/messages/new"): Row(Permission.CHANGE_EVENTS, 200, {}),
    ("POST", "/console/events/{event_id}/messages/preview"): Row(
        Permission.CHANGE_EVENTS, 200, MESSAGE
    ),
    # The same message id each time: one message, every send answered with its page.
    ("POST", "/console/events/{event_id}/messages/send"): Row(
        Permission.CHANGE_EVENTS, 303, {**MESSAGE, "message_id": MESSAGE_ID}
    ),
    ("GET", "/console/events/{event_id}/messages/{message_id}"): Row(
        Permission.READ_EVENTS, 200, fixed={"message_id": MESSAGE_ID}
    ),
    ("GET", "/console/events/{event_id}/registrations"): Row(Permission.LIST_REGISTRATIONS, 200),
    ("GET", "/console/events/{event_id}/export.{format}"): Row(
        Permission.EXPORT, 200, fixed={"format": "csv"}
    ),
    ("GET", "/console/events/{event_id}/dashboard"): Row(Permission.READ_COUNTS, 200),
    ("GET", "/console/registrations/{registration_id}"): Row(Permission.READ_PERSONAL_DATA, 200),
    ("GET", "/console/registrations/{registration_id}/{action}"): Row(
        Permission.CHANGE_REGISTRATIONS, 200, fixed={"action": "cancel"}
    ),
    ("POST", "/console/registrations/{registration_id}/{action}"): Row(
        Permission.CHANGE_REGISTRATIONS,
        303,
        {},
        fixed={"action": "cancel"},
        fresh=_fresh_registration,
    ),
    ("GET", "/console/check-in"): Row(Permission.CHECK_IN, 200),
    ("GET", "/console/events/{event_id}/check-in"): Row(Permission.CHECK_IN, 200),
    # The door's answer is a page whatever it says (here: not registered, a code of nobody's).
    ("POST", "/console/events/{event_id}/check-in"): Row(
        Permission.CHECK_IN, 200, {"code": "IC1.not-a-code"}
    ),
    ("GET", "/console/audit"): Row(Permission.READ_AUDIT, 200),
    ("GET", "/console/audit.csv"): Row(Permission.READ_AUDIT, 200),
}


@dataclass
class Console:
    """The service in-process, its client, the shared ids, and each user's session cookie."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: MovableClock
    idle: timedelta  # how long a session may go unused (``console_idle_minutes``)
    values: Values
    sessions: dict[str, dict[str, str]]  # username: Cookie header


@pytest.fixture(scope="module")
async def console(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> AsyncIterator[Console]:
    client_at_provider = await register_client(
        identity, redirect_uris=(CALLBACK,), post_logout_redirect_uris=(SIGNED_OUT,)
    )
    clock = MovableClock()
    settings = settings_for(
        infrastructure,
        oidc_issuer=identity.issuer,
        oidc_client_id=client_at_provider.client_id,
        oidc_client_secret=client_at_provider.client_secret,
        public_base_url=PUBLIC,
    )
    app = build_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with serving(app), httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        event = await create_event(client, unique_id("matrix"), now=clock.now)
        spare = await create_event(client, unique_id("matrix-spare"), now=clock.now)
        registration = await register(client, event["id"])
        values = {
            "event_id": event["id"],
            "spare_event_id": spare["id"],
            "registration_id": registration["id"],
        }
        sessions = {}
        for username in sorted(USERS):
            _callback, cookie = await signed_in_as(client, identity, username, "/console")
            sessions[username] = cookie
        idle = timedelta(minutes=settings.console_idle_minutes)
        started = Console(app, client, clock, idle, values, sessions)
        organiser = sessions["organiser"]
        sent = await client.post(
            f"/console/events/{event['id']}/messages/send",
            data={
                **MESSAGE,
                "message_id": MESSAGE_ID,
                "csrf_token": await _csrf_token(started, organiser),
            },
            headers=organiser,
        )
        assert sent.status_code == 303, sent.text
        yield started


def test_every_console_route_has_a_row_naming_its_permission(console: Console) -> None:
    routes = console_requirements(console.app)
    unguarded = {key for key, permission in routes.items() if permission is None}

    assert unguarded == UNGUARDED
    assert set(routes) - UNGUARDED == set(ROWS)
    for key, row in ROWS.items():
        assert routes[key] == row.permission, key


async def _request(
    console: Console, method: str, template: str, row: Row, headers: dict[str, str], csrf: str
) -> httpx.Response:
    values = {**console.values, **row.fixed}
    if row.fresh is not None:
        values = await row.fresh(console.client, values)
    path = template.format(**values)
    if method == "GET":
        return await console.client.get(path, params={"lang": "en"}, headers=headers)
    form = {**(row.form or {}), "csrf_token": csrf}
    return await console.client.post(path, params={"lang": "en"}, data=form, headers=headers)


async def _csrf_token(console: Console, headers: dict[str, str]) -> str:
    """The session's CSRF token, from the sign-out form of the events page (or its refusal)."""
    page = await console.client.get("/console", headers=headers)
    assert page.status_code in (200, 403)
    return csrf_token_in(page)


async def test_every_caller_gets_what_its_role_allows(console: Console) -> None:
    callers: dict[str, tuple[dict[str, str], str]] = {"not signed in": ({}, "")}
    for username, cookie in console.sessions.items():
        callers[username] = (cookie, await _csrf_token(console, cookie))
    wrong: list[str] = []
    for (method, template), row in sorted(ROWS.items()):
        for name, (headers, csrf) in callers.items():
            answer = await _request(console, method, template, row, headers, csrf)
            expected = _expected(row, name)
            signed_in = name in USERS
            if (
                answer.status_code != expected
                or not _well_formed(answer, expected)
                or (not signed_in and not _to_sign_in(answer))
            ):
                wrong.append(
                    f"{method} {template} as {name}: {answer.status_code}, expected {expected}"
                )
    assert not wrong, "\n".join(wrong)


def _expected(row: Row, caller: str) -> int:
    if caller not in USERS:
        return 303
    return row.succeeds if row.permission in ROLE_PERMISSIONS[USERS[caller]] else 403


def _well_formed(answer: httpx.Response, expected: int) -> bool:
    """Not signed in: to the sign-in; refused: the console's own page, not a problem document."""
    if expected == 303 and answer.status_code == 303:
        return answer.headers["location"].startswith("/console")  # sign-in, or the next page
    if expected == 403:
        return answer.headers["content-type"].startswith("text/html") and (
            "You do not have permission to do this" in answer.text
        )
    return True


def _to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith(
        "/console/sign-in?next="
    )


async def test_an_unknown_event_or_registration_is_404_to_those_who_may_ask(
    console: Console,
) -> None:
    wrong: list[str] = []
    for (method, template), row in sorted(ROWS.items()):
        if "{event_id}" not in template and "{registration_id}" not in template:
            continue
        path = template.format(**{**UNKNOWN, **row.fixed})
        for username, cookie in console.sessions.items():
            csrf = await _csrf_token(console, cookie)
            if method == "GET":
                answer = await console.client.get(path, headers=cookie)
            else:
                data = {**(row.form or {}), "csrf_token": csrf}
                answer = await console.client.post(path, data=data, headers=cookie)
            may = row.permission in ROLE_PERMISSIONS[USERS[username]]
            if answer.status_code != (404 if may else 403):
                wrong.append(f"{method} {path} as {username}: {answer.status_code}")
    assert not wrong, "\n".join(wrong)


async def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    console: Console,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
) -> None:
    organiser = console.sessions["organiser"]
    database = mongo[infrastructure.database_name("registration")]
    before = await _snapshot(database, console.values)
    wrong: list[str] = []
    for (method, template), row in sorted(ROWS.items()):
        if method != "POST":
            continue
        values = {**console.values, **row.fixed}
        if row.fresh is _spare_of:
            values = _spare(values)
        path = template.format(**values)
        for token in (None, "forged-token"):
            form = {**(row.form or {}), **({"csrf_token": token} if token else {})}
            answer = await console.client.post(
                path, params={"lang": "en"}, data=form, headers=organiser
            )
            if answer.status_code != 403 or "Your form could not be checked" not in answer.text:
                wrong.append(f"POST {template} with token {token}: {answer.status_code}")
    assert not wrong, "\n".join(wrong)
    assert await _snapshot(database, console.values) == before


async def _snapshot(database: AsyncDatabase[Document], values: Values) -> dict[str, object]:
    """What a change through the console would show: counts, the shared registration, the events."""
    counts = {
        name: await database[name].count_documents({})
        for name in ("events", "registrations", "audit")
    }
    registration = await database["registrations"].find_one({"_id": values["registration_id"]})
    events = (
        await database["events"]
        .find({"_id": {"$in": [values["event_id"], values["spare_event_id"]]}})
        .to_list()
    )
    return {"counts": counts, "registration": registration, "events": events}


async def test_a_session_idle_past_its_timeout_is_sent_to_sign_in(
    console: Console, identity: IdentityProvider
) -> None:
    _callback, session = await signed_in_as(console.client, identity, "organiser", "/console")
    csrf = await _csrf_token(console, session)
    started = console.clock.now
    try:
        console.clock.now = started + console.idle + timedelta(seconds=1)
        page = await console.client.get("/console", headers=session)
        form = await console.client.post(
            f"/console/events/{console.values['event_id']}/duplicate",
            data={"csrf_token": csrf},
            headers=session,
        )
    finally:
        console.clock.now = started

    assert _to_sign_in(page), page.status_code
    assert _to_sign_in(form), form.status_code
    # Deleted, not only refused: the clock back, the session is still gone.
    assert _to_sign_in(await console.client.get("/console", headers=session))

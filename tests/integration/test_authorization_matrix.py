"""Who may call what: every protected route of the four services, tried by every kind of caller.

The routes come from the apps themselves (each states its permission with
``Authorization.requires``); each must have a row below, which names the
permission it is meant to need and a request it succeeds with. A new
protected route without a row, a row without its route, or a route that
states another permission than its row fails the test. Then every row is
tried with tokens of the real identity provider (``tests.support.identity``):
each development user (one role each), a service's client-credentials token,
an expired token, a token for another audience, the development token, and
no token at all. A caller whose roles grant the permission gets the row's
status; one whose roles do not, 403; a token that proves nothing, or none,
401 with ``WWW-Authenticate``. Public routes that show more to some callers
(``Authorization.optional``) answer everyone without a token, and 403 to a
token that lacks the permission.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ilmo_capacity.app import build_app as build_capacity
from ilmo_capacity.settings import CapacitySettings
from ilmo_notification.app import build_app as build_notification
from ilmo_notification.settings import NotificationSettings
from ilmo_registration.app import build_app as build_registration
from ilmo_shared.access import (
    DEVELOPMENT_ROLES,
    ROLE_PERMISSIONS,
    SERVICE_PERMISSIONS,
    Permission,
    Role,
)
from ilmo_shared.identity import guarded_routes
from ilmo_streaming.app import build_app as build_streaming
from ilmo_streaming.settings import StreamingSettings
from tests.support.development import DEVELOPMENT_TOKEN
from tests.support.identity import (
    USERS,
    Client,
    IdentityProvider,
    expired_token,
    register_client,
    service_token,
    sign_in,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import serving
from tests.support.processes import free_port
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    create_event,
    event_payload,
    settings_for,
    unique_id,
)
from tests.support.streaming import LINK_SECRET

REDIRECT_URI = "http://127.0.0.1:9/signed-in"
OPERATIONS = (
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/operations/openapi.json",
)
UNKNOWN = {
    "event_id": "matrix-unknown-event",
    "registration_id": str(uuid.uuid4()),
    "message_id": str(uuid.uuid4()),
}
MESSAGE = {"audience": "all", "title": {"fi": "Tervehdys"}, "body": {"fi": "Tervetuloa."}}
NOTICE = {"text": {"fi": "Tietosuojaseloste.", "sv": "Dataskyddsbeskrivning.", "en": "Notice."}}


@dataclass(frozen=True)
class Row:
    """A protected route, the permission it is meant to need, and a request it succeeds with."""

    permission: Permission
    succeeds: int
    body: Callable[[], dict[str, Any]] | None = None
    optional: bool = False  # public without a token (Authorization.optional)
    unknown: bool = False  # asked about ids nobody knows: 404 for a caller that may ask
    # About one person: besides the permission, only Ilmo's services (the console) may ask.
    services_only: bool = False


def _new_event() -> dict[str, Any]:
    return event_payload(id=unique_id("matrix"))


# (service, listener, method, path template): the row. Templates use the apps' own paths.
REGISTRATION_ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/events"): Row(Permission.CHANGE_EVENTS, 201, _new_event),
    ("PATCH", "/api/v1/events/{event_id}"): Row(
        Permission.CHANGE_EVENTS, 200, lambda: {"in_person_capacity": 41}
    ),
    # Cancelling is final: asked about an event nobody knows, so the shared one stays.
    ("POST", "/api/v1/events/{event_id}/cancellation"): Row(
        Permission.CHANGE_EVENTS, 404, unknown=True
    ),
    # A message to nobody: asked about an event nobody knows.
    ("PUT", "/api/v1/events/{event_id}/messages/{message_id}"): Row(
        Permission.CHANGE_EVENTS, 404, lambda: MESSAGE, unknown=True
    ),
    ("GET", "/api/v1/events"): Row(Permission.READ_EVENTS, 200, optional=True),
    ("GET", "/api/v1/events/{event_id}"): Row(Permission.READ_EVENTS, 200, optional=True),
    ("GET", "/api/v1/events/{event_id}/privacy-notice"): Row(
        Permission.READ_EVENTS, 200, optional=True
    ),
    ("PUT", "/api/v1/events/{event_id}/privacy-notice"): Row(
        Permission.CHANGE_EVENTS, 200, lambda: NOTICE
    ),
    ("GET", "/api/v1/events/{event_id}/registrations"): Row(Permission.LIST_REGISTRATIONS, 200),
    ("DELETE", "/api/v1/admin/registrations/{registration_id}"): Row(
        Permission.CHANGE_REGISTRATIONS, 404, unknown=True
    ),
    ("POST", "/api/v1/admin/retention/sweep"): Row(Permission.OPERATE, 200),
    ("GET", "/api/v1/audit"): Row(Permission.READ_AUDIT, 200),
    ("GET", "/api/v1/audit.csv"): Row(Permission.READ_AUDIT, 200),
}
OPERATIONS_ROWS: dict[tuple[str, str], Row] = {
    ("GET", path): Row(Permission.OPERATE, 200) for path in OPERATIONS
}
# Each service's operator routes: counts, for operators, organisers, viewers and services.
COUNTS_ROWS: dict[str, dict[tuple[str, str], Row]] = {
    "registration": {},
    "capacity": {
        ("GET", "/api/v1/events/{event_id}/seats"): Row(Permission.READ_COUNTS, 404, unknown=True)
    },
    "notification": {
        ("GET", "/api/v1/mails/summary"): Row(Permission.READ_COUNTS, 200),
        ("GET", "/api/v1/registrations/{registration_id}/mails"): Row(
            Permission.READ_COUNTS, 200, unknown=True, services_only=True
        ),
        ("POST", "/api/v1/registrations/{registration_id}/mails/resend"): Row(
            Permission.READ_COUNTS,
            404,
            lambda: {"mail_id": "nobody:registration_received", "request_id": "matrix-resend"},
            unknown=True,
            services_only=True,
        ),
        ("GET", "/api/v1/events/{event_id}/audience"): Row(Permission.READ_COUNTS, 200),
        ("GET", "/api/v1/events/{event_id}/schedule"): Row(Permission.READ_COUNTS, 200),
        ("GET", "/api/v1/messages/{message_id}"): Row(Permission.READ_COUNTS, 404, unknown=True),
    },
    "streaming": {
        ("GET", "/api/v1/events/{event_id}/stream-links"): Row(
            Permission.READ_COUNTS, 404, unknown=True
        )
    },
}


@dataclass(frozen=True)
class Caller:
    """A kind of caller: its Authorization header, and what its token grants (None: nothing)."""

    name: str
    headers: dict[str, str]
    granted: frozenset[Permission] | None


@dataclass
class Listener:
    service: str
    name: str  # "public" or "operations"
    app: FastAPI
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)


def _permissions(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _callers(identity: IdentityProvider, ilmo_service: Client) -> list[Caller]:
    people = await register_client(identity, redirect_uris=[REDIRECT_URI])
    stranger = await register_client(
        identity, redirect_uris=[REDIRECT_URI], audience=["another-api"]
    )
    foreign = await register_client(identity)
    callers = [Caller("none", {}, None)]
    for username, role in sorted(USERS.items()):
        tokens = await sign_in(identity, people, username, redirect_uri=REDIRECT_URI)
        callers.append(
            Caller(username, _bearer(tokens.access_token), _permissions(frozenset({role})))
        )
    service = await service_token(identity, ilmo_service)
    callers.append(Caller("service", _bearer(service), SERVICE_PERMISSIONS))
    # A client-credentials token of a client that is not one of Ilmo's services: no roles.
    callers.append(
        Caller("foreign client", _bearer(await service_token(identity, foreign)), frozenset())
    )
    callers.append(Caller("expired", _bearer(await expired_token(identity)), None))
    other = await sign_in(
        identity, stranger, "organiser", redirect_uri=REDIRECT_URI, audience="another-api"
    )
    callers.append(Caller("other audience", _bearer(other.access_token), None))
    callers.append(
        Caller("development", _bearer(DEVELOPMENT_TOKEN), _permissions(DEVELOPMENT_ROLES))
    )
    return callers


def _identity_settings(identity: IdentityProvider, service_client_id: str) -> dict[str, Any]:
    return {
        "oidc_issuer": identity.issuer,
        "oidc_service_clients": service_client_id,
        "development_token": DEVELOPMENT_TOKEN,
    }


def _apps(infrastructure: IsolatedInfrastructure, identity: dict[str, Any]) -> dict[str, FastAPI]:
    common = {"mongodb_url": infrastructure.mongodb_url, **identity}
    return {
        "registration": build_registration(settings_for(infrastructure, **identity)),
        "capacity": build_capacity(
            CapacitySettings(
                **infrastructure.broker_settings("capacity"),
                **common,
                mongodb_database=infrastructure.database_name("matrix_capacity"),
                http_port=free_port(),
            )
        ),
        "notification": build_notification(
            NotificationSettings(
                **infrastructure.broker_settings("notification"),
                **common,
                mongodb_database=infrastructure.database_name("matrix_notification"),
                http_port=free_port(),
                smtp_tls="none",
                manage_link_secret=MANAGE_LINK_SECRET,
            )
        ),
        "streaming": build_streaming(
            StreamingSettings(
                **infrastructure.broker_settings("streaming"),
                **common,
                mongodb_database=infrastructure.database_name("matrix_streaming"),
                stream_link_secret=LINK_SECRET,
            )
        ),
    }


def _listeners(apps: dict[str, FastAPI]) -> list[Listener]:
    found: list[Listener] = []
    for service, app in apps.items():
        rows = REGISTRATION_ROWS if service == "registration" else {}
        found.append(Listener(service, "public", app, dict(rows)))
        operations = {**OPERATIONS_ROWS, **COUNTS_ROWS[service]}
        found.append(Listener(service, "operations", app.state.operations, operations))
    return found


def _protected_routes(app: FastAPI) -> dict[tuple[str, str], tuple[Permission | None, bool]]:
    """Every route that states a permission, or reads the caller optionally, by method and path."""
    return {
        (route.method, route.path): (route.permission, route.optional)
        for route in guarded_routes(app)
        if route.permission is not None or route.optional
    }


@pytest.fixture(scope="module")
async def running(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> AsyncIterator[tuple[list[Listener], list[Caller], dict[str, str]]]:
    service = await register_client(identity, grant_types=("client_credentials",))
    apps = _apps(infrastructure, _identity_settings(identity, service.client_id))
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(serving(app))
        registration = await stack.enter_async_context(_client(apps["registration"]))
        event = await create_event(registration)
        callers = await _callers(identity, service)
        values = {"event_id": event["id"]}
        yield _listeners(apps), callers, values


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://matrix.test")


def test_every_protected_route_has_a_row_naming_its_permission(
    running: tuple[list[Listener], list[Caller], dict[str, str]],
) -> None:
    listeners, _, _ = running
    for listener in listeners:
        routes = _protected_routes(listener.app)
        where = f"{listener.service} {listener.name}"
        assert set(routes) == set(listener.rows), where
        for key, (permission, optional) in routes.items():
            row = listener.rows[key]
            assert (permission or row.permission, optional) == (row.permission, row.optional), (
                where,
                key,
            )


def test_on_the_operations_listeners_only_health_is_open(
    running: tuple[list[Listener], list[Caller], dict[str, str]],
) -> None:
    listeners, _, _ = running
    for listener in listeners:
        if listener.name != "operations":
            continue
        open_paths = {
            route.path
            for route in guarded_routes(listener.app)
            if route.permission is None and not route.optional
        }
        assert open_paths == {"/health/live", "/health/ready"}, listener.service


async def test_every_caller_gets_what_its_roles_allow(
    running: tuple[list[Listener], list[Caller], dict[str, str]],
) -> None:
    listeners, callers, values = running
    wrong: list[str] = []
    for listener in listeners:
        async with _client(listener.app) as client:
            for (method, template), row in sorted(listener.rows.items()):
                path = template.format(**(UNKNOWN if row.unknown else values))
                for caller in callers:
                    expected = _expected(row, caller)
                    body = row.body() if row.body is not None else None
                    response = await client.request(method, path, json=body, headers=caller.headers)
                    if response.status_code != expected or not _well_formed(response):
                        wrong.append(
                            f"{listener.service} {listener.name} {method} {template} "
                            f"as {caller.name}: {response.status_code}, expected {expected}"
                        )
    assert not wrong, "\n".join(wrong)


def _expected(row: Row, caller: Caller) -> int:
    if row.optional and not caller.headers:
        return row.succeeds
    if caller.granted is None:
        return 401
    if row.services_only and caller.name != "service":
        return 403
    return row.succeeds if row.permission in caller.granted else 403


def _well_formed(response: httpx.Response) -> bool:
    """A 401 challenges for a bearer token; 401 and 403 are problem details."""
    if response.status_code not in (401, 403):
        return True
    if response.headers.get("content-type") != "application/problem+json":
        return False
    if response.status_code == 403:
        problem: dict[str, object] = response.json()
        return problem["type"] == "/problems/forbidden"
    challenge: str = response.headers.get("www-authenticate", "")
    return challenge.startswith('Bearer realm="ilmo"')


async def test_a_viewer_lists_names_and_states_but_no_personal_data(
    running: tuple[list[Listener], list[Caller], dict[str, str]],
) -> None:
    listeners, callers, values = running
    registration = next(lst for lst in listeners if lst.service == "registration").app
    viewer = next(caller for caller in callers if caller.name == "viewer")
    organiser = next(caller for caller in callers if caller.name == "organiser")
    path = f"/api/v1/events/{values['event_id']}"
    async with _client(registration) as client:
        registered = await client.post(
            f"{path}/registrations",
            json={
                "first_name": "Maija",
                "last_name": "Matriisi",
                "email": f"maija.{uuid.uuid4().hex[:8]}@example.fi",
                "organisation": "Esimerkkivirasto",
                "attendance": "remote",
                "language": "fi",
                "privacy_notice_version": (await client.get(f"{path}/privacy-notice")).json()[
                    "version"
                ],
            },
        )
        assert registered.status_code == 202, registered.text
        seen = (await client.get(f"{path}/registrations", headers=viewer.headers)).json()
        full = (await client.get(f"{path}/registrations", headers=organiser.headers)).json()
        csv = await client.get(
            f"{path}/registrations", headers={**viewer.headers, "Accept": "text/csv"}
        )
        audit = (
            await client.get(
                "/api/v1/audit", params={"event_id": values["event_id"]}, headers=ADMIN
            )
        ).json()
    [listed] = [row for row in seen if row["last_name"] == "Matriisi"]
    assert listed["first_name"] == "Maija"
    assert listed["attendance"] == "remote"
    assert (listed["email"], listed["organisation"], listed["needs"]) == (None, None, None)
    [shown] = [row for row in full if row["last_name"] == "Matriisi"]
    assert shown["email"].startswith("maija.")
    assert shown["organisation"] == "Esimerkkivirasto"
    assert csv.status_code == 403
    actions = [(entry["action"], entry["actor_subject"]) for entry in audit["entries"]]
    assert ("registrations-listed", "viewer") in actions
    assert ("registrations-listed", "organiser") in actions
    assert "Maija" not in str(audit)
    assert "Matriisi" not in str(audit)

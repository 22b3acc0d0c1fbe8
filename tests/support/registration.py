"""The registration service in-process, and inputs it accepts, for its tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ilmo_event_contracts import Envelope, InternalEvent
from ilmo_registration.app import build_app
from ilmo_registration.privacy import DEFAULT_NOTICE
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.outbox import outbox_entry
from tests.support.development import DEVELOPMENT, DEVELOPMENT_TOKEN
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import operations_client, serving
from tests.support.producers import counting_publisher

# The development token (tests.support.development), under the names the tests know.
ADMIN_TOKEN = DEVELOPMENT_TOKEN
MANAGE_LINK_SECRET = "test-manage-link-secret-0b6e2d4c9a81f357"
ADMIN = DEVELOPMENT
# The version of the built-in privacy notice, in force for every event that has
# none of its own: what a client that showed it sends.
NOTICE_VERSION = DEFAULT_NOTICE.version


class MovableClock:
    """A clock a test sets; starts at the real time."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def settings_for(infrastructure: IsolatedInfrastructure, **changes: Any) -> RegistrationSettings:
    """The in-process service's settings; without rate limits (no Redis) unless ``changes`` say."""
    values: dict[str, Any] = {
        **infrastructure.broker_settings("registration"),
        "mongodb_url": infrastructure.mongodb_url,
        "mongodb_database": infrastructure.database_name("registration"),
        "development_token": ADMIN_TOKEN,
        "manage_link_secret": MANAGE_LINK_SECRET,
        "public_base_url": "https://ilmo.example.fi",
    }
    return RegistrationSettings(**{**values, **changes})


@asynccontextmanager
async def running_registration(
    infrastructure: IsolatedInfrastructure,
    clock: Callable[[], datetime] | None = None,
    **settings_changes: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its whole lifespan (storage, broker, relay), and a client for it."""
    settings = settings_for(infrastructure, **settings_changes)
    app = build_app(settings) if clock is None else build_app(settings, clock=clock)
    async with serving(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://registration.test"
        ) as client:
            yield client


@asynccontextmanager
async def registration_operations(
    infrastructure: IsolatedInfrastructure,
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its whole lifespan, and a client of its operations listener."""
    app = build_app(settings_for(infrastructure))
    async with serving(app), operations_client(app, "http://registration-operations") as client:
        yield client


def unique_id(prefix: str = "event") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def event_payload(now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A valid event: registration open now, the event in two weeks, 9.00-12.00 local-ish."""
    now = now or datetime.now(UTC)
    starts = (now + timedelta(days=14)).replace(microsecond=0)
    ends = starts + timedelta(hours=3)
    payload: dict[str, Any] = {
        "title": {
            "fi": "Tekoäly hallinnossa",
            "sv": "AI i förvaltningen",
            "en": "AI in government",
        },
        "description": {"fi": "Seminaari julkishallinnolle."},
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "venue": {
            "name": "Ministeriön juhlasali",
            "address": "Snellmaninkatu 1, Helsinki",
            "arrival_instructions": {"fi": "Sisäänkäynti pääovesta.", "en": "Main entrance."},
        },
        "in_person_capacity": 40,
        "registration_opens_at": (now - timedelta(days=1)).isoformat(),
        "registration_closes_at": (starts - timedelta(days=7)).isoformat(),
        "stream_url": "https://stream.example.fi/seminar",
        "agenda": [
            {
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=1)).isoformat(),
                "title": {"fi": "Avaus"},
                "speakers": [{"name": "Maija Virtanen", "title": "Kansliapäällikkö"}],
            },
            {
                "starts_at": (starts + timedelta(hours=1)).isoformat(),
                "ends_at": ends.isoformat(),
                "title": {"fi": "Paneeli", "en": "Panel"},
            },
        ],
        "target_groups": ["valtionhallinto", "kunnat", "hyvinvointialueet", "järjestöt"],
        "published": True,
        "organiser": {
            "name": {
                "fi": "Valtiovarainministeriö",
                "sv": "Finansministeriet",
                "en": "Ministry of Finance",
            },
            "email": "seminaari@vm.example.fi",
            "phone": "+358 295 16001",
        },
        # Tests about something else register people accepted at once; those
        # about confirmation (and the walking skeleton) turn it on.
        "email_confirmation": False,
    }
    payload.update(changes)
    return payload


def starting_soon(prefix: str, stream_url: str) -> dict[str, Any]:
    """An event that starts in ten minutes, one seat, registration still open.

    Its stream links open at once (they open an hour before the start), so
    the tests that follow a watch link need not move any clock; and its
    waiting list is promoted until the start (a cutoff of 0 minutes), so
    the tests that free a seat see it go to the first in line.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now + timedelta(minutes=10)
    return event_payload(
        now=now,
        id=f"{prefix}-{uuid.uuid4().hex[:8]}",
        in_person_capacity=1,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=3)).isoformat(),
        registration_opens_at=(now - timedelta(days=1)).isoformat(),
        registration_closes_at=(starts + timedelta(hours=1)).isoformat(),
        stream_url=stream_url,
        agenda=[],
        promotion_cutoff_minutes=0,
    )


def registration_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "first_name": "Matti",
        "last_name": "Meikäläinen",
        "email": f"matti.{uuid.uuid4().hex[:8]}@example.fi",
        "organisation": "Esimerkkikunta",
        "attendance": "in_person",
        "language": "fi",
        "privacy_notice_version": NOTICE_VERSION,
    }
    payload.update(changes)
    return payload


async def create_event(
    client: httpx.AsyncClient, event_id: str | None = None, **changes: Any
) -> dict[str, Any]:
    body = event_payload(**changes)
    body["id"] = event_id or unique_id()
    response = await client.post("/api/v1/events", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def register(client: httpx.AsyncClient, event_id: str, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=registration_payload(**changes)
    )
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def publish(infrastructure: IsolatedInfrastructure, *events: InternalEvent) -> None:
    """Publish events as their owners would (each its own broker user, an outbox envelope)."""
    async with counting_publisher(infrastructure) as publisher:
        for event in events:
            entry = outbox_entry(event, source="ilmo/test")
            await publisher.publish(
                Envelope.model_validate(entry["envelope"]), entry["data"].encode()
            )

"""The capacity service in-process, driven through the real broker, read through its HTTP API.

Events go in as the registration service would publish them (persistent,
confirmed, CloudEvents envelope) and what comes out is read by an outside tap
on ``ilmo.internal``, as the other services see it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_capacity.app import build_app
from ilmo_capacity.settings import CapacitySettings
from ilmo_capacity.storage import COLLECTION
from ilmo_event_contracts import Attendance, EventCancelled, EventDetails
from ilmo_shared.dead_letters import ParkedMessage, browse
from ilmo_shared.outbox import OUTBOX_FIELD
from ilmo_shared.storage import Document
from tests.support.amqp import EventTap, ObservedMessage, amqp_connection, event_tap, purge_queue
from tests.support.capacity import (
    STARTS_AT,
    accepted,
    cancelled,
    envelope_for,
    event_details,
    new_event_id,
    publish,
    switched,
)
from tests.support.development import DEVELOPMENT_TOKEN
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import operations_client, serving
from tests.support.polling import eventually
from tests.support.processes import free_port
from tests.support.producers import CountingPublisher, counting_publisher
from tests.support.registration import MovableClock
from tests.support.settling import Inflow, relayed

SEAT_EVENTS = ("seat.reserved", "seat.waitlisted", "seat.released", "waitlist.left")
SEAT_DECISIONS = "capacity.seat-decisions"  # the service's queue
# The default promotion cutoff of the events in tests.support.capacity: two hours before.
PROMOTION_CLOSES_AT = STARTS_AT - timedelta(minutes=120)


@dataclass
class RunningCapacity:
    app: FastAPI
    # The public listener (health only) and the operations one (seat counts, metrics).
    http: httpx.AsyncClient
    operations: httpx.AsyncClient
    publisher: CountingPublisher
    inflow: Inflow
    tap: EventTap
    database_name: str
    database: AsyncDatabase[Document]
    # The time seat decisions are made at: a week before the events start, unless a test moves it.
    clock: MovableClock

    def seen(self, event_id: str) -> list[ObservedMessage]:
        """Seat events about ``event_id`` as a consumer takes them: each envelope id once."""
        first: dict[str | None, ObservedMessage] = {}
        for m in self.tap.messages:
            if m.routing_key in SEAT_EVENTS and m.data.get("event_id") == event_id:
                first.setdefault(m.message_id, m)
        return list(first.values())

    async def seat_events(self, event_id: str, count: int) -> list[ObservedMessage]:
        """Wait until ``count`` seat events about ``event_id`` were published; return them all."""

        async def enough() -> bool:
            await self.tap.take_arrived()
            return len(self.seen(event_id)) >= count

        await eventually(
            enough,
            what=f"{count} seat events about {event_id}",
            interval=0.05,
            detail=lambda: f"saw {len(self.seen(event_id))} of {count}",
        )
        return self.seen(event_id)

    async def handled(self) -> None:
        """Until the service has finished with every message published so far."""
        await self.inflow.all_finished()

    async def settled(self, event_id: str, count: int) -> list[ObservedMessage]:
        """Exactly ``count`` seat events about ``event_id``: they arrived and nothing follows.

        Nothing can follow once every message published is handled and every
        decision stored about the event is published (and so on the tap).
        """
        await self.seat_events(event_id, count)
        await self.handled()
        await relayed(self.tap, self.database[COLLECTION], {"event_id": event_id})
        found = self.seen(event_id)
        assert len(found) == count, [(m.routing_key, m.data) for m in found]
        return found


@pytest.fixture
async def capacity(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AsyncIterator[RunningCapacity]:
    database_name = infrastructure.database_name("capacity_service")
    settings = CapacitySettings(
        **infrastructure.broker_settings("capacity"),
        mongodb_url=infrastructure.mongodb_url,
        mongodb_database=database_name,
        http_port=free_port(),
        development_token=DEVELOPMENT_TOKEN,
    )
    await purge_queue(infrastructure.amqp_url, SEAT_DECISIONS)
    clock = MovableClock(STARTS_AT - timedelta(days=7))
    app = build_app(settings, clock=clock)
    async with (
        counting_publisher(infrastructure) as publisher,
        event_tap(infrastructure.amqp_url) as tap,
        serving(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://capacity"
        ) as http,
        operations_client(app, "http://capacity-operations") as operations,
    ):
        yield RunningCapacity(
            app,
            http,
            operations,
            publisher,
            Inflow(SEAT_DECISIONS, publisher),
            tap,
            database_name,
            mongo[database_name],
            clock,
        )


async def test_seats_are_reserved_waitlisted_released_and_promoted_through_the_broker(
    capacity: RunningCapacity, mongo: AsyncMongoClient[Document]
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 2))
    people = [accepted(event_id) for _ in range(4)]
    remote = accepted(event_id, attendance=Attendance.REMOTE)
    for registration in [people[0], remote, *people[1:]]:
        # One at a time, so that arrival order is known.
        await publish(capacity.publisher, registration)
        await capacity.handled()

    first = await capacity.seat_events(event_id, 4)
    by_person = {m.data["registration_id"]: m for m in first}
    assert str(remote.registration_id) not in by_person
    for seated in people[:2]:
        message = by_person[str(seated.registration_id)]
        assert (message.routing_key, message.data["promoted"]) == ("seat.reserved", False)
    assert [by_person[str(p.registration_id)].data.get("position") for p in people[2:]] == [1, 2]
    assert {by_person[str(p.registration_id)].routing_key for p in people[2:]} == {
        "seat.waitlisted"
    }

    # The first seat holder cancels: their seat goes to the first in line.
    with_correlation = envelope_for(cancelled(people[0]), correlation_id="cancel-123")
    await publish(capacity.publisher, cancelled(people[0]), envelope=with_correlation)
    later = (await capacity.seat_events(event_id, 6))[4:]
    assert sorted((m.routing_key, m.data["registration_id"]) for m in later) == sorted(
        [
            ("seat.released", str(people[0].registration_id)),
            ("seat.reserved", str(people[2].registration_id)),
        ]
    )
    promoted = next(m for m in later if m.routing_key == "seat.reserved")
    assert promoted.data["promoted"] is True
    # The correlation id of the cancellation is carried into what it caused.
    assert {m.correlation_id for m in later} == {"cancel-123"}
    assert {m.headers["cloudEvents:source"] for m in later} == {"ilmo/capacity"}
    assert all(m.delivery_mode == 2 for m in later)

    # More seats: the last one in line is promoted; a cancellation of a remote one is ignored.
    await publish(capacity.publisher, event_details(event_id, 5, revision=2))
    await publish(capacity.publisher, cancelled(remote))
    [*_, last] = await capacity.settled(event_id, 7)
    assert (last.routing_key, last.data["registration_id"]) == (
        "seat.reserved",
        str(people[3].registration_id),
    )
    assert last.data["promoted"] is True

    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert response.status_code == 200
    assert response.json() == {
        "event_id": event_id,
        "capacity": 5,
        "reserved": 3,
        "waitlisted": 0,
        "over_capacity": 0,
        "free": 2,
        "promotion_closes_at": PROMOTION_CLOSES_AT.isoformat().replace("+00:00", "Z"),
        "promotion_closed": False,
    }

    database = mongo[capacity.database_name]
    pending = {"event_id": event_id, f"{OUTBOX_FIELD}.0": {"$exists": True}}
    assert await database["seat_inventories"].count_documents(pending) == 0


async def test_a_forged_cancellation_cancels_nothing_and_is_parked_with_its_reason(
    capacity: RunningCapacity, infrastructure: IsolatedInfrastructure
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 1))
    person = accepted(event_id)
    await publish(capacity.publisher, person)
    [seat] = await capacity.settled(event_id, 1)
    assert seat.routing_key == "seat.reserved"
    refused = {"queue": SEAT_DECISIONS, "reason": "publisher"}
    refused_before = REGISTRY.get_sample_value("ilmo_events_refused_total", refused) or 0.0

    # Streaming's user may not put registration.* on ilmo.events (its topic permissions),
    # but it can reach the queue through the default exchange: the consumer refuses it.
    forger = infrastructure.owners.user_of("streaming")
    forged = cancelled(person)
    envelope = envelope_for(forged)
    async with amqp_connection(infrastructure.amqp_url_as("streaming")) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                forged.model_dump_json().encode(),
                headers=envelope.to_headers(),
                message_id=envelope.id,
                type=envelope.type,
                user_id=forger,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=SEAT_DECISIONS,
        )
    async with amqp_connection(infrastructure.amqp_url) as connection:
        channel = await connection.channel()

        async def parked() -> ParkedMessage | None:
            found = await browse(channel, "capacity.dead-letter")
            return next((m for m in found if m.message_id == envelope.id), None)

        parked_message = await eventually(parked, what="the forged cancellation parked")
    assert parked_message.reason == f"publisher {forger} may not publish registration.cancelled"
    assert REGISTRY.get_sample_value("ilmo_events_refused_total", refused) == refused_before + 1

    # Nothing changed: the seat is still taken, and no seat was released.
    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert response.json()["reserved"] == 1
    # The real cancellation, from registration, is the next thing to change the seats.
    await publish(capacity.publisher, forged)
    [_, released] = await capacity.settled(event_id, 2)
    assert (released.routing_key, released.data["registration_id"]) == (
        "seat.released",
        str(person.registration_id),
    )


async def test_a_redelivered_request_takes_one_seat_only(capacity: RunningCapacity) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 3))
    registration = accepted(event_id)
    await publish(capacity.publisher, registration, times=3)  # same envelope id and body
    await publish(capacity.publisher, registration)  # same body, a new envelope (republished)
    await publish(capacity.publisher, event_details(event_id, 3), times=2)  # old revision again
    sentinel = accepted(event_id)
    await publish(capacity.publisher, sentinel)

    seen = await capacity.settled(event_id, 2)
    assert sorted((m.routing_key, m.data["registration_id"]) for m in seen) == sorted(
        [
            ("seat.reserved", str(registration.registration_id)),
            ("seat.reserved", str(sentinel.registration_id)),
        ]
    )
    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert response.json()["reserved"] == 2


async def test_requests_that_arrive_before_the_event_are_decided_when_it_arrives(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    early = [accepted(event_id) for _ in range(3)]
    for registration in early:
        await publish(capacity.publisher, registration)
        await capacity.handled()
    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert response.status_code == 404  # capacity has not heard of the event yet

    await publish(capacity.publisher, event_details(event_id, 1))
    seen = await capacity.settled(event_id, 3)
    assert [(m.routing_key, m.data["registration_id"]) for m in seen] == [
        ("seat.reserved", str(early[0].registration_id)),
        ("seat.waitlisted", str(early[1].registration_id)),
        ("seat.waitlisted", str(early[2].registration_id)),
    ]
    assert [m.data.get("position") for m in seen] == [None, 1, 2]


async def test_many_concurrent_registrations_never_oversell(capacity: RunningCapacity) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 5))
    people = [accepted(event_id) for _ in range(40)]
    await asyncio.gather(*(publish(capacity.publisher, person) for person in people))

    seen = await capacity.settled(event_id, 40)
    reserved = [m for m in seen if m.routing_key == "seat.reserved"]
    waitlisted = [m for m in seen if m.routing_key == "seat.waitlisted"]
    assert len(reserved) == 5
    assert sorted(m.data["position"] for m in waitlisted) == list(range(1, 36))
    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    counts = response.json()
    assert (counts["capacity"], counts["reserved"], counts["waitlisted"]) == (5, 5, 35)
    assert (counts["over_capacity"], counts["free"]) == (0, 0)


async def test_an_unknown_event_is_a_404_problem_and_operations_endpoints_answer(
    capacity: RunningCapacity,
) -> None:
    response = await capacity.operations.get(f"/api/v1/events/{uuid.uuid4().hex}/seats")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert problem["type"] == "/problems/event-not-found"
    assert "title" in problem

    too_long = await capacity.operations.get(f"/api/v1/events/{'x' * 300}/seats")
    assert too_long.status_code == 404

    ready = await capacity.http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 1))
    await publish(capacity.publisher, accepted(event_id))
    await capacity.seat_events(event_id, 1)
    metrics = (await capacity.operations.get("/metrics")).text
    assert 'ilmo_capacity_seat_decisions_total{kind="seat.reserved"}' in metrics

    operator_routes = (await capacity.operations.get("/operations/openapi.json")).json()
    assert "/api/v1/events/{event_id}/seats" in operator_routes["paths"]
    public_api = (await capacity.operations.get("/openapi.json")).json()
    assert "/api/v1/events/{event_id}/seats" not in public_api["paths"]


async def test_the_public_listener_answers_404_for_what_operators_read(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 1))
    await publish(capacity.publisher, accepted(event_id))
    await capacity.seat_events(event_id, 1)
    # The operations listener knows the event: a 404 below is the listener's, not the event's.
    seats = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert seats.json()["reserved"] == 1

    for path in (f"/api/v1/events/{event_id}/seats", "/metrics", "/openapi.json", "/docs"):
        response = await capacity.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["type"] == "/problems/not-found", path
    assert (await capacity.http.get("/health/ready")).status_code == 200


async def test_switches_through_the_broker_free_and_take_seats_once_per_attendance_version(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 1))
    seated, waiting, remote = (
        accepted(event_id),
        accepted(event_id),
        accepted(event_id, attendance=Attendance.REMOTE),
    )
    for registration in (seated, waiting, remote):
        await publish(capacity.publisher, registration)
        await capacity.handled()
    await capacity.settled(event_id, 2)  # a seat and a place in line

    # The seat holder switches to remote, twice delivered: one release, one promotion.
    to_remote = switched(seated, Attendance.REMOTE, 2)
    await publish(capacity.publisher, to_remote)
    await publish(capacity.publisher, to_remote, envelope=envelope_for(to_remote))
    # The remote registrant's switches cross: version 3 (remote again) arrives
    # before version 2 (in person), which is then stale and takes no seat.
    await publish(capacity.publisher, switched(remote, Attendance.REMOTE, 3))
    await capacity.handled()
    await publish(capacity.publisher, switched(remote, Attendance.IN_PERSON, 2))
    # And the seated registrant's late acceptance, redelivered: older than version 2.
    await publish(capacity.publisher, seated, envelope=envelope_for(seated))
    await capacity.handled()

    later = (await capacity.settled(event_id, 4))[2:]
    assert sorted(
        (m.routing_key, m.data["registration_id"], m.data["attendance_version"]) for m in later
    ) == sorted(
        [
            ("seat.released", str(seated.registration_id), 2),
            ("seat.reserved", str(waiting.registration_id), 1),
        ]
    )

    # Back on site: the seat is taken, so the waiting list (version 3).
    await publish(capacity.publisher, switched(seated, Attendance.IN_PERSON, 3))
    [back] = (await capacity.settled(event_id, 5))[4:]
    assert (back.routing_key, back.data["attendance_version"], back.data["position"]) == (
        "seat.waitlisted",
        3,
        1,
    )


async def seat_counts(capacity: RunningCapacity, event_id: str) -> dict[str, object]:
    response = await capacity.operations.get(f"/api/v1/events/{event_id}/seats")
    assert response.status_code == 200, response.text
    counts: dict[str, object] = response.json()
    return counts


async def test_a_seat_freed_before_the_cutoff_goes_to_the_first_in_line_one_freed_after_stays_free(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 2))
    seated = [accepted(event_id) for _ in range(2)]
    waiting = [accepted(event_id) for _ in range(2)]
    for registration in (*seated, *waiting):
        await publish(capacity.publisher, registration)  # one at a time: a known order
        await capacity.handled()
    await capacity.settled(event_id, 4)

    # A millisecond before the cutoff: the seat goes to the first in line.
    capacity.clock.now = PROMOTION_CLOSES_AT - timedelta(milliseconds=1)
    await publish(capacity.publisher, cancelled(seated[0]))
    before = (await capacity.settled(event_id, 6))[4:]
    assert sorted((m.routing_key, m.data["registration_id"]) for m in before) == sorted(
        [
            ("seat.released", str(seated[0].registration_id)),
            ("seat.reserved", str(waiting[0].registration_id)),
        ]
    )
    counts = await seat_counts(capacity, event_id)
    assert (counts["free"], counts["waitlisted"], counts["promotion_closed"]) == (0, 1, False)

    # At the cutoff: released, and nobody promoted; the organiser sees a free seat.
    capacity.clock.now = PROMOTION_CLOSES_AT
    await publish(capacity.publisher, cancelled(seated[1]))
    [after] = (await capacity.settled(event_id, 7))[6:]
    assert (after.routing_key, after.data["registration_id"]) == (
        "seat.released",
        str(seated[1].registration_id),
    )
    counts = await seat_counts(capacity, event_id)
    assert counts == {
        "event_id": event_id,
        "capacity": 2,
        "reserved": 1,
        "waitlisted": 1,
        "over_capacity": 0,
        "free": 1,
        "promotion_closes_at": PROMOTION_CLOSES_AT.isoformat().replace("+00:00", "Z"),
        "promotion_closed": True,
    }


async def test_a_capacity_decrease_takes_no_seat_and_the_counts_show_how_many_are_over(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    await publish(capacity.publisher, event_details(event_id, 3))
    people = [accepted(event_id) for _ in range(3)]
    for registration in people:
        await publish(capacity.publisher, registration)
    await capacity.settled(event_id, 3)

    await publish(capacity.publisher, event_details(event_id, 1, revision=2))
    await capacity.handled()
    counts = await seat_counts(capacity, event_id)
    assert (counts["capacity"], counts["reserved"], counts["over_capacity"], counts["free"]) == (
        1,
        3,
        2,
        0,
    )
    # Nobody lost a seat: no release was announced.
    assert [m.routing_key for m in await capacity.settled(event_id, 3)] == ["seat.reserved"] * 3


def cancellation_of(details: EventDetails) -> EventCancelled:
    """``event.cancelled`` as registration publishes it: the whole details, cancelled_at set."""
    return EventCancelled.model_validate(
        {
            **details.model_dump(),
            "revision": details.revision + 1,
            "cancelled_at": STARTS_AT - timedelta(days=3),
        }
    )


async def test_a_cancelled_event_promotes_nobody_and_gives_no_seat_to_a_late_request(
    capacity: RunningCapacity,
) -> None:
    event_id = new_event_id()
    details = event_details(event_id, 1)
    await publish(capacity.publisher, details)
    seated, waiting = accepted(event_id), accepted(event_id)
    for registration in (seated, waiting):
        await publish(capacity.publisher, registration)
        await capacity.handled()
    await capacity.settled(event_id, 2)

    await publish(capacity.publisher, cancellation_of(details))
    await capacity.handled()
    counts = await seat_counts(capacity, event_id)
    assert counts["promotion_closed"] is True

    # The holder cancels: released, nobody promoted. A registration crossing the
    # event's cancellation gets no decision at all.
    late = accepted(event_id)
    await publish(capacity.publisher, cancelled(seated))
    await publish(capacity.publisher, late)
    [released] = (await capacity.settled(event_id, 3))[2:]
    assert (released.routing_key, released.data["registration_id"]) == (
        "seat.released",
        str(seated.registration_id),
    )
    counts = await seat_counts(capacity, event_id)
    assert (counts["reserved"], counts["waitlisted"], counts["free"]) == (0, 1, 1)

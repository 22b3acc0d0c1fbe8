"""The metrics of issue 17 move with the real thing: requests, outbox, mails, seats.

Each family is driven through the real code on the real broker and
database and read back from the process's Prometheus registry, as the
operations listener serves it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_capacity.domain import EventTerms
from ilmo_capacity.seat_gauges import GAUGES, SeatGaugeKeeper, SeatGauges
from ilmo_capacity.storage import COLLECTION, SeatInventoryStore
from ilmo_capacity.usecases import Seats
from ilmo_event_contracts import Attendance, NotificationKind
from ilmo_notification.domain import MailRequest
from ilmo_notification.storage.mails import MAILS, MailStore, mail_of
from ilmo_notification.waiting import MailsWaitingSampler
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay, outbox_entry
from ilmo_shared.storage import Document
from tests.integration.test_outbox import accepted
from tests.support.infrastructure import IsolatedInfrastructure


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


@pytest.fixture
async def database(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncDatabase[Document]:
    return mongo[infrastructure.database_name(f"metrics_{uuid.uuid4().hex[:6]}")]


@pytest.fixture
async def broker(infrastructure: IsolatedInfrastructure) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    yield broker
    await broker.stop()


# ---------------------------------------------------------------- HTTP


async def test_requests_are_counted_and_timed_by_route_template(client: httpx.AsyncClient) -> None:
    handler = "/api/v1/events/{event_id}"
    labels = {"handler": handler, "method": "GET", "status": "4xx"}
    counted = sample("ilmo_http_requests_total", labels) or 0.0
    timed = sample(
        "ilmo_http_request_duration_seconds_count", {"handler": handler, "method": "GET"}
    )
    unmatched = {"handler": "unmatched", "method": "GET", "status": "4xx"}
    probes = sample("ilmo_http_requests_total", unmatched) or 0.0

    for _ in range(2):
        answer = await client.get(f"/api/v1/events/no-such-{uuid.uuid4().hex}")
        assert answer.status_code == 404
    assert (await client.get(f"/wp-admin/{uuid.uuid4().hex}")).status_code == 404

    assert sample("ilmo_http_requests_total", labels) == counted + 2
    assert (
        sample("ilmo_http_request_duration_seconds_count", {"handler": handler, "method": "GET"})
        == (timed or 0.0) + 2
    )
    assert sample("ilmo_http_requests_total", unmatched) == probes + 1
    # The ids never become labels.
    assert not [
        s
        for metric in REGISTRY.collect()
        if metric.name == "ilmo_http_requests"
        for s in metric.samples
        if "no-such-" in s.labels.get("handler", "") or "wp-admin" in s.labels.get("handler", "")
    ]


# ---------------------------------------------------------------- outbox


async def test_the_outbox_backlog_grows_while_publishing_fails_and_empties_once_confirmed(
    database: AsyncDatabase[Document], broker: RabbitBroker
) -> None:
    collection = database[f"things_{uuid.uuid4().hex[:6]}"]
    entries = [outbox_entry(accepted(), source="ilmo/test") for _ in range(3)]
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    entries[0]["envelope"]["time"] = an_hour_ago
    await collection.insert_one({"_id": "a", OUTBOX_FIELD: entries[:2]})
    await collection.insert_one({"_id": "b", OUTBOX_FIELD: entries[2:]})
    labels = {"outbox": collection.name}
    relay = OutboxRelay(EventPublisher(broker), [collection])

    # The broker is not connected yet: the sweep reads the entries, publishing fails.
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the client raises
        await relay.publish_pending()
    assert sample("ilmo_outbox_pending", labels) == 3
    assert (sample("ilmo_outbox_oldest_pending_age_seconds", labels) or 0) >= 3600

    await broker.connect()
    assert await relay.publish_pending() == 3
    assert sample("ilmo_outbox_pending", labels) == 0
    assert sample("ilmo_outbox_oldest_pending_age_seconds", labels) == 0


# ---------------------------------------------------------------- mails


async def test_mails_waiting_are_counted_until_they_are_sent(
    database: AsyncDatabase[Document], broker: RabbitBroker
) -> None:
    relay = OutboxRelay(EventPublisher(broker))
    asked_at = datetime.now(UTC) - timedelta(minutes=20)
    mails = MailStore(
        database,
        outbox=relay.outbox(database[MAILS], source="ilmo/test"),
        locks=relay.locks,
        clock=lambda: asked_at,
    )
    sampler = MailsWaitingSampler(mails, interval=30)
    await sampler.sample()
    assert sample("ilmo_mails_waiting") == 0
    assert sample("ilmo_mail_oldest_waiting_age_seconds") == 0

    request = MailRequest(
        registration_id=str(uuid.uuid4()),
        event_id="seminar",
        kind=NotificationKind.REGISTRATION_RECEIVED,
        details={},
    )
    assert await mails.record_intent(request, cause="test")
    await sampler.sample()
    assert sample("ilmo_mails_waiting") == 1
    assert (sample("ilmo_mail_oldest_waiting_age_seconds") or 0) >= 20 * 60

    # Ended as the dispatcher ends a mail, which drops its copy in ``open_mails``.
    assert await mails.mark_skipped(
        mail_of(await mails.document(request.mail_id) or {}),
        superseded_by=NotificationKind.CANCELLATION_CONFIRMED,
    )
    await sampler.sample()
    assert sample("ilmo_mails_waiting") == 0
    assert sample("ilmo_mail_oldest_waiting_age_seconds") == 0


# ---------------------------------------------------------------- seats


def seat_figures(event_id: str) -> dict[str, float | None]:
    return {
        name: sample(f"ilmo_event_{name}", {"event": event_id})
        for name in ("seat_capacity", "seats_taken", "waiting_list", "seats_oversold")
    }


async def test_seats_per_event_follow_decisions_and_a_lowered_capacity_is_not_oversold(
    database: AsyncDatabase[Document], broker: RabbitBroker
) -> None:
    relay = OutboxRelay(EventPublisher(broker))
    store = SeatInventoryStore(
        database, outbox=relay.outbox(database[COLLECTION], source="ilmo/test"), locks=relay.locks
    )
    await store.create_indexes()
    seats = Seats(store)
    event_id = f"event-{uuid.uuid4().hex[:8]}"
    starts_at = datetime.now(UTC) + timedelta(days=7)

    await seats.apply_details(event_id, EventTerms(capacity=2, revision=1, starts_at=starts_at))
    for _ in range(3):
        await seats.request_seat(event_id, str(uuid.uuid4()), Attendance.IN_PERSON)
    assert seat_figures(event_id) == {
        "seat_capacity": 2,
        "seats_taken": 2,
        "waiting_list": 1,
        "seats_oversold": 0,
    }

    # The organiser lowers the capacity: both keep their seats, nobody is oversold.
    await seats.apply_details(event_id, EventTerms(capacity=1, revision=2, starts_at=starts_at))
    await seats.request_seat(event_id, str(uuid.uuid4()), Attendance.IN_PERSON)
    assert seat_figures(event_id) == {
        "seat_capacity": 1,
        "seats_taken": 2,
        "waiting_list": 2,
        "seats_oversold": 0,
    }

    # A process that starts later (no series yet) shows the stored state of the events ahead.
    for gauge in GAUGES:
        gauge.remove(event_id)
    assert set(seat_figures(event_id).values()) == {None}
    keeper = SeatGaugeKeeper(SeatGauges(), store.latest_states, interval=60)
    await keeper.keep()
    assert seat_figures(event_id) == {
        "seat_capacity": 1,
        "seats_taken": 2,
        "waiting_list": 2,
        "seats_oversold": 0,
    }

    # Once the event is over (cancelled here), its series go.
    await seats.apply_details(
        event_id, EventTerms(capacity=1, revision=3, starts_at=starts_at, cancelled=True)
    )
    assert set(seat_figures(event_id).values()) == {None}

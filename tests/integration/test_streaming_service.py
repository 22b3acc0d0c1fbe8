"""The streaming service in-process, driven through the real broker, read through its links.

Events go in as their producers would publish them (persistent, confirmed,
CloudEvents envelope); what comes out is read by an outside tap on
``ilmo.internal``, and the links are opened through the service's HTTP app with
a clock the test sets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance, EventCancelled, EventDetails
from ilmo_shared.outbox import OUTBOX_FIELD
from ilmo_shared.storage import Document
from ilmo_streaming.tokens import TOKEN_LENGTH
from tests.support.amqp import ObservedMessage, event_tap
from tests.support.capacity import (
    STARTS_AT,
    accepted,
    cancelled,
    envelope_for,
    event_details,
    new_event_id,
    publish,
    reserved,
    switched,
    waitlisted,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import MovableClock
from tests.support.streaming import (
    LINK_SECRET,
    PUBLIC_BASE_URL,
    RunningStreaming,
    running_streaming,
    watch_path,
)

STREAM_URL = "https://stream.example.fi/seminar"  # what tests.support.capacity's events carry
OPENS = STARTS_AT - timedelta(minutes=30)
CLOSES = STARTS_AT + timedelta(hours=3) + timedelta(minutes=120)
INSIDE = STARTS_AT + timedelta(minutes=5)


@pytest.fixture
async def streaming(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AsyncIterator[RunningStreaming]:
    clock = MovableClock(STARTS_AT - timedelta(days=7))
    async with running_streaming(infrastructure, mongo, clock) as s:
        yield s


async def window_known(streaming: RunningStreaming, event_id: str) -> bool:
    """Whether the streaming service has the event's details (and so its link window)."""
    known = await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")
    return known.status_code == 200 and known.json()["opens_at"] is not None


async def provisioned_url(streaming: RunningStreaming, registration_id: uuid.UUID) -> str:
    [message] = await streaming.link_events(registration_id, 1)
    assert message.routing_key == "stream.link.provisioned"
    url: str = message.data["url"]
    return url


async def test_a_remote_registrant_gets_one_link_that_works_in_its_window_until_cancelled(
    streaming: RunningStreaming, mongo: AsyncMongoClient[Document]
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    # Handlers run concurrently: wait until the details are in, so that the link
    # is provisioned by the registration's own message (and carries its correlation id)
    # rather than by the details handler picking up a pending registration.
    await eventually(
        lambda: window_known(streaming, event_id),
        what=f"the window of {event_id}",
        timeout=5,
        interval=0.05,
    )
    registration = accepted(event_id, attendance=Attendance.REMOTE)
    envelope = envelope_for(registration, correlation_id="register-42")
    await publish(streaming.publisher, registration, envelope=envelope)

    [provisioned] = await streaming.link_events(registration.registration_id, 1)
    assert provisioned.routing_key == "stream.link.provisioned"
    data = provisioned.data
    assert data["registration_id"] == str(registration.registration_id)
    assert data["event_id"] == event_id
    assert data["url"].startswith(f"{PUBLIC_BASE_URL}/watch/")
    assert str(registration.registration_id) not in data["url"]
    assert LINK_SECRET not in data["url"]
    assert data["valid_from"].startswith(OPENS.isoformat().replace("+00:00", ""))
    assert data["valid_until"].startswith(CLOSES.isoformat().replace("+00:00", ""))
    assert provisioned.headers["cloudEvents:source"] == "ilmo/streaming"
    assert provisioned.headers["cloudEvents:subject"] == str(registration.registration_id)
    assert provisioned.correlation_id == "register-42"
    assert provisioned.delivery_mode == 2
    path = watch_path(data["url"])
    token = path.rsplit("/", 1)[1]

    # A week before: a page saying when it opens, in the event's time zone.
    early = await streaming.http.get(path)
    assert early.status_code == 403
    assert early.headers["cache-control"] == "no-store"
    assert int(early.headers["retry-after"]) == int((OPENS - streaming.clock.now).total_seconds())
    assert "klo 11.30 (Suomen aikaa)" in early.text  # 8.30 UTC is 11.30 in Helsinki
    assert token not in early.text

    # At opening and inside the window: to the stream.
    for moment in (OPENS, INSIDE, CLOSES - timedelta(seconds=1)):
        streaming.clock.now = moment
        joined = await streaming.http.get(path)
        assert joined.status_code == 302, (moment, joined.text)
        assert joined.headers["location"] == STREAM_URL
        assert joined.headers["cache-control"] == "no-store"

    # A tampered token, or a made-up one, is not found.
    tampered = path[:-1] + ("A" if path[-1] != "A" else "B")
    assert (await streaming.http.get(tampered)).status_code == 404
    assert (await streaming.http.get(f"/watch/{uuid.uuid4()}")).status_code == 404
    assert (await streaming.http.get("/watch/" + "x" * 500)).status_code == 404

    # After the window: it has ended.
    streaming.clock.now = CLOSES
    ended = await streaming.http.get(path)
    assert ended.status_code == 403
    assert "The stream has ended" in ended.text
    assert "retry-after" not in ended.headers

    # Cancelled: one revocation, and the link is gone.
    streaming.clock.now = INSIDE
    await publish(streaming.publisher, cancelled(registration))
    both = await streaming.link_events(registration.registration_id, 2)
    revoked = both[1]
    assert revoked.routing_key == "stream.link.revoked"
    assert revoked.data["event_id"] == event_id
    gone = await streaming.http.get(path)
    assert gone.status_code == 410
    assert token not in gone.text

    # A redelivered cancellation changes nothing.
    await publish(streaming.publisher, cancelled(registration))
    await streaming.settled()
    assert len(streaming.seen(registration.registration_id)) == 2

    counts = await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")
    assert counts.status_code == 200
    assert counts.json() == {
        "event_id": event_id,
        "provisioned": 0,
        "revoked": 1,
        "pending": 0,
        "watched": 1,  # it led to the stream before it was revoked
        "opens_at": OPENS.isoformat().replace("+00:00", "Z"),
        "closes_at": CLOSES.isoformat().replace("+00:00", "Z"),
        "joins": 3,  # the three moments within the window that got the stream
    }

    # Stored: state and times, no token, no outbox left behind.
    stored = await mongo[streaming.database_name]["stream_links"].find_one(
        {"_id": str(registration.registration_id)}
    )
    assert stored is not None
    assert stored["state"] == "revoked"
    assert stored["event_id"] == event_id
    assert stored[OUTBOX_FIELD] == []
    assert token not in str(stored)

    metrics = (await streaming.operations.get("/metrics")).text
    for outcome in ("redirected", "not_open_yet", "ended", "revoked"):
        assert f'ilmo_streaming_joins_total{{event_id="{event_id}",outcome="{outcome}"}}' in metrics
    assert 'ilmo_streaming_joins_total{event_id="unknown",outcome="unknown"}' in metrics
    assert token not in metrics
    assert str(registration.registration_id) not in metrics


async def test_event_updates_move_the_window_and_the_stream_older_revisions_do_not(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    registration = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, registration)
    path = watch_path(await provisioned_url(streaming, registration.registration_id))

    moved = event_details(event_id, 10, revision=2).model_copy(
        update={
            "starts_at": STARTS_AT + timedelta(days=1),
            "ends_at": STARTS_AT + timedelta(days=1, hours=3),
            "stream_url": "https://stream.example.fi/moved",
            "stream_opens_minutes_before": 60,
        }
    )
    await publish(streaming.publisher, moved)
    await streaming.handled()
    await publish(streaming.publisher, event_details(event_id, 10, revision=1))  # stale
    await streaming.settled()

    streaming.clock.now = INSIDE  # inside the old window, before the new one
    early = await streaming.http.get(path)
    assert early.status_code == 403
    assert int(early.headers["retry-after"]) == int(
        (STARTS_AT + timedelta(days=1, hours=-1) - INSIDE).total_seconds()
    )
    streaming.clock.now = STARTS_AT + timedelta(days=1, minutes=-45)
    joined = await streaming.http.get(path)
    assert joined.status_code == 302
    assert joined.headers["location"] == "https://stream.example.fi/moved"
    # The link was announced once; the move is the event's own news.
    assert len(streaming.seen(registration.registration_id)) == 1


async def test_an_in_person_registrant_gets_a_link_when_waitlisted_and_keeps_it_with_a_seat(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 1))
    seated = accepted(event_id, attendance=Attendance.IN_PERSON)
    waiting = accepted(event_id, attendance=Attendance.IN_PERSON)
    for registration in (seated, waiting):
        await publish(streaming.publisher, registration)
    await publish(streaming.publisher, reserved(seated))
    await publish(streaming.publisher, waitlisted(waiting))

    path = watch_path(await provisioned_url(streaming, waiting.registration_id))
    streaming.clock.now = INSIDE
    assert (await streaming.http.get(path)).status_code == 302

    # Promoted to a seat (also redelivered): the link is kept, nothing is announced.
    await publish(streaming.publisher, reserved(waiting, promoted=True), times=2)
    await publish(streaming.publisher, waitlisted(waiting, position=1))  # republished, new id
    await streaming.settled()
    assert [m.routing_key for m in streaming.seen(waiting.registration_id)] == [
        "stream.link.provisioned"
    ]
    assert (await streaming.http.get(path)).status_code == 302

    # The one with a seat from the start never got a link.
    assert streaming.seen(seated.registration_id) == []
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["revoked"], counts["pending"]) == (1, 0, 0)

    # Unless they cancel.
    await publish(streaming.publisher, cancelled(waiting))
    [_, revoked] = await streaming.link_events(waiting.registration_id, 2)
    assert revoked.routing_key == "stream.link.revoked"
    assert (await streaming.http.get(path)).status_code == 410


async def test_the_same_acceptance_delivered_three_times_gives_one_link(
    streaming: RunningStreaming, mongo: AsyncMongoClient[Document]
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    registration = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, registration, times=3)  # same envelope id and body
    await publish(streaming.publisher, registration)  # same body, republished with a new id
    sentinel = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, sentinel)

    await streaming.link_events(sentinel.registration_id, 1)
    await streaming.settled()
    [provisioned] = streaming.seen(registration.registration_id)
    assert provisioned.routing_key == "stream.link.provisioned"
    assert streaming.deliveries(registration.registration_id, "stream.link.provisioned") == 1
    links = mongo[streaming.database_name]["stream_links"]
    assert await links.count_documents({"_id": str(registration.registration_id)}) == 1
    assert await links.count_documents({"event_id": event_id}) == 2


async def test_many_registrations_at_once_each_get_exactly_one_link(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    people = [accepted(event_id, attendance=Attendance.REMOTE) for _ in range(30)]
    # Registrations race the event's details and their own redeliveries.
    await asyncio.gather(
        *(publish(streaming.publisher, person, times=2) for person in people[:15]),
        publish(streaming.publisher, event_details(event_id, 10)),
        *(publish(streaming.publisher, person, times=2) for person in people[15:]),
    )
    for person in people:
        await streaming.link_events(person.registration_id, 1)
    await streaming.settled()
    urls = set()
    for person in people:
        [message] = streaming.seen(person.registration_id)
        assert streaming.deliveries(person.registration_id, "stream.link.provisioned") == 1
        urls.add(message.data["url"])
    assert len(urls) == 30
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["pending"]) == (30, 0)


async def test_a_registration_before_the_events_details_is_provisioned_when_they_arrive(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    registration = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, registration)

    async def pending() -> bool:
        response = await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")
        return response.status_code == 200 and response.json()["pending"] == 1

    await eventually(pending, what=f"{registration.registration_id} recorded as pending")
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["opens_at"], counts["closes_at"]) == (None, None)
    assert streaming.seen(registration.registration_id) == []

    await publish(streaming.publisher, event_details(event_id, 10))
    path = watch_path(await provisioned_url(streaming, registration.registration_id))
    streaming.clock.now = INSIDE
    assert (await streaming.http.get(path)).status_code == 302


async def test_a_cancellation_seen_before_the_acceptance_means_no_link_ever(
    streaming: RunningStreaming, mongo: AsyncMongoClient[Document]
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 1))
    remote = accepted(event_id, attendance=Attendance.REMOTE)
    in_person = accepted(event_id, attendance=Attendance.IN_PERSON)
    await publish(streaming.publisher, cancelled(remote))
    await publish(streaming.publisher, cancelled(in_person))
    links = mongo[streaming.database_name]["stream_links"]

    async def tombstones() -> bool:
        return await links.count_documents({"event_id": event_id, "state": "revoked"}) >= 2

    await eventually(tombstones, what="both tombstones stored")

    # The messages crossed: acceptance and waitlisting arrive late (and repeatedly).
    await publish(streaming.publisher, remote, times=2)
    await publish(streaming.publisher, in_person)
    await publish(streaming.publisher, waitlisted(in_person), times=2)
    sentinel = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, sentinel)
    await streaming.link_events(sentinel.registration_id, 1)
    await streaming.settled()

    assert streaming.seen(remote.registration_id) == []
    assert streaming.seen(in_person.registration_id) == []
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["revoked"], counts["pending"]) == (1, 0, 0)


async def test_unknown_events_are_a_404_problem_and_operations_endpoints_answer(
    streaming: RunningStreaming,
) -> None:
    response = await streaming.operations.get(f"/api/v1/events/{new_event_id()}/stream-links")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/event-not-found"
    assert (
        await streaming.operations.get(f"/api/v1/events/{'x' * 300}/stream-links")
    ).status_code == 404

    ready = await streaming.operations.get("/health/ready")
    assert ready.status_code == 200, ready.text
    public_api = (await streaming.operations.get("/openapi.json")).json()
    assert "/watch/{token}" in public_api["paths"]
    assert "/api/v1/events/{event_id}/stream-links" not in public_api["paths"]
    operator_routes = (await streaming.operations.get("/operations/openapi.json")).json()
    assert "/api/v1/events/{event_id}/stream-links" in operator_routes["paths"]
    assert "/watch/{token}" not in operator_routes["paths"]


async def test_the_public_listener_serves_the_links_and_nothing_for_operators(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    # The operations listener knows the event: a 404 below is the listener's, not the event's.
    await eventually(lambda: window_known(streaming, event_id), what=f"the window of {event_id}")

    for path in (f"/api/v1/events/{event_id}/stream-links", "/metrics", "/openapi.json", "/docs"):
        response = await streaming.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["type"] == "/problems/not-found", path
    assert (await streaming.http.get("/health/ready")).status_code == 200


async def test_what_fails_under_watch_before_the_route_answers_is_a_page_too(
    streaming: RunningStreaming,
) -> None:
    """A person opened the link: a wrong method or a longer path gets a page, not JSON."""
    token = "A" * TOKEN_LENGTH
    wrong_method = await streaming.http.post(f"/watch/{token}")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET"
    assert wrong_method.headers["content-type"].startswith("text/html")
    assert wrong_method.headers["cache-control"] == "no-store"
    assert "Something went wrong" in wrong_method.text
    longer = await streaming.http.get(f"/watch/{token}/more")
    assert longer.status_code == 404
    assert longer.headers["content-type"].startswith("text/html")
    assert "Link not found" in longer.text
    # The operators' API keeps answering problem details.
    operator = await streaming.operations.post(f"/api/v1/events/{new_event_id()}/stream-links")
    assert operator.status_code == 405
    assert operator.headers["content-type"] == "application/problem+json"


async def test_each_switch_to_remote_announces_the_link_once_and_older_switches_do_nothing(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 1))
    switcher = accepted(event_id, attendance=Attendance.IN_PERSON)
    await publish(streaming.publisher, switcher)

    # To remote (version 2), twice delivered: a new link, announced once for version 2.
    await publish(streaming.publisher, switched(switcher, Attendance.REMOTE, 2), times=2)
    [first] = await streaming.link_events(switcher.registration_id, 1)
    assert (first.routing_key, first.data["attendance_version"]) == (
        "stream.link.provisioned",
        2,
    )
    path = watch_path(first.data["url"])

    # Back on site (version 3): the link is kept and nothing is announced; remote
    # again (version 4): the kept link announced for it. Then version 6 (remote)
    # overtakes version 5 (on site), which is stale, as is a late copy of version 2.
    await publish(streaming.publisher, switched(switcher, Attendance.IN_PERSON, 3))
    await publish(streaming.publisher, switched(switcher, Attendance.REMOTE, 4))
    await streaming.link_events(switcher.registration_id, 2)
    await publish(streaming.publisher, switched(switcher, Attendance.REMOTE, 6))
    await streaming.link_events(switcher.registration_id, 3)
    await publish(streaming.publisher, switched(switcher, Attendance.IN_PERSON, 5))
    await publish(streaming.publisher, switched(switcher, Attendance.REMOTE, 2))
    await streaming.settled()
    announced = streaming.seen(switcher.registration_id)
    assert [(m.routing_key, m.data["attendance_version"]) for m in announced] == [
        ("stream.link.provisioned", 2),
        ("stream.link.provisioned", 4),
        ("stream.link.provisioned", 6),
    ]
    assert len({m.message_id for m in announced}) == 3
    assert {m.data["url"] for m in announced} == {first.data["url"]}  # the same link, kept
    streaming.clock.now = INSIDE
    assert (await streaming.http.get(path)).status_code == 302


def cancellation_of(details: EventDetails) -> EventCancelled:
    """``event.cancelled`` as registration publishes it: the whole details, cancelled_at set."""
    return EventCancelled.model_validate(
        {
            **details.model_dump(),
            "revision": details.revision + 1,
            "cancelled_at": STARTS_AT - timedelta(days=3),
        }
    )


async def test_after_event_cancelled_every_link_answers_410_and_no_link_is_provisioned(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    details = event_details(event_id, 10)
    await publish(streaming.publisher, details)
    watcher = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, watcher)
    path = watch_path(await provisioned_url(streaming, watcher.registration_id))
    streaming.clock.now = INSIDE
    assert (await streaming.http.get(path)).status_code == 302

    await publish(streaming.publisher, cancellation_of(details))
    await streaming.handled()
    gone = await streaming.http.get(path)
    assert gone.status_code == 410
    assert gone.headers["cache-control"] == "no-store"
    assert "Tilaisuus on peruttu" in gone.text
    assert "Evenemanget har ställts in" in gone.text
    assert "This event has been cancelled" in gone.text
    assert path.rsplit("/", 1)[1] not in gone.text

    # Registrations crossing the cancellation get no link, and an older revision
    # arriving late does not bring the event back.
    late = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, late)
    await publish(streaming.publisher, event_details(event_id, 10, revision=1))
    await streaming.settled()
    assert streaming.seen(late.registration_id) == []
    assert (await streaming.http.get(path)).status_code == 410
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["pending"], counts["watched"]) == (1, 0, 1)
    metrics = (await streaming.operations.get("/metrics")).text
    assert f'ilmo_streaming_joins_total{{event_id="{event_id}",outcome="cancelled"}}' in metrics


async def test_a_link_pending_when_the_event_is_cancelled_is_never_provisioned(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    early = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, early)

    async def pending() -> bool:
        response = await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")
        return response.status_code == 200 and response.json()["pending"] == 1

    await eventually(pending, what=f"{early.registration_id} recorded as pending")
    # The first details streaming hears of are the cancellation.
    await publish(streaming.publisher, cancellation_of(event_details(event_id, 10)))
    sentinel = accepted(new_event_id(), attendance=Attendance.REMOTE)
    await publish(streaming.publisher, event_details(sentinel.event_id, 10))
    await publish(streaming.publisher, sentinel)
    await streaming.link_events(sentinel.registration_id, 1)
    await streaming.settled()
    assert streaming.seen(early.registration_id) == []
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["pending"]) == (0, 1)


async def test_a_window_moved_earlier_closes_the_links_earlier(
    streaming: RunningStreaming,
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    registration = accepted(event_id, attendance=Attendance.REMOTE)
    await publish(streaming.publisher, registration)
    path = watch_path(await provisioned_url(streaming, registration.registration_id))
    streaming.clock.now = INSIDE + timedelta(hours=2)  # inside the first window
    assert (await streaming.http.get(path)).status_code == 302

    shortened = event_details(event_id, 10, revision=2).model_copy(
        update={"ends_at": STARTS_AT + timedelta(hours=1), "stream_closes_minutes_after": 0}
    )
    await publish(streaming.publisher, shortened)
    await streaming.settled()
    ended = await streaming.http.get(path)
    assert ended.status_code == 403
    assert "The stream has ended" in ended.text
    streaming.clock.now = STARTS_AT + timedelta(minutes=59)
    assert (await streaming.http.get(path)).status_code == 302


async def test_the_first_join_is_announced_once_in_both_forms_and_the_last_join_kept(
    streaming: RunningStreaming, infrastructure: IsolatedInfrastructure
) -> None:
    event_id = new_event_id()
    await publish(streaming.publisher, event_details(event_id, 10))
    viewer, idle = (accepted(event_id, attendance=Attendance.REMOTE) for _ in range(2))
    await publish(streaming.publisher, viewer)
    await publish(streaming.publisher, idle)
    path = watch_path(await provisioned_url(streaming, viewer.registration_id))
    await streaming.link_events(idle.registration_id, 1)

    async with event_tap(
        infrastructure.amqp_url, "stream.joined", exchange="ilmo.events"
    ) as public:
        # Two first joins at once (two tabs), then one more a while later.
        streaming.clock.now = INSIDE
        both = await asyncio.gather(streaming.http.get(path), streaming.http.get(path))
        assert [r.status_code for r in both] == [302, 302]
        streaming.clock.now = INSIDE + timedelta(minutes=20)
        assert (await streaming.http.get(path)).status_code == 302
        await streaming.settled()

        # Once on the wire: envelope ids are derived, so a second write would hide
        # behind the same id; count the deliveries, not the ids.
        assert streaming.deliveries(viewer.registration_id, "stream.joined") == 1
        [first] = joins(streaming, viewer.registration_id)
        assert first.data["event_id"] == event_id
        assert first.data["joined_at"].startswith(INSIDE.isoformat().replace("+00:00", ""))
        assert first.headers["cloudEvents:source"] == "ilmo/streaming"
        assert first.delivery_mode == 2

        async def announced() -> bool:
            await public.take_arrived()
            return any(
                m.data.get("registration_id") == str(viewer.registration_id)
                for m in public.messages
            )

        await eventually(announced, what="stream.joined on ilmo.events")
        integration = [
            m
            for m in public.messages
            if m.data.get("registration_id") == str(viewer.registration_id)
        ]
        assert len(integration) == 1
        assert set(integration[0].data) == {"registration_id", "event_id", "joined_at"}

    stored = await streaming.database["stream_links"].find_one({"_id": str(viewer.registration_id)})
    assert stored is not None
    assert stored["first_joined_at"] == INSIDE
    assert stored["last_joined_at"] == INSIDE + timedelta(minutes=20)
    counts = (await streaming.operations.get(f"/api/v1/events/{event_id}/stream-links")).json()
    assert (counts["provisioned"], counts["watched"], counts["joins"]) == (2, 1, 3)
    assert joins(streaming, idle.registration_id) == []


def joins(streaming: RunningStreaming, registration_id: uuid.UUID) -> list[ObservedMessage]:
    """``stream.joined`` about the registration on ``ilmo.internal``, each envelope id once."""
    first: dict[str | None, ObservedMessage] = {}
    for m in streaming.tap.messages:
        if m.routing_key == "stream.joined" and m.data.get("registration_id") == str(
            registration_id
        ):
            first.setdefault(m.message_id, m)
    return list(first.values())

"""Reminders, notices and organiser messages: notification in-process on a movable clock.

Against the real broker, database and an SMTP server. Events go in as their
producers publish them; the schedule, the roster and the mails are read from
the service's own database, the mails also at the SMTP server, and the
console's view from the operations API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from ilmo_event_contracts import (
    Attendance,
    Audience,
    ErasureReason,
    EventCancelled,
    EventDetails,
    EventUpdated,
    InternalEvent,
    LocalizedText,
    MessageRequested,
    NotificationKind,
    RegistrationAccepted,
    RegistrationErased,
    StreamLinkProvisioned,
)
from ilmo_notification.app import build_app
from ilmo_notification.broadcasting import BroadcastState
from ilmo_notification.domain import CLOSED_STATES, MailRequest, mail_id
from ilmo_notification.scheduler import BroadcastScheduler
from ilmo_notification.storage import MailStore, NotificationStores
from ilmo_notification.usecases import Broadcasts
from ilmo_shared.storage import Document
from tests.integration.test_notification_service import (
    EMAILS_QUEUE,
    new_database,
    settings_for,
)
from tests.support.amqp import purge_queue
from tests.support.capacity import cancelled, publish, reserved, waitlisted
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import operations_client, serving
from tests.support.notification import STARTS_AT, accepted, notification_stores, seminar
from tests.support.polling import eventually
from tests.support.producers import CountingPublisher, counting_publisher
from tests.support.registration import MovableClock
from tests.support.settling import Inflow
from tests.support.smtp import SmtpTestServer, smtp_server


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# Two days before the seminar: every reminder is ahead.
BEFORE = STARTS_AT - timedelta(days=2)
DAY_BEFORE = STARTS_AT - timedelta(days=1)
CLOSED = [state.value for state in CLOSED_STATES]


@dataclass
class Broadcasting:
    app: FastAPI
    publisher: CountingPublisher
    inflow: Inflow
    database: AsyncDatabase[Document]
    operations: httpx.AsyncClient
    clock: MovableClock
    smtp: SmtpTestServer

    async def send(self, *events: InternalEvent) -> None:
        """Publish as the producers do, and wait until the service has handled them."""
        for event in events:
            await publish(self.publisher, event)
        await self.inflow.all_finished()

    def registrant(
        self, event_id: str, attendance: Attendance = Attendance.IN_PERSON
    ) -> RegistrationAccepted:
        """Someone accepted now (on the test's clock)."""
        return accepted(event_id, attendance=attendance).model_copy(
            update={"registered_at": self.clock.now}
        )

    def move_to(self, moment: datetime) -> None:
        self.clock.now = moment
        self.app.state.scheduler.wake()
        self.app.state.dispatcher.wake()

    async def schedule(self) -> dict[str, Document]:
        return {str(d["_id"]): d async for d in self.database["schedule"].find({})}

    async def outcome(self, key: str) -> Document:
        """The broadcast's record once it has happened (done, missed or dropped)."""

        async def final() -> Document | None:
            record = await self.database["broadcasts"].find_one({"_id": key})
            return record if record is not None and record["state"] != "expanding" else None

        return await eventually(final, what=f"broadcast {key} to happen", interval=0.05)

    async def mails(self, kind: NotificationKind, occasion: str = "") -> list[Document]:
        """The mails of a kind and occasion, once every one of them is done with."""
        selector = {"kind": kind.value, "occasion": occasion}

        async def all_closed() -> list[Document] | None:
            found = [d async for d in self.database["mails"].find(selector)]
            return found if all(d["state"] in CLOSED for d in found) else None

        return await eventually(all_closed, what=f"{kind} {occasion} mails done", interval=0.05)

    def at_smtp(self, mail: Document) -> int:
        """How many copies of a recorded mail the SMTP server received (by its Message-ID)."""
        occasion = f".{mail['occasion']}" if mail["occasion"] else ""
        wanted = f"<{mail['registration_id']}.{mail['kind']}{occasion}@"
        received = self.smtp.matching(registration_id=str(mail["registration_id"]))
        return sum(1 for m in received if (m.message_id or "").strip().startswith(wanted))


@asynccontextmanager
async def broadcasting(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AsyncIterator[Broadcasting]:
    database = new_database(infrastructure)
    clock = MovableClock(BEFORE)
    await purge_queue(infrastructure.amqp_url, EMAILS_QUEUE)
    with smtp_server() as smtp:
        settings = settings_for(infrastructure, smtp, database, schedule_poll_seconds=0.2)
        app = build_app(settings, clock=clock)
        async with (
            counting_publisher(infrastructure) as publisher,
            serving(app),
            operations_client(app, "http://notification-operations") as operations,
        ):
            yield Broadcasting(
                app,
                publisher,
                Inflow(EMAILS_QUEUE, publisher),
                mongo[database],
                operations,
                clock,
                smtp,
            )


def link_for(registration: RegistrationAccepted) -> StreamLinkProvisioned:
    return StreamLinkProvisioned(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        url=f"https://watch.example.fi/w/{uuid.uuid4().hex}",
        valid_from=STARTS_AT - timedelta(minutes=30),
        valid_until=STARTS_AT + timedelta(hours=5),
    )


def ids(registrations: Iterable[RegistrationAccepted]) -> set[str]:
    return {str(r.registration_id) for r in registrations}


def assert_once_each(
    service: Broadcasting, mails: list[Document], expected: set[str], kind: NotificationKind
) -> None:
    """One mail per expected recipient, none to anyone else; each sent, and received once."""
    recipients = [str(m["registration_id"]) for m in mails]
    assert sorted(recipients) == sorted(expected)
    for mail in mails:
        assert mail["_id"] == mail_id(str(mail["registration_id"]), kind, mail["occasion"])
        assert mail["state"] == "sent"
        assert service.at_smtp(mail) == 1


def updated(event: EventDetails, revision: int, **changes: Any) -> EventUpdated:
    return EventUpdated.model_validate({**event.model_dump(), **changes, "revision": revision})


# ---------------------------------------------------------------- reminders


async def test_reminders_fire_once_per_person_to_their_audience_and_never_late(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        seated = service.registrant(e)
        waiting = service.registrant(e)
        remote = service.registrant(e, Attendance.REMOTE)
        gone = service.registrant(e, Attendance.REMOTE)
        await service.send(
            event,
            seated,
            reserved(seated),
            waiting,
            waitlisted(waiting),
            link_for(waiting),
            remote,
            link_for(remote),
            gone,
            cancelled(gone),
        )
        scheduled = await service.schedule()
        assert set(scheduled) == {f"{e}:reminder:m1440", f"{e}:reminder:m30", f"{e}:thank_you"}

        service.move_to(DAY_BEFORE + timedelta(seconds=1))
        day_before = await service.outcome(f"{e}:reminder:m1440")
        # Registered after the reminder's time: no late reminder.
        late = service.registrant(e, Attendance.REMOTE)
        await service.send(late, link_for(late))
        # Asked again (a repeat of the revision, the scheduler woken): nothing new.
        await service.send(event)
        service.move_to(DAY_BEFORE + timedelta(minutes=1))
        await service.app.state.scheduler.run_due()
        day_mails = await service.mails(NotificationKind.REMINDER, "m1440")

        service.move_to(STARTS_AT - timedelta(minutes=29))
        half_hour = await service.outcome(f"{e}:reminder:m30")
        half_hour_mails = await service.mails(NotificationKind.REMINDER, "m30")
        schedule = (await service.operations.get(f"/api/v1/events/{e}/schedule")).json()
        # Every mail sent: the counts are kept, and read back the same.
        again = (await service.operations.get(f"/api/v1/events/{e}/schedule")).json()
        settled = await service.outcome(f"{e}:reminder:m1440")
        left = await service.schedule()

    assert day_before["state"] == "done"
    assert set(day_before["recipients"]) == ids([seated, waiting, remote])
    assert_once_each(service, day_mails, ids([seated, waiting, remote]), NotificationKind.REMINDER)
    roles = {str(m["registration_id"]): m["details"]["role"] for m in day_mails}
    assert roles == {
        str(seated.registration_id): "seat",
        str(waiting.registration_id): "waiting_list",
        str(remote.registration_id): "remote",
    }
    links = {str(m["registration_id"]): m["details"]["stream_link"] for m in day_mails}
    assert links[str(seated.registration_id)] is None
    assert links[str(remote.registration_id)]["url"].startswith("https://watch.example.fi/w/")
    assert {m["details"]["minutes_before"] for m in day_mails} == {1440}
    # The stream's audience: remote and waiting list, including the one who
    # registered after the first reminder but before this one.
    assert half_hour["state"] == "done"
    stream = ids([waiting, remote, late])
    assert_once_each(service, half_hour_mails, stream, NotificationKind.REMINDER)
    assert set(left) == {f"{e}:thank_you"}
    assert again == schedule
    assert settled["delivery"] == {
        "recipients": 3,
        "sent": 3,
        "failed": 0,
        "pending": 0,
        "skipped": 0,
    }
    items = {item["key"]: item for item in schedule["items"]}
    assert items[f"{e}:reminder:m1440"]["state"] == "done"
    assert items[f"{e}:reminder:m1440"]["recipients"] == 3
    assert items[f"{e}:reminder:m30"]["recipients"] == 3
    assert items[f"{e}:thank_you"]["state"] == "scheduled"
    assert items[f"{e}:thank_you"]["recipients"] is None


async def test_a_change_of_time_moves_the_reminders_and_tells_everyone_what_changed(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        seated = service.registrant(e)
        remote = service.registrant(e, Attendance.REMOTE)
        await service.send(event, seated, reserved(seated), remote, link_for(remote))
        later = STARTS_AT + timedelta(hours=3)
        moved = updated(event, 2, starts_at=later, ends_at=later + timedelta(hours=3))
        await service.send(moved)
        notice = await service.outcome(f"{e}:event_changed:r2")
        notices = await service.mails(NotificationKind.EVENT_CHANGED, "r2")
        after_move = await service.schedule()
        # A late, older revision changes nothing.
        await service.send(event)
        after_late_revision = await service.schedule()

        # The old reminder time passes: nothing; the new one: the reminder.
        service.move_to(DAY_BEFORE + timedelta(minutes=1))
        await service.app.state.scheduler.run_due()
        before_new_time = await service.database["broadcasts"].find_one(
            {"_id": f"{e}:reminder:m1440"}
        )
        service.move_to(later - timedelta(days=1) + timedelta(seconds=1))
        reminder = await service.outcome(f"{e}:reminder:m1440")

    assert notice["state"] == "done"
    assert_once_each(service, notices, ids([seated, remote]), NotificationKind.EVENT_CHANGED)
    [details] = {str(m["details"]["changes"]) for m in notices}
    assert details == "['time']"
    previous = notices[0]["details"]["previous"]
    assert previous["starts_at"].replace(tzinfo=None) == STARTS_AT.replace(tzinfo=None)
    assert previous["venue_address"] == event.venue.address
    reminder_due = after_move[f"{e}:reminder:m1440"]["due_at"]
    assert reminder_due == later - timedelta(days=1)
    assert after_late_revision[f"{e}:reminder:m1440"]["due_at"] == reminder_due
    assert f"{e}:event_changed:r1" not in after_late_revision
    assert before_new_time is None
    assert reminder["state"] == "done"
    assert set(reminder["recipients"]) == ids([seated, remote])


async def test_after_a_long_outage_reminders_are_missed_and_the_thank_you_still_goes(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    missed_before = sample("ilmo_broadcasts_total", {"kind": "reminder", "outcome": "missed"})
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        remote = service.registrant(e, Attendance.REMOTE)
        gone = service.registrant(e, Attendance.REMOTE)
        await service.send(event, remote, link_for(remote), gone, cancelled(gone))
        # As if the service had been down from before the reminders until after the start.
        service.move_to(STARTS_AT + timedelta(minutes=5))
        day_before = await service.outcome(f"{e}:reminder:m1440")
        half_hour = await service.outcome(f"{e}:reminder:m30")
        reminders = [d async for d in service.database["mails"].find({"kind": "reminder"})]
        # And on until after the event: the thank-you is late, but it goes.
        service.move_to(event.ends_at + timedelta(hours=5))
        thanks = await service.outcome(f"{e}:thank_you")
        thank_you_mails = await service.mails(NotificationKind.THANK_YOU)
    missed_after = sample("ilmo_broadcasts_total", {"kind": "reminder", "outcome": "missed"})

    assert (day_before["state"], half_hour["state"]) == ("missed", "missed")
    assert missed_after - missed_before == 2
    assert reminders == []
    assert thanks["state"] == "done"
    assert_once_each(service, thank_you_mails, ids([remote]), NotificationKind.THANK_YOU)


async def test_a_reminder_taken_off_the_event_or_moved_into_the_past_leaves_the_schedule(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        await service.send(event)
        first = set(await service.schedule())
        only_one = updated(event, 2, reminders=[{"minutes_before": 30, "audience": "stream"}])
        await service.send(only_one)
        second = set(await service.schedule())
        # Moved so close that even the half-hour reminder's time has passed.
        soon = service.clock.now + timedelta(minutes=10)
        await service.send(updated(only_one, 3, starts_at=soon, ends_at=soon + timedelta(hours=3)))
        third = await service.schedule()

    assert first == {f"{e}:reminder:m1440", f"{e}:reminder:m30", f"{e}:thank_you"}
    assert second == {f"{e}:reminder:m30", f"{e}:thank_you"}
    # (The change notice of revision 3 may be on it too, due now.)
    assert {key for key in third if ":event_changed:" not in key} == {f"{e}:thank_you"}


# ---------------------------------------------------------------- cancellation


async def test_cancelling_the_event_drops_what_was_to_come_and_tells_everyone_active(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        seated = service.registrant(e)
        remote = service.registrant(e, Attendance.REMOTE)
        gone = service.registrant(e)
        await service.send(event, seated, reserved(seated), remote, gone, cancelled(gone))
        called_off = EventCancelled.model_validate(
            {**event.model_dump(), "revision": 2, "cancelled_at": service.clock.now}
        )
        await service.send(called_off)
        notice = await service.outcome(f"{e}:event_cancelled")
        notices = await service.mails(NotificationKind.EVENT_CANCELLED)
        # Delivered again: nothing new.
        await service.send(called_off)
        left = await service.schedule()
        dropped = await service.outcome(f"{e}:reminder:m1440")
        # Past the reminder's time nothing goes.
        service.move_to(DAY_BEFORE + timedelta(minutes=1))
        await service.app.state.scheduler.run_due()
        reminders = [d async for d in service.database["mails"].find({"kind": "reminder"})]

    assert notice["state"] == "done"
    assert_once_each(service, notices, ids([seated, remote]), NotificationKind.EVENT_CANCELLED)
    assert left == {}
    assert dropped["state"] == "dropped"
    assert reminders == []


# ---------------------------------------------------------------- organiser messages


async def test_a_message_sent_twice_reaches_each_recipient_once_and_its_progress_shows(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        seated = service.registrant(e)
        waiting = service.registrant(e)
        remote = service.registrant(e, Attendance.REMOTE)
        await service.send(event, seated, reserved(seated), waiting, waitlisted(waiting), remote)
        sizes = {
            audience: (
                await service.operations.get(
                    f"/api/v1/events/{e}/audience", params={"audience": audience.value}
                )
            ).json()["recipients"]
            for audience in Audience
        }
        message_id = uuid.uuid4()
        unknown = await service.operations.get(f"/api/v1/messages/{message_id}")
        message = MessageRequested(
            message_id=message_id,
            event_id=e,
            audience=Audience.STREAM,
            title=LocalizedText(fi="Striimin muutos", en="Stream change"),
            body=LocalizedText(fi="Striimi alkaa klo 9.15.", en="The stream starts at 9.15."),
            requested_at=service.clock.now,
        )
        # Pressed twice: two messages with the same message_id.
        await service.send(message, message)
        record = await service.outcome(f"message:{message_id}")
        await service.send(message)
        mails = await service.mails(NotificationKind.ORGANISER_MESSAGE, str(message_id))
        progress = (await service.operations.get(f"/api/v1/messages/{message_id}")).json()
        listed = await service.app.state.broadcasts.broadcast_mail_ids(str(remote.registration_id))

    assert sizes == {
        Audience.ALL: 3,
        Audience.ON_SITE: 1,
        Audience.REMOTE: 1,
        Audience.WAITING_LIST: 1,
        Audience.STREAM: 2,
    }
    assert unknown.status_code == 404
    # A registration's mails (the console's list) include those of broadcasts.
    assert f"{remote.registration_id}:organiser_message:{message_id}" in listed
    assert record["state"] == "done"
    assert_once_each(service, mails, ids([waiting, remote]), NotificationKind.ORGANISER_MESSAGE)
    details = mails[0]["details"]
    assert details["title"] == {
        "fi": "Striimin muutos",
        "sv": "Striimin muutos",
        "en": "Stream change",
    }
    assert details["message_id"] == str(message_id)
    assert progress == {
        "message_id": str(message_id),
        "event_id": e,
        "audience": "stream",
        "state": "done",
        "recipients": 2,
        "sent": 2,
        "failed": 0,
        "pending": 0,
        "skipped": 0,
    }


# ---------------------------------------------------------------- a crash midway


class CrashingMails(MailStore):
    """A mail store whose process "dies" (raises) after recording ``survive`` intents."""

    def __init__(self, *args: Any, survive: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left = survive

    async def record_intent(
        self, request: MailRequest, *, cause: str, correlation_id: str | None = None
    ) -> bool:
        if self.left <= 0:
            raise ConnectionFailure("the process died here")
        self.left -= 1
        return await super().record_intent(request, cause=cause, correlation_id=correlation_id)


async def stores_in_a_new_database(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document], clock: MovableClock
) -> tuple[AsyncDatabase[Document], NotificationStores]:
    """Notification's stores, with their indexes, on a database of this test's own."""
    database = mongo[new_database(infrastructure)]
    stores = notification_stores(database, clock=clock)
    await stores.create_indexes()
    return database, stores


async def test_a_broadcast_interrupted_midway_is_finished_by_the_next_pass_once_per_person(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    clock = MovableClock(BEFORE)
    database, stores = await stores_in_a_new_database(infrastructure, mongo, clock)
    broadcasts = Broadcasts(stores, lambda: None, clock)
    event = seminar()
    people = [
        accepted(event.event_id).model_copy(update={"registered_at": BEFORE}) for _ in range(40)
    ]
    await stores.event_details.remember(event)
    await broadcasts.event_details_changed(event)
    for person in people:
        await broadcasts.registration_accepted(person)
    crashing = replace(
        stores,
        mails=CrashingMails(
            database, outbox=stores.mails._outbox, locks=stores.mails._locks, clock=clock, survive=7
        ),
    )
    clock.now = DAY_BEFORE + timedelta(seconds=1)
    key = f"{event.event_id}:reminder:m1440"

    first = BroadcastScheduler(crashing, wake_dispatcher=lambda: None, clock=clock)
    try:
        await first.run_due()
    except ConnectionFailure:
        pass
    else:
        raise AssertionError("the first pass should have died midway")
    midway = await database["broadcasts"].find_one({"_id": key})
    still_scheduled = await database["schedule"].find_one({"_id": key})
    recorded_midway = await database["mails"].count_documents({"kind": "reminder"})

    second = BroadcastScheduler(stores, wake_dispatcher=lambda: None, clock=clock)
    await second.run_due()
    await second.run_due()  # and once more: nothing new
    done = await database["broadcasts"].find_one({"_id": key})
    reminders = [d async for d in database["mails"].find({"kind": "reminder", "occasion": "m1440"})]

    assert midway is not None
    assert midway["state"] == "expanding"
    assert still_scheduled is not None
    assert recorded_midway == 7
    assert done is not None
    assert done["state"] == "done"
    assert sorted(str(d["registration_id"]) for d in reminders) == sorted(ids(people))
    assert await database["schedule"].find_one({"_id": key}) is None


async def test_two_expansions_of_one_broadcast_record_everyone_either_one_mailed(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """Two replicas (or a repeat after a crash) read the roster at different moments."""
    clock = MovableClock(BEFORE)
    database, stores = await stores_in_a_new_database(infrastructure, mongo, clock)
    event = seminar()
    await stores.event_details.remember(event)
    await Broadcasts(stores, lambda: None, clock).event_details_changed(event)
    key = f"{event.event_id}:reminder:m1440"
    broadcast = await stores.schedule.entry(key)
    assert broadcast is not None
    await stores.schedule.begin(broadcast)

    await stores.schedule.finish(broadcast, BroadcastState.DONE, ["a", "b"])
    await stores.schedule.finish(broadcast, BroadcastState.DONE, ["b", "c"])

    done = await database["broadcasts"].find_one({"_id": key})
    assert done is not None
    assert sorted(done["recipients"]) == ["a", "b", "c"]
    assert done["recipient_count"] == 3


async def test_an_erased_registration_leaves_every_audience_for_good(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    async with broadcasting(infrastructure, mongo) as service:
        event = seminar()
        e = event.event_id
        kept = service.registrant(e, Attendance.REMOTE)
        erased = service.registrant(e, Attendance.REMOTE)
        await service.send(event, kept, erased, link_for(kept), link_for(erased))
        before = (await service.operations.get(f"/api/v1/events/{e}/audience")).json()
        await service.send(
            RegistrationErased(
                registration_id=erased.registration_id,
                event_id=e,
                erased_at=service.clock.now,
                erasure_reason=ErasureReason.REQUEST,
            )
        )
        # A late redelivery of the acceptance does not bring them back.
        await service.send(erased)
        after = (await service.operations.get(f"/api/v1/events/{e}/audience")).json()
        roster = [d async for d in service.database["roster"].find({"event_id": e})]

    assert (before["recipients"], after["recipients"]) == (2, 1)
    # Gone from the index and without a document of their own.
    listed = {rid for d in roster for rid in d.get("ids", {})}
    members = {d["registration_id"] for d in roster if "registration_id" in d}
    assert listed == members == {str(kept.registration_id)}

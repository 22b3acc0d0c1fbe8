"""A reminder survives the notification service being killed before it is due.

The real service process, its real broker, database and an SMTP server; the
real clock. The event starts a little over two minutes after the test
begins, with one reminder two minutes before the start, so the reminder
falls due some twenty seconds in. The service is killed with SIGKILL (no
shutdown, nothing flushed) before then and started again: the schedule is
in the database, not in a timer, so the new process sends the reminder, and
each registrant gets it exactly once.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance, Audience, Reminder, StreamLinkProvisioned
from ilmo_notification.domain import CLOSED_STATES
from ilmo_shared.storage import Document
from tests.support.capacity import publish, reserved
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.notification import accepted, seminar
from tests.support.polling import eventually
from tests.support.processes import running_services
from tests.support.producers import counting_publisher
from tests.support.smtp import smtp_server

# Long enough to publish, see the schedule and kill the service before the
# reminder is due; short enough to keep the test to about half a minute.
DUE_AFTER = timedelta(seconds=30)


async def test_a_service_killed_before_a_reminder_is_due_sends_it_once_after_a_restart(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = mongo[infrastructure.database_name("notification")]
    began = datetime.now(UTC)
    event = seminar(starts_at=began + timedelta(minutes=2) + DUE_AFTER).model_copy(
        update={
            "reminders": (Reminder(minutes_before=2, audience=Audience.ALL),),
            "thank_you_minutes_after": None,
        }
    )
    key = f"{event.event_id}:reminder:m2"
    seated = accepted(event.event_id).model_copy(update={"registered_at": began})
    remote = accepted(event.event_id, attendance=Attendance.REMOTE).model_copy(
        update={"registered_at": began}
    )
    link = StreamLinkProvisioned(
        registration_id=remote.registration_id,
        event_id=event.event_id,
        url="https://watch.example.fi/w/0123456789abcdef",
        valid_from=event.starts_at - timedelta(minutes=30),
        valid_until=event.ends_at + timedelta(minutes=30),
    )
    with (
        smtp_server() as smtp,
        running_services(
            infrastructure,
            ("notification",),
            extra_environment={
                "ILMO_SMTP_HOST": smtp.host,
                "ILMO_SMTP_PORT": str(smtp.port),
                "ILMO_SCHEDULE_POLL_SECONDS": "1",
            },
        ) as services,
    ):
        notification = services["notification"]
        async with counting_publisher(infrastructure) as publisher:
            for fact in (event, seated, reserved(seated), remote, link):
                await publish(publisher, fact)

        async def scheduled_and_known() -> bool:
            entry = await database["schedule"].find_one({"_id": key})
            # A member is a document of its own in the roster (its index documents hold ids).
            roster = [d async for d in database["roster"].find({"event_id": event.event_id})]
            members = sum(1 for d in roster if "registration_id" in d)
            return entry is not None and members == 2

        await eventually(scheduled_and_known, what="the reminder scheduled, both registrants known")
        # The first mails are out, so the process has nothing else in flight.
        await smtp.wait_for(2, registration_id=str(seated.registration_id))
        await smtp.wait_for(2, registration_id=str(remote.registration_id))

        assert notification.process is not None
        notification.process.send_signal(signal.SIGKILL)
        assert notification.process.wait(timeout=10) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        reminders_at_kill = await database["mails"].count_documents(
            {"event_id": event.event_id, "kind": "reminder"}
        )
        notification.start()
        notification.wait_ready()

        async def reminded() -> list[Document] | None:
            found = [
                d
                async for d in database["mails"].find(
                    {"event_id": event.event_id, "kind": "reminder"}
                )
            ]
            closed = [state.value for state in CLOSED_STATES]
            return found if len(found) == 2 and all(d["state"] in closed for d in found) else None

        mails = await eventually(reminded, what="both reminders done with", timeout=90)
        record = await database["broadcasts"].find_one({"_id": key})
        still_scheduled = await database["schedule"].find_one({"_id": key})

    assert killed_at < event.starts_at - timedelta(minutes=2), "killed after the reminder was due"
    assert reminders_at_kill == 0
    assert record is not None
    assert record["state"] == "done"
    assert still_scheduled is None
    assert {d["_id"] for d in mails} == {
        f"{seated.registration_id}:reminder:m2",
        f"{remote.registration_id}:reminder:m2",
    }
    for mail in mails:
        assert mail["state"] == "sent"
        received = smtp.matching(registration_id=str(mail["registration_id"]), kind="reminder")
        assert len(received) == 1

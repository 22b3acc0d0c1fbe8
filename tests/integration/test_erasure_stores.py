"""Erasure in the stores of notification and in the dead-letter queues, on the real servers.

Notification keeps a contact tombstone and mails without what they said;
a mail not sent yet is never sent, and a late acceptance or mail request
for the erased registration stores nothing. A dead-letter queue loses the
messages about an erased registration and keeps the others.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import aio_pika
from pymongo import AsyncMongoClient

from ilmo_event_contracts import ErasureReason, NotificationKind, RegistrationErased
from ilmo_notification.domain import MailRequest, MailState
from ilmo_notification.usecases import Notifications
from ilmo_shared.dead_letters import drop_parked
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.notification import accepted, notification_stores
from tests.support.polling import eventually

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


async def test_notification_erases_the_contact_and_what_its_mails_say(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    database = mongo[infrastructure.database_name("notification")]
    stores = notification_stores(database)
    notifications = Notifications(stores, wake=lambda: None)
    registration = accepted("erasure-seminar", first_name="Eino", last_name="Erasmus")
    registration_id = str(registration.registration_id)
    await notifications.registration_accepted(registration, cause="c1", correlation_id=None)
    link = MailRequest(
        registration_id,
        registration.event_id,
        NotificationKind.STREAM_LINK,
        {"url": "https://stream.example.fi/watch/secret-token"},
    )
    await notifications.ask_for(link, cause="c2", correlation_id=None)

    erased = RegistrationErased(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        erased_at=NOW,
        erasure_reason=ErasureReason.REQUEST,
    )
    await notifications.registration_erased(erased, NOW)
    await notifications.registration_erased(erased, NOW)  # a redelivery: harmless

    contact = await database["contacts"].find_one({"_id": registration_id})
    assert contact is not None
    assert set(contact) == {"_id", "event_id", "erased_at"}
    assert await stores.contacts.of([registration_id]) == {}
    mails = [d async for d in database["mails"].find({"registration_id": registration_id})]
    assert {d["kind"] for d in mails} == {"registration_received", "stream_link"}
    for mail in mails:
        assert mail["details"] == {}
        assert mail["state"] == MailState.SKIPPED.value
    text = json.dumps([contact, *mails], default=str)
    for personal in ("Eino", "Erasmus", str(registration.email), "secret-token"):
        assert personal not in text

    # Late messages about the erased registration store nothing.
    await notifications.registration_accepted(registration, cause="c1", correlation_id=None)
    late = MailRequest(registration_id, registration.event_id, NotificationKind.SEAT_CONFIRMED, {})
    await notifications.ask_for(late, cause="c3", correlation_id=None)
    assert await database["mails"].find_one({"_id": late.mail_id}) is None
    again = await database["contacts"].find_one({"_id": registration_id})
    assert again is not None
    assert "email" not in again


async def test_only_the_erased_registrations_messages_leave_a_dead_letter_queue(
    infrastructure: IsolatedInfrastructure,
) -> None:
    erased, other = str(uuid.uuid4()), str(uuid.uuid4())
    connection = await aio_pika.connect(infrastructure.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"erasure-test-{uuid.uuid4().hex[:8]}",
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        messages = [
            aio_pika.Message(b"{}", headers={"cloudEvents:subject": erased}),
            aio_pika.Message(f'{{"registration_id": "{erased}"}}'.encode()),
            aio_pika.Message(b"{}", headers={"cloudEvents:subject": other}),
            aio_pika.Message(f'{{"registration_id": "{other}"}}'.encode()),
        ]
        for message in messages:
            await channel.default_exchange.publish(message, routing_key=queue.name)

        assert await drop_parked(queue, erased) == 2
        assert await drop_parked(queue, erased) == 0

        async def the_others_are_back() -> bool:
            # Requeued through the quorum queue's log: counted a moment later.
            left = await channel.declare_queue(queue.name, passive=True)
            return left.declaration_result.message_count == 2

        await eventually(the_others_are_back, what="the two other messages requeued")
        await queue.delete(if_unused=False, if_empty=False)

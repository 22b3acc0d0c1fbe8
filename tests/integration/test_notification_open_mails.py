"""``open_mails``: the copies of the open mails, which the dispatcher reads instead of ``mails``.

Against the real FerretDB: the copy comes with the intent and goes with the
mail's end, a crash between two writes is repaired (at start, or by the
conditional write that finds the mail moved on), and nothing is sent twice
or skipped because a copy was stale.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import NotificationKind
from ilmo_notification.dispatcher import MailDispatcher
from ilmo_notification.domain import MailRequest, MailRetryPolicy
from ilmo_notification.mailer import SmtpMailer, SmtpSettings, SmtpTls
from ilmo_notification.storage import MAILS, OPEN_MAILS, NotificationStores
from ilmo_notification.storage.mails import replay_failed
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.notification import accepted, notification_stores, renderer, seminar
from tests.support.smtp import SmtpTestServer, smtp_server


async def prepared(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> tuple[AsyncDatabase[Document], NotificationStores, str, str]:
    """A database with an event and one registrant's contact; its stores, event and registration."""
    database = mongo[infrastructure.database_name(f"open_mails_{uuid.uuid4().hex[:8]}")]
    stores = notification_stores(database)
    await stores.create_indexes()
    event = seminar()
    registration = accepted(event.event_id)
    await stores.event_details.remember(event)
    await stores.contacts.remember(registration)
    return database, stores, event.event_id, str(registration.registration_id)


def dispatcher(stores: NotificationStores, smtp: SmtpTestServer) -> MailDispatcher:
    return MailDispatcher(
        stores,
        renderer(),
        SmtpMailer(SmtpSettings(host=smtp.host, port=smtp.port, tls=SmtpTls.NONE, timeout=5)),
        policy=MailRetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60),
        jitter=lambda: 1.0,
    )


async def test_a_mail_is_copied_while_open_and_the_copy_goes_once_it_is_sent(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    request = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    assert await stores.mails.record_intent(request, cause="test")
    copy = await database[OPEN_MAILS].find_one({"_id": request.mail_id})
    assert copy is not None
    assert copy["state"] == "pending"
    assert "outbox" not in copy
    count, oldest = await stores.mails.waiting()
    assert count == 1
    assert oldest is not None

    with smtp_server() as smtp:
        result = await dispatcher(stores, smtp).dispatch_due()
        assert len(smtp.matching(registration_id=rid)) == 1

    assert result.sent == 1
    assert (await stores.mails.document(request.mail_id) or {})["state"] == "sent"
    assert await database[OPEN_MAILS].count_documents({}) == 0
    assert await stores.mails.waiting() == (0, None)
    assert await stores.mails.next_due_at() is None


async def test_an_intent_whose_copy_was_lost_in_a_crash_is_copied_again_at_start(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    request = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    assert await stores.mails.record_intent(request, cause="test")
    # As a crash between the intent's insert and its copy's leaves it.
    await database[OPEN_MAILS].delete_many({})
    assert await stores.mails.due(datetime.now(UTC), 10) == []

    assert await stores.mails.restore_open() == 1

    assert [mail.id for mail in await stores.mails.due(datetime.now(UTC), 10)] == [request.mail_id]


async def test_an_intent_asked_for_again_gets_its_lost_copy_back_while_open(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """The copy's insert failed (the message is redelivered): the repeat writes it."""
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    request = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    assert await stores.mails.record_intent(request, cause="test")
    await database[OPEN_MAILS].delete_many({})

    assert not await stores.mails.record_intent(request, cause="test")

    assert [mail.id for mail in await stores.mails.due(datetime.now(UTC), 10)] == [request.mail_id]
    # Once the mail ended, a repeat copies nothing.
    await database[MAILS].update_one({"_id": request.mail_id}, {"$set": {"state": "sent"}})
    await database[OPEN_MAILS].delete_many({})
    assert not await stores.mails.record_intent(request, cause="test")
    assert await database[OPEN_MAILS].count_documents({}) == 0


async def test_a_copy_left_behind_by_a_sent_mail_sends_nothing_and_goes(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """A crash after ``sent`` was written and before the copy went: the copy still says pending."""
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    request = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    assert await stores.mails.record_intent(request, cause="test")
    await database[MAILS].update_one(
        {"_id": request.mail_id}, {"$set": {"state": "sent", "attempts": 1}}
    )

    with smtp_server() as smtp:
        result = await dispatcher(stores, smtp).dispatch_due()
        assert smtp.matching(registration_id=rid) == []

    assert result.sent == 0
    assert await database[OPEN_MAILS].count_documents({}) == 0
    assert (await stores.mails.document(request.mail_id) or {})["state"] == "sent"


async def test_a_mail_sending_elsewhere_is_not_skipped_on_a_stale_copy(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """The copy says pending, the mail is ``sending``: a later mail must not skip it.

    It may be in the registrant's inbox already (see the chaos-found case in
    test_notification_service): the skip is conditional on the state read,
    finds the mail moved on, and refreshes the copy instead.
    """
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    receipt = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    seat = MailRequest(rid, event_id, NotificationKind.SEAT_CONFIRMED, {"promoted": False})
    cancellation = MailRequest(rid, event_id, NotificationKind.CANCELLATION_CONFIRMED, {})
    for request in (receipt, seat, cancellation):
        assert await stores.mails.record_intent(request, cause="test")
    await database[MAILS].update_one({"_id": receipt.mail_id}, {"$set": {"state": "sent"}})
    await database[OPEN_MAILS].delete_one({"_id": receipt.mail_id})
    await database[OPEN_MAILS].delete_one({"_id": cancellation.mail_id})
    await database[MAILS].update_one(
        {"_id": seat.mail_id}, {"$set": {"state": "sending", "attempts": 1}}
    )

    with smtp_server() as smtp:
        await dispatcher(stores, smtp).dispatch_due()

    assert (await stores.mails.document(seat.mail_id) or {})["state"] == "sending"
    copy = await database[OPEN_MAILS].find_one({"_id": seat.mail_id})
    assert copy is not None
    assert (copy["state"], copy["attempts"]) == ("sending", 1)


async def test_a_replayed_mail_is_copied_where_the_dispatcher_finds_it(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database, stores, event_id, rid = await prepared(infrastructure, mongo)
    request = MailRequest(rid, event_id, NotificationKind.REGISTRATION_RECEIVED, {})
    assert await stores.mails.record_intent(request, cause="test")
    await database[MAILS].update_one(
        {"_id": request.mail_id}, {"$set": {"state": "failed", "attempts": 3}}
    )
    await database[OPEN_MAILS].delete_many({})

    assert await replay_failed(database[MAILS], [request.mail_id]) == [request.mail_id]

    [mail] = await stores.mails.due(datetime.now(UTC), 10)
    assert (mail.id, mail.state.value, mail.budget_from) == (request.mail_id, "pending", 3)

"""The notification service keeps a registrant's corrected details, against the real database
and broker: the newest correction wins whatever the order of arrival, repeats change nothing,
an erased contact stays erased, and later mails use the new name and language.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Language, RegistrationAccepted, RegistrationDetailsChanged
from ilmo_notification.domain import ContactCorrection
from ilmo_notification.storage import ContactStore
from ilmo_notification.usecases import ContactNotYetKeptError, Notifications
from ilmo_shared.storage import Document
from tests.integration.test_notification_service import running_notification
from tests.support.capacity import cancelled
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.notification import accepted, notification_stores, seminar
from tests.support.smtp import smtp_server


def details_changed(
    registration: RegistrationAccepted,
    version: int,
    *,
    first_name: str,
    language: Language,
    last_name: str = "Öhman",
) -> RegistrationDetailsChanged:
    return RegistrationDetailsChanged(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        first_name=first_name,
        last_name=last_name,
        organisation=None,
        language=language,
        details_version=version,
        changed_at=datetime.now(UTC) + timedelta(seconds=version),
    )


@pytest.fixture
def contacts(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> ContactStore:
    database = mongo[infrastructure.database_name(f"contacts_{uuid.uuid4().hex[:8]}")]
    return ContactStore(database)


async def test_the_newest_correction_wins_in_any_order_and_repeats_change_nothing(
    contacts: ContactStore,
) -> None:
    registration = accepted("seminar", language=Language.FI, first_name="Matti")
    await contacts.remember(registration)
    first = details_changed(registration, 1, first_name="Mats", language=Language.SV)
    second = details_changed(registration, 2, first_name="Matt", language=Language.EN)

    assert await contacts.correct(second) is ContactCorrection.APPLIED
    assert await contacts.correct(first) is ContactCorrection.STALE  # older, arriving late
    assert await contacts.correct(second) is ContactCorrection.STALE  # redelivered
    [contact] = (await contacts.of([str(registration.registration_id)])).values()
    assert (contact.first_name, contact.language) == ("Matt", Language.EN)
    assert contact.email == registration.email


async def test_an_erased_contact_stays_erased(contacts: ContactStore) -> None:
    registration = accepted("seminar")
    rid = str(registration.registration_id)
    await contacts.remember(registration)
    await contacts.erase(rid, registration.event_id, datetime.now(UTC))
    late = details_changed(registration, 1, first_name="Mats", language=Language.SV)
    assert await contacts.correct(late) is ContactCorrection.ERASED
    stored = await contacts.collection.find_one({"_id": rid})
    assert stored is not None
    assert set(stored) == {"_id", "event_id", "erased_at"}


async def test_a_correction_ahead_of_its_contact_is_retried_and_stores_nothing(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    database = mongo[infrastructure.database_name(f"contacts_{uuid.uuid4().hex[:8]}")]
    notifications = Notifications(notification_stores(database), wake=lambda: None)
    registration = accepted("seminar")
    early = details_changed(registration, 1, first_name="Mats", language=Language.SV)
    with pytest.raises(ContactNotYetKeptError):
        await notifications.registration_details_changed(early)
    assert await database["contacts"].count_documents({}) == 0


async def test_later_mails_use_the_corrected_name_and_language(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    event = seminar()
    registration = accepted(event.event_id, language=Language.FI, first_name="Matti")
    rid = str(registration.registration_id)
    newer = details_changed(registration, 2, first_name="Mats", language=Language.SV)
    older = details_changed(registration, 1, first_name="Matias", language=Language.EN)
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            await service.send(event, registration)
            await smtp.wait_for(1, registration_id=rid, kind="registration_received")
            await service.send(newer, older)  # the older one arrives last
            await service.handled()
            await service.send(cancelled(registration))
            [mail] = await smtp.wait_for(1, registration_id=rid, kind="cancellation_confirmed")
    [receipt] = smtp.matching(registration_id=rid, kind="registration_received")
    assert receipt.language == "fi"
    assert mail.language == "sv"
    assert "Mats Öhman" in str(mail.message["To"])
    assert "Mats" in mail.text()
    assert "Matias" not in mail.text()

"""The registration stores against the real MongoDB-protocol server: writes that race.

FerretDB v1 applies an update as a read of the whole document and a write
of it, so two updates of one document at the same moment can lose one. The
relay removing published entries and a service writing the same document
are such a pair; these tests make them meet on purpose.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.rabbit import RabbitExchange
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance, Envelope, Language, SeatReserved
from ilmo_registration.domain import Registrant, Standing, accept
from ilmo_registration.privacy import DEFAULT_NOTICE, NoticeShown
from ilmo_registration.storage import (
    REGISTRATION_COLLECTION,
    Holder,
    RegistrationStore,
    ReportOutcome,
)
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.topology import INTERNAL_EXCHANGE
from ilmo_shared.outbox import EXCHANGE_FIELD, OutboxRelay
from ilmo_shared.storage import Document, DocumentLocks
from tests.support.infrastructure import IsolatedInfrastructure

TRIALS = 30
LOCKS = DocumentLocks()


class ConfirmingPublisher(EventPublisher):
    """Stands in for the broker: every event is confirmed at once, and remembered."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(
        self, envelope: Envelope, body: bytes, *, exchange: RabbitExchange = INTERNAL_EXCHANGE
    ) -> None:
        if exchange is not INTERNAL_EXCHANGE:
            return  # only the internal events are followed here
        self.published.append(envelope)


PUBLISHER = ConfirmingPublisher()


@pytest.fixture
def store(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> RegistrationStore:
    database = mongo[infrastructure.database_name("registration")]
    relay = OutboxRelay(PUBLISHER, locks=LOCKS)
    outbox = relay.outbox(database[REGISTRATION_COLLECTION], source="ilmo/test")
    return RegistrationStore(database, outbox=outbox, locks=LOCKS)


# What every registration stores besides its event: the notice shown, no needs.
NO_NEEDS: dict[str, Any] = {
    "notice_shown": NoticeShown(DEFAULT_NOTICE.version, Language.FI, datetime.now(UTC)),
    "needs_consent": None,
}


def registrant(email: str, attendance: Attendance = Attendance.IN_PERSON) -> Registrant:
    return Registrant("Aino", "Aalto", email, None, attendance, Language.FI)


async def stored_with_pending_event(store: RegistrationStore, event_id: str) -> str:
    accepted = accept(event_id, registrant(f"{uuid.uuid4().hex}@example.fi"), datetime.now(UTC))
    await store.add(accepted, needs=None, token_digest="digest", **NO_NEEDS)
    return str(accepted.registration_id)


async def relay_removes_pending(store: RegistrationStore, registration_id: str) -> None:
    """The real relay, sharing the store's locks, removing the confirmed entries."""
    relay = OutboxRelay(PUBLISHER, [store.registrations], locks=LOCKS)
    await relay.publish_pending()


async def test_a_cancellation_meeting_the_relay_is_never_lost(store: RegistrationStore) -> None:
    await store.create_indexes()
    event_id = f"race-{uuid.uuid4().hex[:8]}"
    lost = 0
    for _ in range(TRIALS):
        registration_id = await stored_with_pending_event(store, event_id)
        registration = await store.get(registration_id)
        assert registration is not None
        await asyncio.gather(
            relay_removes_pending(store, registration_id),
            store.cancel(registration, datetime.now(UTC)),
        )
        after = await store.registrations.find_one({"_id": registration_id})
        assert after is not None
        pending = [
            entry["envelope"]["type"]
            for entry in after["outbox"]
            if EXCHANGE_FIELD not in entry  # the internal form; the publisher records those
        ]
        published = [e.type for e in PUBLISHER.published if e.subject == registration_id]
        # The cancellation event is either still waiting in the outbox or published.
        if (
            after["status"] != "cancelled"
            or [*published, *pending].count("registration.cancelled") != 1
        ):
            lost += 1
    assert lost == 0, f"{lost} of {TRIALS} cancellations lost"


async def test_a_status_report_meeting_the_relay_is_never_lost(store: RegistrationStore) -> None:
    event_id = f"race-{uuid.uuid4().hex[:8]}"
    lost = 0
    for _ in range(TRIALS):
        registration_id = await stored_with_pending_event(store, event_id)
        report = SeatReserved(
            registration_id=uuid.UUID(registration_id),
            event_id=event_id,
            reserved_at=datetime.now(UTC),
        )
        _, outcome = await asyncio.gather(
            relay_removes_pending(store, registration_id),
            store.apply_report(registration_id, report),
        )
        assert outcome is ReportOutcome.APPLIED
        registration = await store.get(registration_id)
        assert registration is not None
        if registration.state.status.value != "seat_reserved":
            lost += 1
    assert lost == 0, f"{lost} of {TRIALS} status reports lost"


async def test_concurrent_duplicates_store_one_registration(store: RegistrationStore) -> None:
    await store.create_indexes()
    event_id = f"dup-{uuid.uuid4().hex[:8]}"
    spellings = ["kai@example.fi", "KAI@example.fi", " Kai@Example.fi "] * 4
    outcomes = await asyncio.gather(
        *(
            store.add(
                accept(event_id, registrant(email), datetime.now(UTC)),
                needs=None,
                token_digest="d",
                **NO_NEEDS,
            )
            for email in spellings
        ),
        return_exceptions=True,
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    [stored] = await store.registrations.find({"event_id": event_id}).to_list()
    # Every other attempt is told who holds the address, and stores nothing.
    holders = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(holder, Holder) for holder in holders)
    assert {(h.id, h.standing) for h in holders if isinstance(h, Holder)} == {
        (stored["_id"], Standing.ACTIVE)
    }

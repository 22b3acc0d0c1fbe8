"""The registration service's own database: the event catalogue and the registrations.

Every change and the event that announces it are one single-document write
(the document's ``outbox`` array), which the ``OutboxRelay`` publishes.

``events``: one document per catalogue event, ``_id`` = event id, with a
``revision`` that grows with each change. ``registrations``: one document per
registration, ``_id`` = registration id; ``status`` is its life as decided
here (``accepted`` or ``cancelled``), ``seat`` and ``stream_link`` are what
capacity and streaming reported; the status a registrant sees is derived from
the three (``domain.RegistrationState``). A unique index on
``(event_id, email_key)`` makes "one registration per address and event" hold
under any concurrency; a cancelled registration gives its key up.

FerretDB v1, the local and test server, applies an update by reading the
whole document and writing it back, so two concurrent updates of one
document can lose one of them (verified: of ten concurrent conditional
``$push`` updates, several report a modification and one survives). Writes to
one document are therefore serialized within the process (``DocumentLocks``,
shared with the relay's removal of published entries), and conditional
updates on ``revision`` guard against other processes on MongoDB, where
single-document updates are atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import (
    AgendaItem,
    Attendance,
    EventPublished,
    EventUpdated,
    Language,
    LocalizedText,
    RegistrationAccepted,
    RegistrationCancelled,
    Venue,
)
from ilmo_registration.catalogue import (
    DEFAULT_STREAM_CLOSES_MINUTES_AFTER,
    DEFAULT_STREAM_OPENS_MINUTES_BEFORE,
    EventSpec,
    details,
    normalised,
)
from ilmo_registration.domain import (
    LinkState,
    Registrant,
    RegistrationState,
    Seat,
    SeatState,
    StatusReport,
    StreamLink,
    apply_report,
    normalise_email,
)
from ilmo_shared.outbox import OUTBOX_FIELD, outbox_entry
from ilmo_shared.storage import Document, DocumentLocks

REGISTRATION_COLLECTION = "registrations"
CANCELLED = "cancelled"
ACTIVE = "accepted"
# Conditional updates that lost to another process are tried again this often.
ATTEMPTS = 5
# Cancellation events get an id derived from the registration id: should two
# processes ever both record a cancellation, consumers see one event twice.
_CANCELLATION_IDS = uuid.UUID("0b7f4f2e-2f43-4a4e-9a59-5d8f3b0c7a11")


class EventExistsError(Exception):
    """An event with this id is already in the catalogue."""


class AlreadyRegisteredError(Exception):
    """This address is already registered for this event."""


class ConcurrentChangeError(Exception):
    """The document kept changing under a conditional update; try again later."""


# ------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class StoredEvent:
    id: str
    revision: int
    spec: EventSpec
    created_at: datetime
    updated_at: datetime


class EventStore:
    """The event catalogue, each event with its pending ``event.*`` facts."""

    def __init__(
        self, database: AsyncDatabase[Document], *, source: str, locks: DocumentLocks
    ) -> None:
        self.events: AsyncCollection[Document] = database["events"]
        self._source = source
        self._locks = locks

    async def create_indexes(self) -> None:
        await self.events.create_index([("published", ASCENDING), ("starts_at", ASCENDING)])

    async def create(self, event_id: str, spec: EventSpec, now: datetime) -> StoredEvent:
        """Store a new event with its ``event.published`` fact; EventExistsError if taken."""
        spec = normalised(spec)
        published = details(EventPublished, event_id, 1, spec)
        document = {
            "_id": event_id,
            "revision": 1,
            **_spec_document(spec),
            "created_at": now,
            "updated_at": now,
            OUTBOX_FIELD: [outbox_entry(published, source=self._source)],
        }
        try:
            await self.events.insert_one(document)
        except DuplicateKeyError as error:
            raise EventExistsError(event_id) from error
        return StoredEvent(event_id, 1, spec, now, now)

    async def get(self, event_id: str) -> StoredEvent | None:
        document = await self.events.find_one({"_id": event_id}, projection={OUTBOX_FIELD: 0})
        return _stored_event(document) if document is not None else None

    async def all(self, *, published_only: bool) -> list[StoredEvent]:
        query = {"published": True} if published_only else {}
        cursor = self.events.find(
            query, projection={OUTBOX_FIELD: 0}, sort=[("starts_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_stored_event(document) async for document in cursor]

    async def change(
        self, event_id: str, change: Callable[[EventSpec], EventSpec], now: datetime
    ) -> tuple[StoredEvent, bool] | None:
        """Apply ``change`` to the stored event: the event and whether it changed.

        None if there is no such event. A change that changes nothing stores
        and publishes nothing. Otherwise
        the new state, the next revision and its ``event.updated`` fact are
        one conditional write on the revision that was read.
        """
        async with self._locks.hold(self.events.name, event_id):
            for _ in range(ATTEMPTS):
                current = await self.get(event_id)
                if current is None:
                    return None
                spec = normalised(change(current.spec))
                if spec == current.spec:
                    return current, False
                revision = current.revision + 1
                updated = details(EventUpdated, event_id, revision, spec)
                result = await self.events.update_one(
                    {"_id": event_id, "revision": current.revision},
                    {
                        "$set": {**_spec_document(spec), "revision": revision, "updated_at": now},
                        "$push": {OUTBOX_FIELD: outbox_entry(updated, source=self._source)},
                    },
                )
                if result.matched_count == 1:
                    return StoredEvent(event_id, revision, spec, current.created_at, now), True
        raise ConcurrentChangeError(event_id)


def _spec_document(spec: EventSpec) -> dict[str, Any]:
    return {
        "title": spec.title.model_dump(),
        "description": spec.description.model_dump() if spec.description else None,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "timezone": spec.timezone,
        "venue": spec.venue.model_dump(),
        "in_person_capacity": spec.in_person_capacity,
        "registration_opens_at": spec.registration_opens_at,
        "registration_closes_at": spec.registration_closes_at,
        "stream_url": spec.stream_url,
        "stream_opens_minutes_before": spec.stream_opens_minutes_before,
        "stream_closes_minutes_after": spec.stream_closes_minutes_after,
        "agenda": [
            {**item.model_dump(), "speakers": [s.model_dump() for s in item.speakers]}
            for item in spec.agenda
        ],
        "target_groups": list(spec.target_groups),
        "published": spec.published,
    }


def _stored_event(document: Document) -> StoredEvent:
    description = document.get("description")
    spec = EventSpec(
        title=LocalizedText.model_validate(document["title"]),
        description=LocalizedText.model_validate(description) if description else None,
        starts_at=document["starts_at"],
        ends_at=document["ends_at"],
        timezone=document["timezone"],
        venue=Venue.model_validate(document["venue"]),
        in_person_capacity=document["in_person_capacity"],
        registration_opens_at=document["registration_opens_at"],
        registration_closes_at=document["registration_closes_at"],
        stream_url=document["stream_url"],
        # Events stored before the stream window was configurable have the defaults.
        stream_opens_minutes_before=document.get(
            "stream_opens_minutes_before", DEFAULT_STREAM_OPENS_MINUTES_BEFORE
        ),
        stream_closes_minutes_after=document.get(
            "stream_closes_minutes_after", DEFAULT_STREAM_CLOSES_MINUTES_AFTER
        ),
        agenda=tuple(AgendaItem.model_validate(item) for item in document.get("agenda", [])),
        target_groups=tuple(document.get("target_groups", [])),
        published=bool(document["published"]),
    )
    return StoredEvent(
        id=document["_id"],
        revision=document["revision"],
        spec=spec,
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )


# --------------------------------------------------------------- registrations


@dataclass(frozen=True)
class StoredRegistration:
    id: str
    registrant: Registrant
    token_digest: str
    registered_at: datetime
    cancelled_at: datetime | None
    state: RegistrationState

    @property
    def event_id(self) -> str:
        return self.state.event_id


class ReportOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNKNOWN_REGISTRATION = "unknown_registration"


class RegistrationStore:
    """Registrations, each stored with its pending events in one document, in one write."""

    def __init__(
        self, database: AsyncDatabase[Document], *, source: str, locks: DocumentLocks
    ) -> None:
        self.registrations: AsyncCollection[Document] = database[REGISTRATION_COLLECTION]
        self._source = source
        self._locks = locks

    async def create_indexes(self) -> None:
        await self.registrations.create_index(
            [("event_id", ASCENDING), ("email_key", ASCENDING)], unique=True
        )
        await self.registrations.create_index(
            [("event_id", ASCENDING), ("registered_at", ASCENDING)]
        )

    async def add(
        self, accepted: RegistrationAccepted, *, needs: str | None, token_digest: str
    ) -> None:
        """Durably store the registration with its ``registration.accepted`` event.

        AlreadyRegisteredError, and nothing stored, if the address is already
        registered for the event.
        """
        document = {
            "_id": str(accepted.registration_id),
            "event_id": accepted.event_id,
            "email_key": normalise_email(accepted.email),
            "first_name": accepted.first_name,
            "last_name": accepted.last_name,
            "email": accepted.email,
            "organisation": accepted.organisation,
            "attendance": accepted.attendance.value,
            "language": accepted.language.value,
            "needs": needs,
            "consent": True,
            "manage_token_sha256": token_digest,
            "registered_at": accepted.registered_at,
            "status": ACTIVE,
            "cancelled_at": None,
            "seat": _seat_document(Seat()),
            "stream_link": _link_document(StreamLink()),
            "revision": 1,
            OUTBOX_FIELD: [outbox_entry(accepted, source=self._source)],
        }
        try:
            await self.registrations.insert_one(document)
        except DuplicateKeyError as error:
            raise AlreadyRegisteredError(accepted.event_id) from error

    async def get(self, registration_id: str) -> StoredRegistration | None:
        document = await self.registrations.find_one(
            {"_id": registration_id}, projection={OUTBOX_FIELD: 0}
        )
        return _stored_registration(document) if document is not None else None

    async def for_event(self, event_id: str) -> list[StoredRegistration]:
        cursor = self.registrations.find(
            {"event_id": event_id},
            projection={OUTBOX_FIELD: 0},
            sort=[("registered_at", ASCENDING), ("_id", ASCENDING)],
        )
        return [_stored_registration(document) async for document in cursor]

    async def cancel(self, registration: StoredRegistration, now: datetime) -> bool:
        """Cancel and record ``registration.cancelled``; False if it was cancelled already.

        One conditional write: only a registration that is not cancelled yet
        changes, so a repeated request records no second event. The address
        is given up, so the person may register again.
        """
        cancelled = RegistrationCancelled(
            registration_id=uuid.UUID(registration.id),
            event_id=registration.event_id,
            attendance=registration.registrant.attendance,
            cancelled_at=now,
        )
        entry = outbox_entry(cancelled, source=self._source)
        entry["envelope"]["id"] = str(uuid.uuid5(_CANCELLATION_IDS, registration.id))
        async with self._locks.hold(self.registrations.name, registration.id):
            result = await self.registrations.update_one(
                {"_id": registration.id, "status": {"$ne": CANCELLED}},
                {
                    "$set": {
                        "status": CANCELLED,
                        "cancelled_at": now,
                        "email_key": f"{registration.id}/cancelled",
                    },
                    "$inc": {"revision": 1},
                    "$push": {OUTBOX_FIELD: entry},
                },
            )
        return result.matched_count == 1

    async def apply_report(self, registration_id: str, report: StatusReport) -> ReportOutcome:
        """Take in what capacity or streaming reported, once, and never backwards."""
        async with self._locks.hold(self.registrations.name, registration_id):
            for _ in range(ATTEMPTS):
                document = await self.registrations.find_one(
                    {"_id": registration_id}, projection={OUTBOX_FIELD: 0}
                )
                if document is None:
                    return ReportOutcome.UNKNOWN_REGISTRATION
                state = _state(document)
                changed = apply_report(state, report)
                if changed is None:
                    return ReportOutcome.UNCHANGED
                fields: dict[str, Any] = {}
                if changed.seat != state.seat:
                    fields["seat"] = _seat_document(changed.seat)
                if changed.link != state.link:
                    fields["stream_link"] = _link_document(changed.link)
                result = await self.registrations.update_one(
                    {
                        "_id": registration_id,
                        "revision": document["revision"],
                        "status": {"$ne": CANCELLED},
                    },
                    {"$set": fields, "$inc": {"revision": 1}},
                )
                if result.matched_count == 1:
                    return ReportOutcome.APPLIED
        raise ConcurrentChangeError(registration_id)


def _seat_document(seat: Seat) -> dict[str, Any]:
    return {
        "state": seat.state.value,
        "position": seat.position,
        "changed_at": seat.changed_at,
        "promoted": seat.promoted,
    }


def _link_document(link: StreamLink) -> dict[str, Any]:
    return {"state": link.state.value, "url": link.url, "changed_at": link.changed_at}


def _state(document: Document) -> RegistrationState:
    seat = document.get("seat") or {}
    link = document.get("stream_link") or {}
    return RegistrationState(
        event_id=document["event_id"],
        attendance=Attendance(document["attendance"]),
        cancelled=document.get("status") == CANCELLED,
        seat=Seat(
            state=SeatState(seat.get("state", SeatState.NONE.value)),
            position=seat.get("position"),
            changed_at=seat.get("changed_at"),
            promoted=bool(seat.get("promoted", False)),
        ),
        link=StreamLink(
            state=LinkState(link.get("state", LinkState.NONE.value)),
            url=link.get("url"),
            changed_at=link.get("changed_at"),
        ),
    )


def _stored_registration(document: Document) -> StoredRegistration:
    return StoredRegistration(
        id=document["_id"],
        registrant=Registrant(
            first_name=document["first_name"],
            last_name=document["last_name"],
            email=document["email"],
            organisation=document.get("organisation"),
            attendance=Attendance(document["attendance"]),
            language=Language(document["language"]),
            needs=document.get("needs"),
        ),
        token_digest=document["manage_token_sha256"],
        registered_at=document["registered_at"],
        cancelled_at=document.get("cancelled_at"),
        state=_state(document),
    )

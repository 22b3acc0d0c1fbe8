"""The streaming service's own database: events' stream details and registrations' links.

``stream_events``: one document per event, ``_id`` = event id, with what
links need (stream URL, times, time zone, window, title) at the newest
revision seen; an older revision never replaces a newer one.

``stream_links``: one document per registration, ``_id`` = registration id,
with the event id, the link's state (``pending``, ``provisioned``,
``revoked``) and when it changed; never the token, which is derived from the
registration id and the secret whenever it is needed. A transition and the
event announcing it (``stream.link.provisioned`` / ``stream.link.revoked``)
are one single-document write: the first state of a registration is an
insert (unique on ``_id``), later ones a conditional update on ``version``.

FerretDB v1, the local and test server, applies an update by reading the
whole document and writing it back, and does not re-check the update's
filter when it writes. So within the process every write of one document,
the outbox relay's removal of published entries included, holds that
document's ``DocumentLocks`` lock (the same instance is given to the relay);
the conditional updates guard against other processes on MongoDB, where a
single-document update is atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import EventDetails, LocalizedText
from ilmo_shared.outbox import OUTBOX_FIELD
from ilmo_shared.storage import Document, DocumentLocks
from ilmo_streaming.domain import Change, EventStream, LinkState, StreamLink
from ilmo_streaming.metrics import WRITE_CONFLICTS
from ilmo_streaming.publication import LinkUrl, outbox_entries

EVENTS = "stream_events"
LINKS = "stream_links"
# Conditional writes that lost to another writer are decided again this often.
ATTEMPTS = 10

Transition = Callable[[StreamLink | None], Change | None]


class ConcurrentChangeError(RuntimeError):
    """The document kept changing under a conditional write; the message is retried later."""


def _millis(moment: datetime) -> datetime:
    """UTC at the precision MongoDB keeps, so that what is used is exactly what is stored."""
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


# ------------------------------------------------------------------ events


def _stream_document(stream: EventStream) -> dict[str, Any]:
    return {
        "revision": stream.revision,
        "stream_url": stream.stream_url,
        "starts_at": _millis(stream.starts_at),
        "ends_at": _millis(stream.ends_at),
        "timezone": stream.timezone,
        "title": stream.title.model_dump(),
        "opens_minutes_before": stream.opens_minutes_before,
        "closes_minutes_after": stream.closes_minutes_after,
        # For people reading the database; links are judged from the fields above.
        "opens_at": _millis(stream.opens_at),
        "closes_at": _millis(stream.closes_at),
    }


def _stream(document: Mapping[str, Any]) -> EventStream:
    return EventStream(
        event_id=str(document["_id"]),
        revision=int(document["revision"]),
        stream_url=str(document["stream_url"]),
        starts_at=document["starts_at"],
        ends_at=document["ends_at"],
        timezone=str(document["timezone"]),
        title=LocalizedText.model_validate(document["title"]),
        opens_minutes_before=int(document["opens_minutes_before"]),
        closes_minutes_after=int(document["closes_minutes_after"]),
    )


class StreamEventStore:
    """The stream details of each event, at the newest revision seen."""

    def __init__(self, database: AsyncDatabase[Document], *, locks: DocumentLocks) -> None:
        self.events: AsyncCollection[Document] = database[EVENTS]
        self._locks = locks

    async def get(self, event_id: str) -> EventStream | None:
        document = await self.events.find_one({"_id": event_id})
        return _stream(document) if document is not None else None

    async def apply(self, details: EventDetails, now: datetime) -> tuple[EventStream, bool]:
        """Keep ``details`` unless a newer revision is stored: the current details, and if new."""
        offered = EventStream.from_details(details)
        fields = _stream_document(offered)
        stored_form = _stream({"_id": offered.event_id, **fields})
        async with self._locks.hold(self.events.name, offered.event_id):
            for _ in range(ATTEMPTS):
                current = await self.get(offered.event_id)
                if current is not None and not offered.supersedes(current):
                    return current, False
                if current is None:
                    try:
                        await self.events.insert_one(
                            {"_id": offered.event_id, **fields, "updated_at": now}
                        )
                    except DuplicateKeyError:
                        WRITE_CONFLICTS.inc()
                        continue
                else:
                    result = await self.events.update_one(
                        {"_id": offered.event_id, "revision": current.revision},
                        {"$set": {**fields, "updated_at": now}},
                    )
                    if result.matched_count != 1:
                        WRITE_CONFLICTS.inc()
                        continue
                return stored_form, True
        raise ConcurrentChangeError(f"event {offered.event_id}")


# ------------------------------------------------------------------- links


@dataclass(frozen=True)
class LinkCounts:
    """How many links of an event are in each state."""

    pending: int
    provisioned: int
    revoked: int


def _link_fields(link: StreamLink) -> dict[str, Any]:
    return {
        "event_id": link.event_id,
        "state": link.state.value,
        "changed_at": _millis(link.changed_at),
        "provisioned_at": _millis(link.provisioned_at) if link.provisioned_at else None,
        "revoked_at": _millis(link.revoked_at) if link.revoked_at else None,
    }


def _link(document: Mapping[str, Any]) -> StreamLink:
    return StreamLink(
        registration_id=uuid.UUID(str(document["_id"])),
        event_id=str(document["event_id"]),
        state=LinkState(document["state"]),
        changed_at=document["changed_at"],
        provisioned_at=document.get("provisioned_at"),
        revoked_at=document.get("revoked_at"),
    )


class StreamLinkStore:
    """Each registration's link state, stored with its pending events in one document."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        source: str,
        link_url: LinkUrl,
        locks: DocumentLocks,
    ) -> None:
        self.links: AsyncCollection[Document] = database[LINKS]
        self._source = source
        self._link_url = link_url
        self._locks = locks

    async def create_indexes(self) -> None:
        await self.links.create_index([("event_id", ASCENDING), ("state", ASCENDING)])

    async def get(self, registration_id: uuid.UUID) -> StreamLink | None:
        document = await self.links.find_one(
            {"_id": str(registration_id)}, projection={OUTBOX_FIELD: 0}
        )
        return _link(document) if document is not None else None

    async def change(self, registration_id: uuid.UUID, transition: Transition) -> Change | None:
        """Apply ``transition`` to the stored link and store the result with its events.

        None, and nothing written, when the transition changes nothing. A
        write that loses to another writer is decided again from what won.
        """
        key = str(registration_id)
        async with self._locks.hold(self.links.name, key):
            for _ in range(ATTEMPTS):
                document = await self.links.find_one({"_id": key}, projection={OUTBOX_FIELD: 0})
                current = _link(document) if document is not None else None
                change = transition(current)
                if change is None:
                    return None
                fields = _link_fields(change.link)
                entries = outbox_entries(change.facts, source=self._source, link_url=self._link_url)
                if document is None:
                    try:
                        await self.links.insert_one(
                            {"_id": key, **fields, "version": 1, OUTBOX_FIELD: entries}
                        )
                    except DuplicateKeyError:
                        WRITE_CONFLICTS.inc()
                        continue
                    return change
                update: dict[str, Any] = {"$set": fields, "$inc": {"version": 1}}
                if entries:
                    update["$push"] = {OUTBOX_FIELD: {"$each": entries}}
                result = await self.links.update_one(
                    {"_id": key, "version": document["version"]}, update
                )
                if result.matched_count == 1:
                    return change
                WRITE_CONFLICTS.inc()
        raise ConcurrentChangeError(f"stream link of registration {key}")

    async def pending_for(self, event_id: str) -> list[uuid.UUID]:
        """Registrations of ``event_id`` whose link waits for the event's details."""
        cursor = self.links.find(
            {"event_id": event_id, "state": LinkState.PENDING.value}, projection={"_id": 1}
        )
        return [uuid.UUID(str(document["_id"])) async for document in cursor]

    async def counts(self, event_id: str) -> LinkCounts:
        """Links of ``event_id``: pending, provisioned (working) and revoked after provisioning."""
        pending = await self.links.count_documents(
            {"event_id": event_id, "state": LinkState.PENDING.value}
        )
        provisioned = await self.links.count_documents(
            {"event_id": event_id, "state": LinkState.PROVISIONED.value}
        )
        revoked = await self.links.count_documents(
            {
                "event_id": event_id,
                "state": LinkState.REVOKED.value,
                "provisioned_at": {"$ne": None},
            }
        )
        return LinkCounts(pending=pending, provisioned=provisioned, revoked=revoked)

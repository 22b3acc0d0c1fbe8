"""The streaming service's own database: events' stream details and registrations' links.

``stream_events``: one document per event, ``_id`` = event id, with what
links need (stream URL, times, time zone, window, title, whether the event
was cancelled) at the newest revision seen; an older revision never
replaces a newer one, and a cancellation is never undone. A join reads it
by ``_id``, so links follow the event's time without being rewritten.

``stream_links``: one document per registration, ``_id`` = registration id,
with the event id, the link's state (``pending``, ``provisioned``,
``revoked``), when it changed, and its first and last join; never the
token, which is derived from the registration id and the secret whenever it
is needed. A transition and the event announcing it
(``stream.link.provisioned`` / ``stream.link.revoked``) are one
single-document write: the first state of a registration is an insert
(unique on ``_id``), later ones a conditional update on ``version``.
The first join and its ``stream.joined`` are one write too, conditional
on the stored link having no first join yet, so concurrent first joins
announce it once. The store wakes the outbox relay once such an event is
written.

Both collections are ``VersionedDocuments`` (the event details versioned by
their own ``revision``). FerretDB v1, the local and test server, applies an
update by reading the whole document and writing it back, and does not
re-check the update's filter when it writes. So within the process every
write of one document, the outbox relay's removal of published entries
included, holds that document's ``DocumentLocks`` lock (the same instance is
given to the relay); the conditional updates guard against other processes
on MongoDB, where a single-document update is atomic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import EventDetails, LocalizedText, StreamPlayback
from ilmo_shared.clock import to_millisecond
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.recent_reads import RecentReads
from ilmo_shared.storage import Document, DocumentLocks, Keep, VersionedDocuments, Write
from ilmo_streaming.domain import Change, EventStream, Joined, LinkState, StreamLink
from ilmo_streaming.metrics import WRITE_CONFLICTS
from ilmo_streaming.publication import LinkUrl, outbox_entries

EVENTS = "stream_events"
LINKS = "stream_links"

Transition = Callable[[StreamLink | None], Change | None]
# The details now stored, and whether these are the ones just offered.
Applied = tuple[EventStream, bool]


def _millis(moment: datetime) -> datetime:
    """UTC at the precision MongoDB keeps, so that what is used is exactly what is stored."""
    return to_millisecond(moment.astimezone(UTC))


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
        "cancelled": stream.cancelled,
        "playback": stream.playback.value,
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
        cancelled=bool(document.get("cancelled", False)),
        # Details stored before signed playback existed were all redirects.
        playback=StreamPlayback(document.get("playback", StreamPlayback.REDIRECT)),
    )


class StreamEventStore:
    """The stream details of each event, at the newest revision seen.

    Granting a link reads its event's details, once per remote registrant.
    ``recent`` answers from a read made less than ``recent_seconds`` ago
    (``ilmo_shared.recent_reads``): details this process stores are seen at
    once, another replica's within that bound. What a read that old can
    change is the window a link just provisioned announces, exactly as if the
    link had been provisioned that moment before the change; the change's own
    notice follows either way. A join judges the window from ``get``, never
    from a recent read.
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        locks: DocumentLocks,
        recent_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events: AsyncCollection[Document] = database[EVENTS]
        # Versioned by the revision of the details: written as offered, never incremented.
        self._documents = VersionedDocuments(
            self.events, locks=locks, version_field="revision", on_conflict=WRITE_CONFLICTS.inc
        )
        self._recent: RecentReads[str, EventStream | None] = RecentReads(
            recent_seconds, clock=monotonic
        )

    async def get(self, event_id: str) -> EventStream | None:
        """The details as stored now (one read by ``_id``)."""
        document = await self.events.find_one({"_id": event_id})
        return _stream(document) if document is not None else None

    async def recent(self, event_id: str) -> EventStream | None:
        """``get``, or what it answered less than ``recent_seconds`` ago."""
        return await self._recent.get(event_id, lambda: self.get(event_id))

    async def apply(self, details: EventDetails, now: datetime) -> Applied:
        """Keep ``details`` unless a newer revision is stored: the current details, and if new."""
        offered = EventStream.from_details(details)

        def decide(document: Document | None) -> Keep[Applied] | Write[Applied]:
            current = _stream(document) if document is not None else None
            if current is not None and not offered.supersedes(current):
                return Keep((current, False))
            fields = _stream_document(offered.after(current))
            stored_form = _stream({"_id": offered.event_id, **fields})
            return Write((stored_form, True), {**fields, "updated_at": now})

        try:
            return await self._documents.change(offered.event_id, decide)
        finally:
            self._recent.forget(offered.event_id)


# ------------------------------------------------------------------- links


@dataclass(frozen=True)
class LinkCounts:
    """How many links of an event are in each state."""

    pending: int
    provisioned: int
    revoked: int
    watched: int = 0


def _link_fields(link: StreamLink) -> dict[str, Any]:
    return {
        "event_id": link.event_id,
        "state": link.state.value,
        "changed_at": _millis(link.changed_at),
        "provisioned_at": _millis(link.provisioned_at) if link.provisioned_at else None,
        "revoked_at": _millis(link.revoked_at) if link.revoked_at else None,
        "attendance_version": link.attendance_version,
        "first_joined_at": _millis(link.first_joined_at) if link.first_joined_at else None,
        "last_joined_at": _millis(link.last_joined_at) if link.last_joined_at else None,
    }


def _link(document: Mapping[str, Any]) -> StreamLink:
    return StreamLink(
        registration_id=uuid.UUID(str(document["_id"])),
        event_id=str(document["event_id"]),
        state=LinkState(document["state"]),
        changed_at=document["changed_at"],
        provisioned_at=document.get("provisioned_at"),
        revoked_at=document.get("revoked_at"),
        # Stored before switching existed: version 1.
        attendance_version=int(document.get("attendance_version") or 1),
        # Stored before attendance was recorded: never joined.
        first_joined_at=document.get("first_joined_at"),
        last_joined_at=document.get("last_joined_at"),
    )


class StreamLinkStore:
    """Each registration's link state, stored with its pending events in one document."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        outbox: Outbox,
        link_url: LinkUrl,
        locks: DocumentLocks,
    ) -> None:
        self.links: AsyncCollection[Document] = database[LINKS]
        self._outbox = outbox
        self._link_url = link_url
        self._documents = VersionedDocuments(
            self.links, locks=locks, outbox=outbox, on_conflict=WRITE_CONFLICTS.inc
        )

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

        def decide(document: Document | None) -> Keep[Change | None] | Write[Change | None]:
            change = transition(_link(document) if document is not None else None)
            if change is None:
                return Keep(None)
            entries = outbox_entries(change.facts, self._outbox, self._link_url)
            # The first join is announced once: only while none is stored.
            first_join = any(isinstance(fact, Joined) for fact in change.facts)
            condition = {"first_joined_at": None} if first_join else {}
            return Write(change, _link_fields(change.link), events=entries, condition=condition)

        return await self._documents.change(str(registration_id), decide)

    async def pending_for(self, event_id: str) -> list[uuid.UUID]:
        """Registrations of ``event_id`` whose link waits for the event's details."""
        cursor = self.links.find(
            {"event_id": event_id, "state": LinkState.PENDING.value}, projection={"_id": 1}
        )
        return [uuid.UUID(str(document["_id"])) async for document in cursor]

    async def counts(self, event_id: str) -> LinkCounts:
        """Links of ``event_id`` by state, and how many were ever joined.

        Pending, provisioned (working), revoked after provisioning, and
        watched (joined at least once, whatever their state now).
        """
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
        watched = await self.links.count_documents(
            {"event_id": event_id, "first_joined_at": {"$ne": None}}
        )
        return LinkCounts(
            pending=pending, provisioned=provisioned, revoked=revoked, watched=watched
        )

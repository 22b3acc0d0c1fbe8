"""The registrations' documents (see the package's docstring)."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from ilmo_event_contracts import (
    Attendance,
    ErasureReason,
    Language,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    RegistrationDetailsChanged,
    RegistrationErased,
    RegistrationExpired,
    RegistrationManageLinkRequested,
    RegistrationRepeated,
    RegistrationSubmitted,
)
from ilmo_event_contracts.integration import integration_form
from ilmo_registration.domain import (
    Correction,
    LinkState,
    NeedsChange,
    Registrant,
    RegistrationState,
    Seat,
    SeatState,
    Standing,
    StatusReport,
    StreamLink,
    apply_report,
    erased_email_key,
    normalise_email,
)
from ilmo_registration.history import (
    Change,
    Entry,
    entries_of,
    entry_document,
    reported,
    switched_to,
)
from ilmo_registration.listing import ListingRow
from ilmo_registration.privacy import (
    NeedsConsent,
    NoticeShown,
)
from ilmo_registration.storage.events import ATTEMPTS
from ilmo_registration.storage.listing import RegistrationListing
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import (
    ConcurrentChangeError,
    Document,
    DocumentLocks,
    Keep,
    VersionedDocuments,
    Write,
)

REGISTRATION_COLLECTION = "registrations"
log = structlog.get_logger(__name__)
# When a registration's manage link was last mailed on request.
LINK_REQUESTED = "link_requested_at"
CANCELLED = Standing.CANCELLED.value
ACTIVE = Standing.ACTIVE.value
PENDING = Standing.PENDING.value
EXPIRED = Standing.EXPIRED.value
# Cancellation events get an id derived from the registration id: should two
# processes ever both record a cancellation, consumers see one event twice.
_CANCELLATION_IDS = uuid.UUID("0b7f4f2e-2f43-4a4e-9a59-5d8f3b0c7a11")
# The same for erasures: one registration, one ``registration.erased`` id.
_ERASURE_IDS = uuid.UUID("8f0c2d61-7a4e-4f5b-9d0e-3c1b6a2e9f47")
# The same for the acceptance that follows a confirmation, and for an expiry.
_ACCEPTANCE_IDS = uuid.UUID("6a0f1b5e-94d4-4a55-8f7e-0e8d8f3c2b21")
_EXPIRY_IDS = uuid.UUID("c2d9b7a4-3e51-4f0b-9a8e-7d6c5b4a3f92")
# The same for switches of attendance: one id per (registration, attendance version).
_SWITCH_IDS = uuid.UUID("3d6f0a9c-51b2-4e87-a4c3-9b2e7f1d0c58")
# And for each version of a registration's corrected details.
_DETAILS_IDS = uuid.UUID("5e3b9d27-81c4-4f6a-b0d2-9a7c6e1f4b38")
# What identifies a person in a registration document; an erasure removes all
# of it, and so does the expiry of a registration never confirmed.
PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "organisation",
    "needs",
    "manage_token_sha256",
)
# What a ``Holder`` is made of.
_HOLDER_FIELDS = {
    field: 1 for field in ("status", "event_id", "expires_at", "repeat_notified_at", LINK_REQUESTED)
}
# What the listing read model's row is made of (``listing_row_of``).
_LISTED_FIELDS = {
    field: 1
    for field in (
        "event_id",
        "first_name",
        "last_name",
        "email",
        "organisation",
        "language",
        "attendance",
        "attendance_version",
        "status",
        "registered_at",
        "erased_at",
        "revision",
        "seat",
        "stream_link",
        "checked_in_at",
        "watched_at",
        "listing_chunk",
    )
}


# --------------------------------------------------------------- registrations


@dataclass(frozen=True)
class StoredRegistration:
    id: str
    registrant: Registrant
    token_digest: str
    registered_at: datetime
    cancelled_at: datetime | None
    state: RegistrationState
    notice_shown: NoticeShown | None = None
    needs_consent: NeedsConsent | None = None
    # Set once the personal data is erased: ``registrant`` then has no names,
    # address, organisation or needs (empty or None), and ``token_digest`` is "".
    erased_at: datetime | None = None
    erasure_reason: ErasureReason | None = None
    expires_at: datetime | None = None
    # The document's revision as read (every write grows it), and how many
    # times the registrant corrected their details (0: never).
    revision: int = 0
    details_version: int = 0
    # What happened to it, oldest first (``history``); empty for one stored before.
    history: tuple[Entry, ...] = ()
    # When the door checked the person in (``storage.check_ins`` holds the record
    # itself), and when they first opened the stream (streaming's ``stream.joined``).
    checked_in_at: datetime | None = None
    watched_at: datetime | None = None

    @property
    def event_id(self) -> str:
        return self.state.event_id

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


@dataclass(frozen=True)
class Holder:
    """The registration that holds an address for an event, as much as a repeat needs of it."""

    id: str
    event_id: str
    standing: Standing
    expires_at: datetime | None
    repeat_notified_at: datetime | None
    # When its manage link was last mailed on request (``record_link_request``).
    link_requested_at: datetime | None = None


class ReportOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNKNOWN_REGISTRATION = "unknown_registration"


class RegistrationStore:
    """Registrations, each stored with its pending events in one document, in one write."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        outbox: Outbox,
        locks: DocumentLocks,
        listing: RegistrationListing | None = None,
    ) -> None:
        self.registrations: AsyncCollection[Document] = database[REGISTRATION_COLLECTION]
        self._outbox = outbox
        self._locks = locks
        # The console's read model, kept after each write (``storage.listing``).
        self.listing = listing
        self._documents = VersionedDocuments(
            self.registrations, locks=locks, version_field="revision", attempts=ATTEMPTS
        )

    async def create_indexes(self) -> None:
        await self.registrations.create_index(
            [("event_id", ASCENDING), ("email_key", ASCENDING)], unique=True
        )
        await self.registrations.create_index(
            [("event_id", ASCENDING), ("registered_at", ASCENDING)]
        )

    async def add(
        self,
        fact: RegistrationAccepted | RegistrationSubmitted,
        *,
        needs: str | None,
        token_digest: str,
        notice_shown: NoticeShown,
        needs_consent: NeedsConsent | None,
    ) -> Holder | None:
        """Durably store the registration with the event that records it; None when stored.

        ``registration.submitted`` stores it pending confirmation (until
        ``expires_at``), ``registration.accepted`` accepted at once (with its
        integration form). When the address already holds a registration for
        the event nothing is stored and that holder is the answer; if it
        gave the address up in the meantime, a stand-in that reads as expired
        (``domain.decide_repeat`` then says to try again).
        """
        registration_id = str(fact.registration_id)
        if isinstance(fact, RegistrationSubmitted):
            pending, taken_at, expires_at = True, fact.submitted_at, fact.expires_at
        else:
            pending, taken_at, expires_at = False, fact.registered_at, None
        document = {
            "_id": registration_id,
            "event_id": fact.event_id,
            "email_key": normalise_email(fact.email),
            "first_name": fact.first_name,
            "last_name": fact.last_name,
            "email": fact.email,
            "organisation": fact.organisation,
            "attendance": fact.attendance.value,
            "attendance_version": 1,
            "language": fact.language.value,
            "needs": needs,
            "needs_consent": _consent_document(needs_consent),
            "privacy_notice": {
                "version": notice_shown.version,
                "language": notice_shown.language.value,
                "shown_at": notice_shown.shown_at,
            },
            "manage_token_sha256": token_digest,
            "registered_at": taken_at,
            "status": PENDING if pending else ACTIVE,
            "expires_at": expires_at,
            "cancelled_at": None,
            "seat": _seat_document(Seat()),
            "stream_link": _link_document(StreamLink()),
            "revision": 1,
            "history": [entry_document(taken_at, Change.SUBMITTED if pending else Change.ACCEPTED)],
            OUTBOX_FIELD: self._outbox.entries(fact, None if pending else integration_form(fact)),
        }
        if self.listing is not None:
            document["listing_chunk"] = await self.listing.place(fact.event_id, registration_id)
        try:
            await self.registrations.insert_one(document)
        except DuplicateKeyError:
            holder = await self.holder(fact.event_id, normalise_email(fact.email))
            return holder or Holder(registration_id, fact.event_id, Standing.EXPIRED, None, None)
        self._outbox.inserted(document)
        await self._list(document)
        return None

    async def holder(self, event_id: str, email_key: str) -> Holder | None:
        """The registration holding ``email_key`` for the event, if any.

        Served by the unique index on MongoDB; FerretDB v1 reads the
        collection for it. Only a repeat registration asks.
        """
        document = await self.registrations.find_one(
            {"event_id": event_id, "email_key": email_key},
            projection=_HOLDER_FIELDS,
        )
        return _holder(document) if document is not None else None

    async def holder_of_address(self, event_id: str, email_key: str) -> Holder | None:
        """As ``holder``, with the same work whether or not a registration holds the address.

        For an answer that must not tell which (a request for a manage link):
        the read asks for a second match, which the unique index never has,
        so it does not stop at the first one. MongoDB answers both from the
        index; FerretDB v1, which uses none, reads the whole collection for
        both rather than stopping early when the address is found.
        """
        cursor = self.registrations.find(
            {"event_id": event_id, "email_key": email_key}, projection=_HOLDER_FIELDS, limit=2
        )
        found = [_holder(document) async for document in cursor]
        return found[0] if found else None

    async def standing_of(
        self, registration_id: str
    ) -> tuple[Holder, StoredRegistration | None] | None:
        """Where a registration stands, with the registration unless it expired; one read.

        For the confirmation, which needs both (they were two reads of the
        same document). An expired one has no personal data left.
        """
        document = await self.registrations.find_one(
            {"_id": registration_id}, projection={OUTBOX_FIELD: 0}
        )
        if document is None:
            return None
        holder = _holder(document)
        if holder.standing is Standing.EXPIRED:
            return holder, None
        return holder, _stored_registration(document)

    async def confirm(self, accepted: RegistrationAccepted) -> bool:
        """Accept a pending registration as of ``accepted.registered_at``; False if not pending.

        One conditional write sets it active, moves ``registered_at`` to the
        confirmation and records ``registration.accepted`` with its
        integration form (under an envelope id derived from the registration,
        so two processes confirming at once publish one fact).
        """
        registration_id = str(accepted.registration_id)
        entries = self._outbox.entries(
            accepted,
            integration_form(accepted),
            envelope_id=str(uuid.uuid5(_ACCEPTANCE_IDS, registration_id)),
        )
        return await self._conditional(
            registration_id,
            # Not past its expiry either, should it have expired since it was read.
            {"status": PENDING, "expires_at": {"$gt": accepted.registered_at}},
            {
                "$set": {
                    "status": ACTIVE,
                    "registered_at": accepted.registered_at,
                    "confirmed_at": accepted.registered_at,
                    "expires_at": None,
                },
                "$inc": {"revision": 1},
                "$push": {
                    OUTBOX_FIELD: {"$each": entries},
                    "history": entry_document(accepted.registered_at, Change.ACCEPTED),
                },
            },
        )

    async def expire(self, holder: Holder, now: datetime) -> bool:
        """Remove a pending registration whose time ran out; False if it is not that.

        One conditional write (still pending, and expired by ``now``): the
        address is given up, the personal data removed, and
        ``registration.expired`` recorded for the notification service,
        which forgets its copy. Internal only: outside systems never heard
        of the registration.
        """
        expired = RegistrationExpired(
            registration_id=uuid.UUID(holder.id), event_id=holder.event_id, expired_at=now
        )
        entries = self._outbox.entries(
            expired, None, envelope_id=str(uuid.uuid5(_EXPIRY_IDS, holder.id))
        )
        return await self._conditional(
            holder.id,
            {"status": PENDING, "expires_at": {"$lte": now}},
            {
                "$set": {
                    "status": EXPIRED,
                    "expired_at": now,
                    "email_key": f"{holder.id}/expired",
                },
                "$unset": dict.fromkeys(PERSONAL_FIELDS, ""),
                "$inc": {"revision": 1},
                "$push": {
                    OUTBOX_FIELD: {"$each": entries},
                    "history": entry_document(now, Change.EXPIRED),
                },
            },
        )

    async def expired_pending(self, now: datetime, limit: int) -> list[Holder]:
        """Pending registrations whose time ran out, at most ``limit`` (for the sweep)."""
        cursor = self.registrations.find(
            {"status": PENDING, "expires_at": {"$lte": now}},
            projection=_HOLDER_FIELDS,
            limit=limit,
        )
        return [_holder(document) async for document in cursor]

    async def notify_repeat(self, holder: Holder, now: datetime) -> bool:
        """Record ``registration.repeated`` for the holder; False if another did first.

        Conditional on the holder being as read (its status and when a
        repeat was last told), so concurrent repeats record one event and
        the repeat interval holds across replicas.
        """
        pending = holder.standing is Standing.PENDING
        repeated = RegistrationRepeated(
            registration_id=uuid.UUID(holder.id),
            event_id=holder.event_id,
            awaiting_confirmation=pending,
            expires_at=holder.expires_at if pending else None,
            repeated_at=now,
        )
        return await self._conditional(
            holder.id,
            {"status": holder.standing.value, "repeat_notified_at": holder.repeat_notified_at},
            {
                "$set": {"repeat_notified_at": now},
                "$inc": {"revision": 1},
                "$push": {OUTBOX_FIELD: {"$each": self._outbox.entries(repeated, None)}},
            },
        )

    async def record_link_request(
        self, holder: Holder, requested: RegistrationManageLinkRequested
    ) -> bool:
        """Record ``registration.manage_link_requested``; False if another request did first.

        Conditional on the holder being as read (its status and when its link
        was last asked for), so concurrent requests record one event and the
        link interval holds across replicas.
        """
        return await self._conditional(
            holder.id,
            {"status": holder.standing.value, LINK_REQUESTED: holder.link_requested_at},
            {
                "$set": {LINK_REQUESTED: requested.requested_at},
                "$inc": {"revision": 1},
                "$push": {OUTBOX_FIELD: {"$each": self._outbox.entries(requested, None)}},
            },
        )

    async def _conditional(
        self, registration_id: str, condition: Document, update: Document
    ) -> bool:
        """One conditional write with outbox entries; True if it matched (the relay is woken)."""
        if not await self._update_listed({"_id": registration_id, **condition}, update):
            return False
        self._outbox.written(registration_id, update["$push"][OUTBOX_FIELD]["$each"])
        return True

    async def _update_listed(self, condition: Document, update: Document) -> bool:
        """One update of a registration, then its listing row; False if nothing matched.

        The row is made from the document as the update left it, which
        ``find_one_and_update`` answers in the same command: reading the
        registration again afterwards was one more command per write. FerretDB
        v1 takes no projection with it (``fields`` is not implemented), so
        the whole document comes back, outbox and all; that still costs it
        less than a second command, which would read and decode the document
        from SQLite again.
        """
        async with self._locks.hold(self.registrations.name, condition["_id"]):
            if self.listing is None:
                result = await self.registrations.update_one(condition, update)
                return result.matched_count == 1
            written = await self.registrations.find_one_and_update(
                condition, update, return_document=ReturnDocument.AFTER
            )
        if written is None:
            return False
        await self._list(written)
        return True

    async def _list(self, document: Document) -> None:
        """Put the registration's row in the listing read model, if there is one.

        The registration is stored already, so a failure here must not fail
        what the caller asked: the event's listing is marked unbuilt instead,
        and its next reading builds it again from the registrations.
        """
        if self.listing is None:
            return
        event_id = str(document["event_id"])
        try:
            await self.listing.put(
                event_id, listing_row_of(document), document.get("listing_chunk")
            )
        except (PyMongoError, ConcurrentChangeError) as error:
            log.warning(
                "listing_row_not_written",
                registration_id=str(document["_id"]),
                error_type=type(error).__name__,
            )
            with contextlib.suppress(PyMongoError):
                await self.listing.forget(event_id)

    async def listing_rows(self, event_id: str) -> list[ListingRow]:
        """The rows of the event's registrations read from the registrations themselves.

        A scan of the whole collection on FerretDB: only for building the
        listing of an event that has none yet (``RegistrationListing.rebuild``).
        """
        cursor = self.registrations.find({"event_id": event_id}, projection=_LISTED_FIELDS)
        return [listing_row_of(document) async for document in cursor]

    async def rebuild_listing(self, event_id: str) -> list[ListingRow]:
        """Build the event's listing from its registrations (a scan: see ``listing_rows``).

        Each row goes to the chunk recorded with its registration, where its
        later writes will go too.
        """
        if self.listing is None:
            raise RuntimeError("this store keeps no listing")
        rows: list[ListingRow] = []
        chunks: dict[str, str] = {}
        cursor = self.registrations.find({"event_id": event_id}, projection=_LISTED_FIELDS)
        async for document in cursor:
            rows.append(listing_row_of(document))
            if document.get("listing_chunk"):
                chunks[str(document["_id"])] = str(document["listing_chunk"])
        await self.listing.rebuild(event_id, rows, chunks)
        return rows

    async def get(self, registration_id: str) -> StoredRegistration | None:
        """The registration, unless there is none or it expired (nothing is left of it)."""
        document = await self.registrations.find_one(
            {"_id": registration_id, "status": {"$ne": EXPIRED}}, projection={OUTBOX_FIELD: 0}
        )
        return _stored_registration(document) if document is not None else None

    async def for_event(self, event_id: str) -> list[StoredRegistration]:
        cursor = self.registrations.find(
            {"event_id": event_id, "status": {"$ne": EXPIRED}},
            projection={OUTBOX_FIELD: 0},
            sort=[("registered_at", ASCENDING), ("_id", ASCENDING)],
        )
        return [_stored_registration(document) async for document in cursor]

    async def on_site_holding(self, event_id: str) -> int:
        """How many on-site registrations of the event hold or may hold a seat (not cancelled).

        For the event page's seat estimate: counted, never read.
        """
        return await self.registrations.count_documents(
            {
                "event_id": event_id,
                "attendance": Attendance.IN_PERSON.value,
                "status": {"$in": [ACTIVE, PENDING]},
            }
        )

    async def cancel(self, registration: StoredRegistration, now: datetime) -> bool:
        """Cancel and record ``registration.cancelled``; False if it was cancelled already.

        One conditional write: only a registration that is not cancelled (or
        expired) yet changes, so a repeated request records no second event.
        The address is given up, so the person may register again. A pending
        registration's cancellation is internal only (for the notification
        service's mail): outside systems never heard of it.
        """
        cancelled = RegistrationCancelled(
            registration_id=uuid.UUID(registration.id),
            event_id=registration.event_id,
            attendance=registration.registrant.attendance,
            cancelled_at=now,
        )
        entries = self._outbox.entries(
            cancelled,
            None if registration.state.pending else integration_form(cancelled),
            envelope_id=str(uuid.uuid5(_CANCELLATION_IDS, registration.id)),
        )
        return await self._conditional(
            registration.id,
            {"status": {"$nin": [CANCELLED, EXPIRED]}},
            {
                "$set": {
                    "status": CANCELLED,
                    "cancelled_at": now,
                    "email_key": f"{registration.id}/cancelled",
                },
                "$inc": {"revision": 1},
                "$push": {
                    OUTBOX_FIELD: {"$each": entries},
                    "history": entry_document(now, Change.CANCELLED),
                },
            },
        )

    async def switch_attendance(
        self, registration: StoredRegistration, changed: RegistrationAttendanceChanged
    ) -> bool:
        """Record the switch ``changed`` describes; False if the registration changed meanwhile.

        One conditional write on the revision that was read (so two switches
        decided from the same state cannot both take the same version): the
        new attendance and its version, the seat cleared until capacity
        answers the new version, and ``registration.attendance_changed`` with
        its integration form, under an envelope id derived from the
        registration and the version.
        """
        entries = self._outbox.entries(
            changed,
            integration_form(changed),
            envelope_id=str(
                uuid.uuid5(_SWITCH_IDS, f"{registration.id}/{changed.attendance_version}")
            ),
        )
        return await self._conditional(
            registration.id,
            {"revision": registration.revision, "status": ACTIVE, "erased_at": None},
            {
                "$set": {
                    "attendance": changed.attendance.value,
                    "attendance_version": changed.attendance_version,
                    "attendance_changed_at": changed.changed_at,
                    "seat": _seat_document(Seat()),
                },
                "$inc": {"revision": 1},
                "$push": {
                    OUTBOX_FIELD: {"$each": entries},
                    "history": entry_document(changed.changed_at, switched_to(changed.attendance)),
                },
            },
        )

    async def withdraw_needs_consent(self, registration_id: str, now: datetime) -> bool:
        """Erase the needs and record the withdrawal; False if there was no consent to withdraw.

        Needs never leave this service (no event carries them), so erasing
        them here is erasing them everywhere; nothing is published.
        """
        async with self._locks.hold(self.registrations.name, registration_id):
            result = await self.registrations.update_one(
                {
                    "_id": registration_id,
                    "needs_consent.given_at": {"$ne": None},
                    "needs_consent.withdrawn_at": None,
                },
                {
                    "$set": {"needs": None, "needs_consent.withdrawn_at": now},
                    "$inc": {"revision": 1},
                },
            )
        return result.matched_count == 1

    async def correct(
        self, registration: StoredRegistration, correction: Correction, now: datetime
    ) -> bool:
        """Store the registrant's corrected details; False if the registration changed since read.

        One conditional write on the revision read (so a cancellation, an
        erasure or another correction in between makes it decide again):
        the new details, the next ``details_version``, and, when names,
        organisation or language changed, ``registration.details_changed``
        for the services that keep them (internal only: personal data). New
        needs come with a consent given now, the earlier one kept on record
        (``earlier_needs_consents``); cleared needs withdraw the consent.
        """
        details = correction.details
        version = registration.details_version + 1
        fields: dict[str, Any] = {
            "first_name": details.first_name,
            "last_name": details.last_name,
            "organisation": details.organisation,
            "language": details.language.value,
            "needs": details.needs,
            "details_version": version,
            "details_changed_at": now,
        }
        pushes: dict[str, Any] = {"history": entry_document(now, Change.DETAILS_CORRECTED)}
        fields.update(_consent_change(registration.needs_consent, correction.needs, now, pushes))
        if correction.shared:
            changed = RegistrationDetailsChanged(
                registration_id=uuid.UUID(registration.id),
                event_id=registration.event_id,
                first_name=details.first_name,
                last_name=details.last_name,
                organisation=details.organisation,
                language=details.language,
                details_version=version,
                changed_at=now,
            )
            entries = self._outbox.entries(
                changed,
                None,
                envelope_id=str(uuid.uuid5(_DETAILS_IDS, f"{registration.id}/{version}")),
            )
            pushes[OUTBOX_FIELD] = {"$each": entries}
        update: dict[str, Any] = {"$set": fields, "$inc": {"revision": 1}, "$push": pushes}
        condition = {"revision": registration.revision, "erased_at": None}
        if correction.shared:
            return await self._conditional(registration.id, condition, update)
        return await self._update_listed({"_id": registration.id, **condition}, update)

    async def erase(
        self,
        registration: StoredRegistration,
        now: datetime,
        reason: ErasureReason,
        *,
        cancel: bool,
    ) -> bool:
        """Turn the registration into its tombstone and record ``registration.erased``.

        With ``cancel`` (``domain.decide_erasure``) it is also cancelled, and
        ``registration.cancelled`` is recorded before the erasure, in the
        same write, so capacity and streaming free the seat and the link as
        for any cancellation. One conditional write: only a registration not
        erased yet (and, with ``cancel``, not cancelled yet) changes, so a
        repeat records nothing. False when nothing changed.
        """
        registration_id = uuid.UUID(registration.id)
        entries: list[dict[str, Any]] = []
        history = [entry_document(now, Change.ERASED)]
        fields: dict[str, Any] = {
            "erased_at": now,
            "erasure_reason": reason.value,
            "email_key": erased_email_key(registration.id),
            # The personal stream link's URL carries the registrant's token.
            "stream_link.url": None,
        }
        condition: dict[str, Any] = {"_id": registration.id, "erased_at": None}
        if cancel:
            cancelled = RegistrationCancelled(
                registration_id=registration_id,
                event_id=registration.event_id,
                attendance=registration.registrant.attendance,
                cancelled_at=now,
            )
            entries += self._outbox.entries(
                cancelled,
                integration_form(cancelled),
                envelope_id=str(uuid.uuid5(_CANCELLATION_IDS, registration.id)),
            )
            fields.update(status=CANCELLED, cancelled_at=now)
            history.insert(0, entry_document(now, Change.CANCELLED))
            condition["status"] = {"$ne": CANCELLED}
        erased = RegistrationErased(
            registration_id=registration_id,
            event_id=registration.event_id,
            erased_at=now,
            erasure_reason=reason,
        )
        entries += self._outbox.entries(
            erased,
            integration_form(erased),
            envelope_id=str(uuid.uuid5(_ERASURE_IDS, registration.id)),
        )
        update = {
            "$set": fields,
            "$unset": dict.fromkeys(PERSONAL_FIELDS, ""),
            "$inc": {"revision": 1},
            "$push": {OUTBOX_FIELD: {"$each": entries}, "history": {"$each": history}},
        }
        if not await self._update_listed(condition, update):
            return False
        self._outbox.written(registration.id, entries)
        return True

    async def erase_needs(self, registration_id: str) -> bool:
        """Drop the registration's ``needs`` (the event is over); False if there were none."""
        async with self._locks.hold(self.registrations.name, registration_id):
            result = await self.registrations.update_one(
                {"_id": registration_id, "needs": {"$ne": None}},
                {"$set": {"needs": None}, "$inc": {"revision": 1}},
            )
        return result.matched_count == 1

    async def mark_checked_in(self, registration_id: str, checked_in_at: datetime) -> bool:
        """Copy a check-in onto the registration (for its listing row and the export).

        The check-in itself is ``storage.check_ins``' insert; this is its
        projection, written after it and again whenever the door is told
        "already checked in", so a crash in between heals at the next scan.
        False if it was there already (or there is no such registration).
        """
        return await self._update_listed(
            {"_id": registration_id, "checked_in_at": None},
            {"$set": {"checked_in_at": checked_in_at}, "$inc": {"revision": 1}},
        )

    async def record_watch(self, registration_id: str, joined_at: datetime) -> ReportOutcome:
        """Record the first time the registrant opened the stream; a repeat changes nothing."""
        if await self._update_listed(
            {"_id": registration_id, "watched_at": None},
            {"$set": {"watched_at": joined_at}, "$inc": {"revision": 1}},
        ):
            return ReportOutcome.APPLIED
        found = await self.registrations.find_one({"_id": registration_id}, projection={"_id": 1})
        return ReportOutcome.UNCHANGED if found is not None else ReportOutcome.UNKNOWN_REGISTRATION

    async def apply_report(self, registration_id: str, report: StatusReport) -> ReportOutcome:
        """Take in what capacity or streaming reported, once, and never backwards.

        A cancelled or erased registration is never written again, even if it
        was cancelled or erased between the read and the write (a late
        ``stream.link.provisioned`` must not bring a link's URL back).

        The listing row is made from the document read and the fields
        written: the write was conditional on the revision read, so that is
        exactly what the registration became (no second read of it).
        """
        written: list[Document] = []

        def decide(document: Document | None) -> Keep[ReportOutcome] | Write[ReportOutcome]:
            if document is None:
                return Keep(ReportOutcome.UNKNOWN_REGISTRATION)
            state = _state(document)
            changed = apply_report(state, report)
            if changed is None:
                return Keep(ReportOutcome.UNCHANGED)
            changes = [entry_document(e.at, e.change) for e in reported(state, changed)]
            fields: dict[str, Any] = {"history": [*document.get("history", []), *changes]}
            if changed.seat != state.seat:
                fields["seat"] = _seat_document(changed.seat)
            if changed.link != state.link:
                fields["stream_link"] = _link_document(changed.link)
            # VersionedDocuments increments the revision it read.
            written[:] = [{**document, **fields, "revision": int(document["revision"]) + 1}]
            return Write(
                ReportOutcome.APPLIED,
                fields=fields,
                condition={"status": {"$ne": CANCELLED}, "erased_at": None},
            )

        outcome = await self._documents.change(registration_id, decide)
        if outcome is ReportOutcome.APPLIED:
            await self._list(written[-1])
        return outcome


def _consent_change(
    consent: NeedsConsent | None, change: NeedsChange, now: datetime, pushes: dict[str, Any]
) -> dict[str, Any]:
    """The fields to set for what ``change`` does to the consent for needs.

    New needs come with a consent given now; the one before, if any, is
    pushed to ``earlier_needs_consents`` (withdrawn now, if it was not), so
    that every consent stays on record. Cleared needs withdraw the consent.
    """
    active = consent is not None and consent.withdrawn_at is None
    if change is NeedsChange.CONSENTED:
        if consent is not None:
            earlier = replace(consent, withdrawn_at=now) if active else consent
            pushes["earlier_needs_consents"] = _consent_document(earlier)
        return {"needs_consent": _consent_document(NeedsConsent(given_at=now))}
    if change is NeedsChange.CLEARED and consent is not None and active:
        return {"needs_consent": _consent_document(replace(consent, withdrawn_at=now))}
    return {}


def _consent_document(consent: NeedsConsent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {"given_at": consent.given_at, "withdrawn_at": consent.withdrawn_at}


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
        erased=document.get("erased_at") is not None,
        pending=document.get("status") == PENDING,
        expired=document.get("status") == EXPIRED,
        # Stored before switching existed: version 1.
        attendance_version=int(document.get("attendance_version") or 1),
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
    """The registration a document holds; a tombstone's personal fields read as empty."""
    reason = document.get("erasure_reason")
    return StoredRegistration(
        id=document["_id"],
        registrant=Registrant(
            first_name=document.get("first_name", ""),
            last_name=document.get("last_name", ""),
            email=document.get("email", ""),
            organisation=document.get("organisation"),
            attendance=Attendance(document["attendance"]),
            language=Language(document["language"]),
            needs=document.get("needs"),
        ),
        token_digest=document.get("manage_token_sha256", ""),
        registered_at=document["registered_at"],
        cancelled_at=document.get("cancelled_at"),
        state=_state(document),
        notice_shown=_notice_shown(document.get("privacy_notice")),
        needs_consent=_needs_consent(document.get("needs_consent")),
        erased_at=document.get("erased_at"),
        erasure_reason=ErasureReason(reason) if reason is not None else None,
        expires_at=document.get("expires_at"),
        revision=int(document.get("revision", 0)),
        details_version=int(document.get("details_version") or 0),
        history=tuple(entries_of(document.get("history"))),
        checked_in_at=document.get("checked_in_at"),
        watched_at=document.get("watched_at"),
    )


def _holder(document: Document) -> Holder:
    return Holder(
        id=str(document["_id"]),
        event_id=str(document["event_id"]),
        standing=Standing(document.get("status", ACTIVE)),
        expires_at=document.get("expires_at"),
        repeat_notified_at=document.get("repeat_notified_at"),
        link_requested_at=document.get(LINK_REQUESTED),
    )


def _notice_shown(stored: dict[str, Any] | None) -> NoticeShown | None:
    """None for a registration taken before notices were recorded."""
    if not stored:
        return None
    return NoticeShown(stored["version"], Language(stored["language"]), stored["shown_at"])


def _needs_consent(stored: dict[str, Any] | None) -> NeedsConsent | None:
    if not stored:
        return None
    return NeedsConsent(stored["given_at"], stored.get("withdrawn_at"))


def listing_row_of(document: Document) -> ListingRow:
    """The listing's row of a registration document (read with ``_LISTED_FIELDS``)."""
    state = _state(document)
    return ListingRow(
        registration_id=str(document["_id"]),
        first_name=document.get("first_name", ""),
        last_name=document.get("last_name", ""),
        email=document.get("email", ""),
        organisation=document.get("organisation"),
        language=Language(document["language"]),
        attendance=state.attendance,
        status=state.status,
        registered_at=document["registered_at"],
        erased=document.get("erased_at") is not None,
        expired=document.get("status") == EXPIRED,
        revision=int(document.get("revision", 0)),
        checked_in_at=document.get("checked_in_at"),
        watched_at=document.get("watched_at"),
    )

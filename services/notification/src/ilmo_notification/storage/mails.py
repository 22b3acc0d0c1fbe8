"""``mails``: one document per (registration, kind), ``_id`` = ``<registration>:<kind>``.

First the intent to send, recorded with an insert (the whole dedupe), then
the mail's state as the dispatcher moves it along, with the
``notification.sent`` / ``notification.failed`` event in its outbox, written
in the same update as the state it announces.

Updates of a mail document happen only in the dispatcher and in the outbox
relay, which share this store's ``DocumentLocks``. They are single
conditional updates, not a versioned read-decide-write: a write that finds
the mail moved on (sent, failed) is dropped, never decided again, so
``ilmo_shared.storage.VersionedDocuments`` does not fit them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import (
    InternalEvent,
    NotificationFailed,
    NotificationKind,
    NotificationSent,
    integration,
)
from ilmo_event_contracts.integration import MailFailure
from ilmo_notification.domain import (
    OPEN_STATES,
    VERSIONED_KINDS,
    Mail,
    MailRequest,
    MailState,
    cause_of_version,
    mail_id,
    resend_cause,
)
from ilmo_notification.storage.documents import by_ids, insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import Document, DocumentLocks

MAILS = "mails"
# Confirmation mails go out before a registration is accepted (outside systems
# learn of it only then), and "already registered" mails answer a repeat (which
# nobody outside may learn of): their notification.* events stay internal.
INTERNAL_MAIL_KINDS = frozenset(
    {NotificationKind.CONFIRM_ADDRESS, NotificationKind.ALREADY_REGISTERED}
)

# The condition of writes that end or reschedule an attempt: a late one (after a
# fault) never reopens a mail already sent or failed, nor announces it twice.
_STILL_OPEN: Mapping[str, Any] = {"state": {"$in": [state.value for state in OPEN_STATES]}}
# What an operator's client is told of a registration's mails: no address, no text.
_LISTED = {
    "kind": 1,
    "state": 1,
    "attempts": 1,
    "created_at": 1,
    "sent_at": 1,
    "resent": 1,
    "occasion": 1,
}


def mail_of(document: Mapping[str, Any]) -> Mail:
    """The ``Mail`` a stored document holds."""
    return Mail(
        id=str(document["_id"]),
        registration_id=str(document["registration_id"]),
        event_id=str(document["event_id"]),
        kind=NotificationKind(document["kind"]),
        details=dict(document.get("details") or {}),
        state=MailState(document["state"]),
        attempts=int(document.get("attempts", 0)),
        waiting_checks=int(document.get("waiting_checks", 0)),
        correlation_id=document.get("correlation_id"),
        budget_from=int(document.get("budget_from", 0)),
        occasion=str(document.get("occasion", "")),
    )


class MailStore:
    """The mails asked for, and where each is in its life."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        outbox: Outbox,
        locks: DocumentLocks,
        clock: Clock = utc_now,
    ) -> None:
        self.collection: AsyncCollection[Document] = database[MAILS]
        self._outbox = outbox
        # Shared with the outbox relay of this process.
        self._locks = locks
        self._clock = clock
        # Registration id -> mails this process marked waiting (see wake_for_registration).
        self._waiting: dict[str, set[str]] = {}

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index("registration_id")
        await self.collection.create_index("event_id")

    # ------------------------------------------------------------ intents

    async def record_intent(
        self, request: MailRequest, *, cause: str, correlation_id: str | None = None
    ) -> bool:
        """Record that (registration, kind) is to be sent; False when it already was.

        The unique ``_id`` is the whole dedupe: whatever is redelivered or
        duplicated, there is one mail per (registration, kind).
        """
        now = self._clock()
        return await insert_new(
            self.collection,
            {
                "_id": request.mail_id,
                "registration_id": request.registration_id,
                "event_id": request.event_id,
                "kind": request.kind.value,
                "occasion": request.occasion,
                "details": dict(request.details),
                "state": MailState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "cause": cause,
                # Carried into the mail's logs and its notification.* event.
                "correlation_id": correlation_id,
                OUTBOX_FIELD: [],
            },
        )

    async def of_registration(
        self, registration_id: str, attendance_version: int, also: Iterable[str] = ()
    ) -> list[Document]:
        """A registration's mails, oldest first, each read by ``_id``.

        Every kind once, the seat, waiting-list and stream-link mails of every
        attendance version up to ``attendance_version``, and the mails resent
        from those (``resend``): a query on ``registration_id`` would read the
        whole collection on FerretDB v1. A repeat registration's mails (keyed
        by the time of the repeat) are not among them. ``also``: further ids
        that may be the registration's (its mails from broadcasts).
        """
        ids = [mail_id(registration_id, kind) for kind in NotificationKind]
        ids += [i for i in sorted(set(also)) if i not in ids]
        ids += [
            mail_id(registration_id, kind, cause_of_version(version))
            for kind in VERSIONED_KINDS
            for version in range(2, attendance_version + 1)
        ]
        found = await self._by_ids(ids)
        found += await self._by_ids([i for mail in found for i in mail.get("resent", [])])
        return sorted(found, key=lambda mail: (mail["created_at"], mail["_id"]))

    async def _by_ids(self, ids: list[str]) -> list[Document]:
        read = await asyncio.gather(
            *(self.collection.find_one({"_id": i}, projection=_LISTED) for i in ids)
        )
        return [mail for mail in read if mail is not None]

    async def resend(self, original_id: str, request_id: str) -> str | None:
        """Ask for the mail ``original_id`` once more; the new mail's id, None if there is none.

        The new mail has the original's kind and details and a cause of its
        own (``domain.resend_cause``), so it is sent like any other mail (and
        skipped like any other, should the registration be cancelled before);
        the same ``request_id`` asks for the same mail, so a request repeated
        sends one. The original remembers it (``resent``), for
        ``of_registration``.
        """
        original = await self.collection.find_one({"_id": original_id})
        if original is None:
            return None
        request = MailRequest(
            str(original["registration_id"]),
            str(original["event_id"]),
            NotificationKind(original["kind"]),
            dict(original.get("details") or {}),
            resend_cause(str(original.get("occasion", "")), request_id),
        )
        if await self.record_intent(request, cause="resend"):
            async with self._locks.hold(self.collection.name, original_id):
                await self.collection.update_one(
                    {"_id": original_id}, {"$addToSet": {"resent": request.mail_id}}
                )
        return request.mail_id

    async def forget(self, registration_id: str) -> int:
        """Remove every mail of a registration that expired unconfirmed; how many.

        Only the "confirm your address" mails (and their repeats) can exist for
        one; whatever they said about the registrant goes with them. A
        ``notification.*`` event still in such a mail's outbox goes too:
        nothing else ever heard of the registration. Rare, so a query on
        ``registration_id`` (a scan on FerretDB v1) is fine.
        """
        self._waiting.pop(registration_id, None)
        result = await self.collection.delete_many({"registration_id": registration_id})
        return int(result.deleted_count)

    async def wake_for_registration(self, registration_id: str) -> int:
        """Mails of a registration that wait for what just arrived: due now.

        This runs once or twice per registration, and mostly nothing waits,
        so only the mails this process marked waiting are read (by ``_id``;
        on FerretDB v1 a query on any other field reads the whole
        collection). A mail marked waiting by another replica, or before a
        restart, is looked at again when its waiting delay is over.
        """
        ids = self._waiting.pop(registration_id, set())
        if not ids:
            return 0
        found = await by_ids(self.collection, ids, projection={"state": 1, "waiting_for": 1})
        return await self._wake(
            document_id
            for document_id, document in found.items()
            if document["state"] == MailState.PENDING.value and "waiting_for" in document
        )

    async def wake_for_event(self, event_id: str) -> int:
        """Mails about an event that wait for its details: due now (rare: a scan is fine)."""
        waiting = self.collection.find(
            {
                "event_id": event_id,
                "state": MailState.PENDING.value,
                "waiting_for": {"$exists": True},
            },
            projection={"_id": 1},
        )
        return await self._wake([str(document["_id"]) async for document in waiting])

    async def _wake(self, mail_ids: Iterable[str]) -> int:
        woken = 0
        for document_id in mail_ids:
            await self._update(
                document_id,
                {"$set": {"next_attempt_at": self._clock()}, "$unset": {"waiting_for": ""}},
                only_if={"state": MailState.PENDING.value},
            )
            woken += 1
        return woken

    # ------------------------------------------------------------ what the dispatcher reads

    async def due(self, now: datetime, limit: int) -> list[Mail]:
        """Open mails whose time has come, longest waiting first."""
        cursor = self.collection.find(
            {
                "state": {"$in": [state.value for state in OPEN_STATES]},
                "next_attempt_at": {"$lte": now},
            },
            projection={OUTBOX_FIELD: 0},
            sort=[("next_attempt_at", ASCENDING)],
            limit=limit,
        )
        return [mail_of(document) async for document in cursor]

    async def next_due_at(self) -> datetime | None:
        """When the next open mail falls due (None: no open mail)."""
        document = await self.collection.find_one(
            {"state": {"$in": [state.value for state in OPEN_STATES]}},
            projection={"next_attempt_at": 1},
            sort=[("next_attempt_at", ASCENDING)],
        )
        if document is None:
            return None
        due = document.get("next_attempt_at")
        return due if isinstance(due, datetime) else None

    async def waiting(self) -> tuple[int, datetime | None]:
        """How many mails are open (pending or sending), and when the oldest was asked for.

        One query; on FerretDB v1 it reads the collection, so it is run every
        so often for the metrics, never per mail.
        """
        count = 0
        oldest: datetime | None = None
        async for document in self.collection.find(
            {"state": {"$in": [state.value for state in OPEN_STATES]}},
            projection={"created_at": 1},
        ):
            count += 1
            created = document.get("created_at")
            if isinstance(created, datetime) and (oldest is None or created < oldest):
                oldest = created
        return count, oldest

    async def states(self, mail_ids: Iterable[str]) -> dict[str, MailState]:
        """The states of those of ``mail_ids`` that have been recorded."""
        found = await by_ids(self.collection, mail_ids, projection={"state": 1})
        return {
            document_id: MailState(document["state"]) for document_id, document in found.items()
        }

    async def document(self, mail_id: str) -> Mapping[str, Any] | None:
        """The mail's document as stored (for tools and tests)."""
        return await self.collection.find_one({"_id": mail_id})

    # ------------------------------------------------------------ the dispatcher's writes

    async def mark_sending(self, mail: Mail, attempt: int, *, lease: timedelta) -> None:
        """Before the SMTP transaction: from now on the mail may have been delivered."""
        now = self._clock()
        await self._update(
            mail.id,
            {
                "$set": {
                    "state": MailState.SENDING.value,
                    "attempts": attempt,
                    "last_attempt_at": now,
                    "next_attempt_at": now + lease,
                },
                "$unset": {"waiting_for": ""},
            },
        )

    async def mark_attempt_lost(self, mail: Mail, attempt: int) -> None:
        """An attempt claimed by a dispatcher that died before making it: count it, move on."""
        await self._update(mail.id, {"$set": {"attempts": attempt}})

    async def mark_sent(self, mail: Mail, message_id: str, *, attempt: int) -> bool:
        """The server took the mail: ``sent``, and ``notification.sent`` in the same write.

        Only from ``sending`` in this attempt: the dispatcher retries this
        write after a storage error, and a first write that landed although
        its reply was lost must not be followed by a second
        ``notification.sent`` under another id. False when nothing matched.
        """
        now = self._clock()
        event = NotificationSent(
            registration_id=UUID(mail.registration_id),
            event_id=mail.event_id,
            kind=mail.kind,
            message_id=message_id,
            sent_at=now,
            attendance_version=mail.attendance_version,
        )
        return await self._announce(
            mail.id,
            event,
            integration.integration_form(event),
            {
                "$set": {
                    "state": MailState.SENT.value,
                    "attempts": attempt,
                    "sent_at": now,
                    "message_id": message_id,
                },
                "$unset": {"next_attempt_at": "", "last_error": ""},
            },
            only_if={"state": MailState.SENDING.value, "attempts": attempt},
        )

    async def mark_retry(self, mail: Mail, *, attempt: int, delay: float, reason: str) -> None:
        """A failed attempt within the budget: due again after ``delay`` (if still open)."""
        now = self._clock()
        await self._update(
            mail.id,
            {
                "$set": {
                    "state": MailState.PENDING.value,
                    "attempts": attempt,
                    "next_attempt_at": now + timedelta(seconds=delay),
                    "last_error": reason,
                }
            },
            only_if=_STILL_OPEN,
        )

    async def mark_failed(
        self, mail: Mail, *, attempt: int, reason: str, failure: MailFailure
    ) -> bool:
        """Parked for an operator, and ``notification.failed`` in the same write.

        The internal event carries ``reason``, the integration event only its
        category ``failure``: the mail server's text may quote an address.

        Only an open mail: one already ``sent`` or ``failed`` is never reopened
        or announced twice. False when nothing matched.
        """
        now = self._clock()
        event = NotificationFailed(
            registration_id=UUID(mail.registration_id),
            event_id=mail.event_id,
            kind=mail.kind,
            reason=reason[:500],
            failed_at=now,
            attendance_version=mail.attendance_version,
        )
        integration_event = integration.NotificationFailed(
            registration_id=event.registration_id,
            event_id=event.event_id,
            kind=event.kind,
            failure=failure,
            failed_at=now,
            attendance_version=event.attendance_version,
        )
        return await self._announce(
            mail.id,
            event,
            integration_event,
            {
                "$set": {
                    "state": MailState.FAILED.value,
                    "attempts": attempt,
                    "failed_at": now,
                    "last_error": reason,
                },
                "$unset": {"next_attempt_at": ""},
            },
            only_if=_STILL_OPEN,
        )

    async def mark_skipped(self, mail: Mail, *, superseded_by: NotificationKind) -> None:
        await self._update(
            mail.id,
            {
                "$set": {
                    "state": MailState.SKIPPED.value,
                    "skipped_at": self._clock(),
                    "superseded_by": superseded_by.value,
                },
                "$unset": {"next_attempt_at": "", "waiting_for": ""},
            },
        )

    async def mark_waiting(self, mail: Mail, *, waiting_for: str, delay: float) -> None:
        """Not sendable yet (its contact or event details have not arrived): look again later."""
        self._waiting.setdefault(mail.registration_id, set()).add(mail.id)
        await self._update(
            mail.id,
            {
                "$set": {
                    "waiting_for": waiting_for,
                    "waiting_checks": mail.waiting_checks + 1,
                    "next_attempt_at": self._clock() + timedelta(seconds=delay),
                }
            },
        )

    async def _announce(
        self,
        mail_id: str,
        event: InternalEvent,
        integration_event: integration.IntegrationEvent,
        update: Mapping[str, Any],
        *,
        only_if: Mapping[str, Any],
    ) -> bool:
        """``update``, with ``event`` in both forms added to the mail's outbox; wakes the relay.

        Mails about a registration outside systems never heard of, or that
        would tell who registered twice (``INTERNAL_MAIL_KINDS``), are
        announced on ``ilmo.internal`` only.
        """
        kind = getattr(event, "kind", None)
        public = None if kind in INTERNAL_MAIL_KINDS else integration_event
        entries = self._outbox.entries(event, public)
        written = await self._update(
            mail_id,
            {**update, "$push": {OUTBOX_FIELD: {"$each": entries}}},
            only_if=only_if,
        )
        if written:
            self._outbox.written(mail_id, entries)
        return written

    async def _update(
        self,
        mail_id: str,
        update: Mapping[str, Any],
        *,
        only_if: Mapping[str, Any] | None = None,
    ) -> bool:
        """Update one mail; ``only_if`` conditions are checked under the document lock.

        On FerretDB v1 the condition is checked on the read that precedes the
        write, so it holds only because this process's writers of the mail
        take the same lock (one replica there); on MongoDB it is atomic.
        """
        async with self._locks.hold(MAILS, mail_id):
            result = await self.collection.update_one({"_id": mail_id, **(only_if or {})}, update)
        return result.matched_count == 1

    # ------------------------------------------------------------ erasure

    async def erase_for(self, registration_id: str, now: datetime) -> int:
        """Drop what the registration's mails say about the person; open ones are never sent.

        A mail not sent yet becomes ``skipped`` (superseded by nothing); every
        mail of the registration keeps its kind, state and times, which the
        summaries count, and loses its ``details`` (a stream link's URL, a
        waiting-list position) and ``last_error`` (a mail server's answer may
        quote the address). A registration can have several mails of a kind
        (one per cause: a repeat, an attendance version), so they are found
        by ``registration_id``: a scan on FerretDB v1, acceptable for an
        erasure, which is rare. Returns how many mails there were.
        """
        found = [
            str(document["_id"])
            async for document in self.collection.find(
                {"registration_id": registration_id}, projection={"_id": 1}
            )
        ]
        for document_id in found:
            await self._update(
                document_id,
                {
                    "$set": {"state": MailState.SKIPPED.value, "skipped_at": now},
                    "$unset": {"next_attempt_at": "", "waiting_for": ""},
                },
                only_if=_STILL_OPEN,
            )
            await self._update(
                document_id,
                {"$set": {"details": {}, "erased_at": now}, "$unset": {"last_error": ""}},
            )
        self._waiting.pop(registration_id, None)
        return len(found)

    # ------------------------------------------------------------ operators

    async def summary(self, event_id: str | None = None) -> dict[str, dict[str, int]]:
        """Mails by kind and state, and how many wait for their contact or event details.

        All mails, or those of one event.
        """
        counts: Counter[tuple[str, str]] = Counter()
        selector = {} if event_id is None else {"event_id": event_id}
        async for document in self.collection.find(
            selector, projection={"kind": 1, "state": 1, "waiting_for": 1}
        ):
            state = str(document.get("state"))
            if state == MailState.PENDING.value and document.get("waiting_for"):
                state = "waiting"
            counts[(str(document.get("kind")), state)] += 1
        result: dict[str, dict[str, int]] = {}
        for (kind, state), count in sorted(counts.items()):
            result.setdefault(kind, {})[state] = count
        return result


async def replay_failed(
    mails: AsyncCollection[Document],
    mail_ids: Iterable[str] | None = None,
    *,
    clock: Clock = utc_now,
) -> list[str]:
    """An operator's replay: ``failed`` mails (all, or those named) get a fresh budget.

    Returns the ids replayed. It runs in a process of its own (the replay
    command), so no lock of the service's can cover it; it needs none: the
    dispatcher never writes a failed mail, so this read-then-write does not
    race it.
    """
    selector: dict[str, Any] = {"state": MailState.FAILED.value}
    if mail_ids is not None:
        selector["_id"] = {"$in": sorted(set(mail_ids))}
    replayed: list[str] = []
    async for document in mails.find(selector, projection={"attempts": 1}):
        identifier = str(document["_id"])
        await mails.update_one(
            {"_id": identifier},
            {
                "$set": {
                    "state": MailState.PENDING.value,
                    "next_attempt_at": clock(),
                    "budget_from": int(document.get("attempts", 0)),
                    "replayed_at": clock(),
                },
                "$unset": {"failed_at": ""},
            },
        )
        replayed.append(identifier)
    return replayed

"""``mails``: one document per (registration, kind), ``_id`` = ``<registration>:<kind>``.

First the intent to send, recorded with an insert (the whole dedupe), then
the mail's state as the dispatcher moves it along, with the
``notification.sent`` / ``notification.failed`` event in its outbox, written
in the same update as the state it announces.

``open_mails`` holds a copy of each mail still open (pending or sending),
same ``_id``, without its outbox, and loses it once the mail ends. It is
what the dispatcher's due query, its wait until the next due mail and the
waiting gauge read: on FerretDB v1 a query on ``state`` or
``next_attempt_at`` scans its collection, and this one is as large as the
backlog of open work, where ``mails`` grows with every mail ever sent. The
copy is a cache of the mail, never the truth: the dispatcher's writes are
conditional on the state it read there, and one that finds the mail moved on
refreshes the copy from ``mails`` (``refresh``) and decides nothing. A crash
between writing a mail and its copy is repaired at start (``restore_open``),
and a copy left behind by a mail that ended is dropped when it is next read.

Updates of a mail document happen only in the dispatcher and in the outbox
relay, which share this store's ``DocumentLocks``. They are single
conditional updates, not a versioned read-decide-write: a write that finds
the mail moved on (sent, failed) is dropped, never decided again, so
``ilmo_shared.storage.VersionedDocuments`` does not fit them.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
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
    CLOSED_STATES,
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
OPEN_MAILS = "open_mails"
# Confirmation mails go out before a registration is accepted (outside systems
# learn of it only then), "already registered" mails answer a repeat and manage
# link mails a request for the link (which nobody outside may learn of): their
# notification.* events stay internal.
INTERNAL_MAIL_KINDS = frozenset(
    {
        NotificationKind.CONFIRM_ADDRESS,
        NotificationKind.ALREADY_REGISTERED,
        NotificationKind.MANAGE_LINK,
    }
)

# The condition of writes that end or reschedule an attempt: a late one (after a
# fault) never reopens a mail already sent or failed, nor announces it twice.
_STILL_OPEN: Mapping[str, Any] = {"state": {"$in": [state.value for state in OPEN_STATES]}}
_CLOSED_VALUES = frozenset(state.value for state in CLOSED_STATES)
# States no process ever changes again (a failed mail may be replayed), kept in
# memory once read or written, up to this many mails: the dispatcher asks for
# the same receipts pass after pass.
_FINAL_STATES = frozenset({MailState.SENT, MailState.SKIPPED})
_FINAL_STATES_KEPT = 10_000
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


def open_copy(document: Mapping[str, Any]) -> Document:
    """What ``open_mails`` keeps of an open mail: all of it but its outbox."""
    return {key: value for key, value in document.items() if key != OUTBOX_FIELD}


def _ends(update: Mapping[str, Any]) -> bool:
    """Whether ``update`` closes the mail (sent, failed, skipped)."""
    return (update.get("$set") or {}).get("state") in _CLOSED_VALUES


def _copy_update(update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` as it applies to an open mail's copy, which keeps no outbox."""
    return {operator: fields for operator, fields in update.items() if operator != "$push"}


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
        self.open: AsyncCollection[Document] = database[OPEN_MAILS]
        self._outbox = outbox
        # Shared with the outbox relay of this process.
        self._locks = locks
        self._clock = clock
        # Registration id -> mails this process marked waiting (see wake_for_registration).
        self._waiting: dict[str, set[str]] = {}
        # Mails that ended in this process whose copies in ``open_mails`` are
        # still to go: removed together, once per dispatcher pass (``drop_ended``).
        self._ended: set[str] = set()
        # Mail id -> a state no process changes again (sent, skipped), most recent last.
        self._final: OrderedDict[str, MailState] = OrderedDict()

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index("registration_id")
        await self.collection.create_index("event_id")
        await self.open.create_index([("next_attempt_at", ASCENDING)], name="due")

    async def restore_open(self) -> int:
        """At start: copy every open mail into ``open_mails`` afresh; how many there are.

        Repairs what a crash left between writing a mail and its copy (a
        recorded intent without its copy, a copy older than its mail). It
        reads the whole ``mails`` collection (a scan on FerretDB v1), once
        per start, never per pass.
        """
        restored = 0
        async for document in self.collection.find(
            {"state": {"$in": [state.value for state in OPEN_STATES]}},
            projection={OUTBOX_FIELD: 0},
        ):
            await self.open.replace_one({"_id": document["_id"]}, open_copy(document), upsert=True)
            restored += 1
        return restored

    # ------------------------------------------------------------ intents

    async def record_intent(
        self, request: MailRequest, *, cause: str, correlation_id: str | None = None
    ) -> bool:
        """Record that (registration, kind) is to be sent; False when it already was.

        The unique ``_id`` is the whole dedupe: whatever is redelivered or
        duplicated, there is one mail per (registration, kind).
        """
        now = self._clock()
        document: Document = {
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
        }
        if not await insert_new(self.collection, document):
            # A repeat, or the redelivery of a message whose handling failed
            # between the two inserts: the mail, if still open, gets its copy.
            await self._copy_if_open(request.mail_id)
            return False
        # A crash before this insert leaves the mail without its copy until
        # the next start (``restore_open``); a copy there already is kept.
        await insert_new(self.open, open_copy(document))
        return True

    async def _copy_if_open(self, mail_id: str) -> None:
        """Copy the mail into ``open_mails`` if it is open and has no copy yet."""
        document = await self.collection.find_one({"_id": mail_id}, projection={OUTBOX_FIELD: 0})
        if document is not None and document.get("state") not in _CLOSED_VALUES:
            await insert_new(self.open, open_copy(document))

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
        # ``open_mails`` is as small as the backlog: a query on it is cheap.
        await self.open.delete_many({"registration_id": registration_id})
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
        """Mails about an event that wait for its details: due now (a scan of the open ones)."""
        waiting = self.open.find(
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
        """Open mails whose time has come, longest waiting first, as their copies say.

        A query on ``open_mails``, whose size is the backlog, not the history.
        """
        await self.drop_ended()
        cursor = self.open.find(
            {"next_attempt_at": {"$lte": now}},
            sort=[("next_attempt_at", ASCENDING)],
            limit=limit,
        )
        return [mail_of(document) async for document in cursor]

    async def next_due_at(self) -> datetime | None:
        """When the next open mail falls due (None: no open mail)."""
        document = await self.open.find_one(
            {},
            projection={"next_attempt_at": 1},
            sort=[("next_attempt_at", ASCENDING)],
        )
        if document is None:
            return None
        due = document.get("next_attempt_at")
        return due if isinstance(due, datetime) else None

    async def waiting(self) -> tuple[int, datetime | None]:
        """How many mails are open (pending or sending), and when the oldest was asked for.

        One query on ``open_mails`` (a scan of the backlog on FerretDB v1),
        run every so often for the metrics, never per mail.
        """
        await self.drop_ended()
        count = 0
        oldest: datetime | None = None
        async for document in self.open.find({}, projection={"created_at": 1}):
            count += 1
            created = document.get("created_at")
            if isinstance(created, datetime) and (oldest is None or created < oldest):
                oldest = created
        return count, oldest

    async def states(self, mail_ids: Iterable[str]) -> dict[str, MailState]:
        """The states of those of ``mail_ids`` that have been recorded.

        A state no process changes again (sent, skipped) is remembered, so
        the receipts the dispatcher asks about pass after pass are read once.
        """
        wanted = set(mail_ids)
        known = {i: self._final[i] for i in wanted if i in self._final}
        found = await by_ids(self.collection, wanted - known.keys(), projection={"state": 1})
        for document_id, document in found.items():
            known[document_id] = MailState(document["state"])
            self._remember_final(document_id, known[document_id])
        return known

    def _remember_final(self, mail_id: str, state: MailState) -> None:
        if state not in _FINAL_STATES:
            return
        self._final[mail_id] = state
        self._final.move_to_end(mail_id)
        while len(self._final) > _FINAL_STATES_KEPT:
            self._final.popitem(last=False)

    async def refresh(self, mail: Mail) -> Mail | None:
        """The mail as ``mails`` has it now, its copy brought up to date; None once it ended.

        For a write that found the mail other than its copy said (a crash
        between two writes, another replica): the copy is rewritten only if
        it differs, and the caller decides nothing this pass.
        """
        async with self._locks.hold(MAILS, mail.id):
            document = await self.collection.find_one(
                {"_id": mail.id}, projection={OUTBOX_FIELD: 0}
            )
            if document is None or document.get("state") in _CLOSED_VALUES:
                self._ended.add(mail.id)
                await self.drop_ended()
                return None
            fresh = mail_of(document)
            if fresh != mail:
                await self.open.replace_one({"_id": mail.id}, open_copy(document), upsert=True)
        return fresh

    async def postpone(self, mail_id: str, until: datetime) -> None:
        """Due again at ``until`` as far as its copy goes: another dispatcher holds its attempt.

        Only the copy is written (the mail is as it was); without it, every
        pass of this dispatcher would try the taken attempt again.
        """
        async with self._locks.hold(MAILS, mail_id):
            await self.open.update_one({"_id": mail_id}, {"$set": {"next_attempt_at": until}})

    async def drop_ended(self) -> None:
        """Remove the copies of the mails that ended: one command for all of them.

        An ``$in`` on ``_id`` reads the whole of ``open_mails`` on FerretDB
        v1, which is the backlog; one delete per mail would cost a command each.
        """
        if not self._ended:
            return
        ended = sorted(self._ended)
        await self.open.delete_many({"_id": {"$in": ended}})
        self._ended.difference_update(ended)

    async def document(self, mail_id: str) -> Mapping[str, Any] | None:
        """The mail's document as stored (for tools and tests)."""
        return await self.collection.find_one({"_id": mail_id})

    # ------------------------------------------------------------ the dispatcher's writes

    async def mark_sending(self, mail: Mail, attempt: int, *, lease: timedelta) -> bool:
        """Before the SMTP transaction: from now on the mail may have been delivered.

        Only from the state the dispatcher read in the mail's copy; False
        (and the copy refreshed) when the mail moved on. The copy is not
        written: the attempt ends the mail or reschedules it, which writes it.
        """
        now = self._clock()
        return await self._update(
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
            as_read=mail,
            copy=False,
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

    async def mark_skipped(self, mail: Mail, *, superseded_by: NotificationKind) -> bool:
        """Not sent: a later mail made it pointless. False if the mail was not as read."""
        return await self._update(
            mail.id,
            {
                "$set": {
                    "state": MailState.SKIPPED.value,
                    "skipped_at": self._clock(),
                    "superseded_by": superseded_by.value,
                },
                "$unset": {"next_attempt_at": "", "waiting_for": ""},
            },
            as_read=mail,
        )

    async def mark_waiting(self, mail: Mail, *, waiting_for: str, delay: float) -> bool:
        """Not sendable yet (its contact or event details have not arrived): look again later.

        False if the mail was not as read (its copy is refreshed).
        """
        self._waiting.setdefault(mail.registration_id, set()).add(mail.id)
        return await self._update(
            mail.id,
            {
                "$set": {
                    "waiting_for": waiting_for,
                    "waiting_checks": mail.waiting_checks + 1,
                    "next_attempt_at": self._clock() + timedelta(seconds=delay),
                }
            },
            as_read=mail,
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
        as_read: Mail | None = None,
        copy: bool = True,
    ) -> bool:
        """Update one mail and its copy; ``only_if`` conditions are checked under the document lock.

        On FerretDB v1 the condition is checked on the read that precedes the
        write, so it holds only because the writers of the mail take the same
        lock (and, between replicas, its lease); on MongoDB it is atomic.

        ``as_read``: the mail as the dispatcher read it from its copy; the
        write happens only if the mail is still in that state, else the copy
        is refreshed and False returned. An update that ends the mail queues
        its copy for removal (``drop_ended``); one that leaves it open is
        applied to the copy too, unless ``copy`` is False.
        """
        condition = dict(only_if or {})
        if as_read is not None:
            condition["state"] = as_read.state.value
        async with self._locks.hold(MAILS, mail_id):
            result = await self.collection.update_one({"_id": mail_id, **condition}, update)
            if result.matched_count == 1:
                if _ends(update):
                    self._ended.add(mail_id)
                    self._remember_final(mail_id, MailState(update["$set"]["state"]))
                elif copy:
                    await self.open.update_one({"_id": mail_id}, _copy_update(update))
        if result.matched_count != 1 and as_read is not None:
            await self.refresh(as_read)
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
                copy=False,
            )
        self._waiting.pop(registration_id, None)
        await self.drop_ended()
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
    open_mails: AsyncCollection[Document] | None = None,
    clock: Clock = utc_now,
) -> list[str]:
    """An operator's replay: ``failed`` mails (all, or those named) get a fresh budget.

    Returns the ids replayed. It runs in a process of its own (the replay
    command), so no lock of the service's can cover it; it needs none: the
    dispatcher never writes a failed mail, so this read-then-write does not
    race it. Each replayed mail is copied into ``open_mails`` (by default
    the collection of that name beside ``mails``), where the dispatcher
    finds it.
    """
    if open_mails is None:
        open_mails = mails.database[OPEN_MAILS]
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
        reopened = await mails.find_one({"_id": identifier}, projection={OUTBOX_FIELD: 0})
        if reopened is not None:
            await open_mails.replace_one({"_id": identifier}, open_copy(reopened), upsert=True)
        replayed.append(identifier)
    return replayed

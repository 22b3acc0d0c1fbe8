"""The audit trail: who did what to which event or registration, and when.

Every admin action of the JSON API and the console is recorded after it
succeeded (``AuditTrail.record``): the time, the actor (subject, name and
kind of the ``Principal``), the ``Action``, the event and registration ids it
concerned, and a short ``detail`` such as the export's format or the fields
changed. Ids only: an entry never holds a registrant's name, address or
anything else personal, so erasing a registration leaves its entries as
they are (docs/security.md, "Audit trail"). The trail is append-only: its
store can add and read, nothing else.

Reading the trail is recorded too (``AUDIT_READ``), once per reading that
starts at the newest entry (the first page), not for every further page:
one entry per look, not one per click.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ilmo_shared.access import Kind, Principal
from ilmo_shared.clock import Clock, utc_now

PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500
# Short, and never personal data: a format, the names of the fields changed.
MAX_DETAIL = 200


class Action(StrEnum):
    """What an entry records."""

    EVENT_CREATED = "event-created"
    EVENT_CHANGED = "event-changed"
    EVENT_PUBLISHED = "event-published"
    EVENT_UNPUBLISHED = "event-unpublished"
    EVENT_DUPLICATED = "event-duplicated"
    EVENT_CANCELLED = "event-cancelled"
    MESSAGE_SENT = "message-sent"
    PRIVACY_NOTICE_CHANGED = "privacy-notice-changed"
    REGISTRATIONS_LISTED = "registrations-listed"
    REGISTRATION_READ = "registration-read"
    REGISTRATIONS_EXPORTED = "registrations-exported"
    REGISTRATION_CANCELLED = "registration-cancelled"
    ATTENDANCE_SWITCHED = "attendance-switched"
    MAIL_RESENT = "mail-resent"
    REGISTRATION_ERASED = "registration-erased"
    AUDIT_READ = "audit-read"
    AUDIT_EXPORTED = "audit-exported"
    RETENTION_SWEPT = "retention-swept"
    CHECKED_IN = "check-in"  # a code or a name tried at the door (detail: how, and the outcome)


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action; ``id`` orders entries by time (``entry_id``)."""

    id: str
    at: datetime
    actor_subject: str
    actor_name: str
    actor_kind: Kind
    action: Action
    event_id: str | None = None
    registration_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first; ``before`` continues with older ones (None: this was the last)."""

    entries: tuple[AuditEntry, ...]
    before: str | None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read: all of them, or those of one event, actor or action."""

    event_id: str | None = None
    actor: str | None = None
    action: Action | None = None


def entry_id(at: datetime) -> str:
    """A unique id that sorts as time does: ``20261201T233700.123456Z-1f2e3d4c``.

    The store pages by ``_id`` alone (FerretDB's SQLite backend uses no
    other index), so the id carries the order. Entries of the same
    microsecond sort in random order among themselves.
    """
    return f"{at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(4)}"


class AuditLog(Protocol):
    """What the trail needs of its storage (``ilmo_registration.storage.audit``)."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def newest(
        self, which: AuditFilter, before: str | None, limit: int
    ) -> list[AuditEntry]: ...

    def every(self, which: AuditFilter) -> AsyncIterator[AuditEntry]: ...


class AuditTrail:
    """Records admin actions and reads them back, newest first."""

    def __init__(self, log: AuditLog, clock: Clock = utc_now) -> None:
        self._log = log
        self._clock = clock

    async def record(
        self,
        principal: Principal,
        action: Action,
        *,
        event_id: str | None = None,
        registration_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Add an entry for what ``principal`` just did."""
        at = self._clock()
        await self._log.append(
            AuditEntry(
                id=entry_id(at),
                at=at,
                actor_subject=principal.subject,
                actor_name=principal.name,
                actor_kind=principal.kind,
                action=action,
                event_id=event_id,
                registration_id=registration_id,
                detail=detail[:MAX_DETAIL] if detail is not None else None,
            )
        )

    async def page(
        self,
        *,
        before: str | None = None,
        limit: int = PAGE_LIMIT,
        event_id: str | None = None,
        actor: str | None = None,
        action: Action | None = None,
    ) -> AuditPage:
        """Up to ``limit`` entries older than ``before`` (the newest without it)."""
        limit = max(1, min(limit, MAX_PAGE_LIMIT))
        which = AuditFilter(event_id=event_id, actor=actor, action=action)
        found = await self._log.newest(which, before, limit + 1)
        entries = tuple(found[:limit])
        more = len(found) > limit
        return AuditPage(entries=entries, before=entries[-1].id if more and entries else None)

    def all(
        self,
        *,
        event_id: str | None = None,
        actor: str | None = None,
        action: Action | None = None,
    ) -> AsyncIterator[AuditEntry]:
        """Every entry that matches, newest first: for the export."""
        return self._log.every(AuditFilter(event_id=event_id, actor=actor, action=action))

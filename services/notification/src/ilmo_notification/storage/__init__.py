"""The notification service's own database: one store per collection it keeps.

Every fact that arrives is recorded with an insert against a unique ``_id``,
which is atomic on FerretDB v1 and MongoDB alike (an update is not on FerretDB
v1: it reads, then writes the whole document back), so a redelivered or
duplicated event finds its fact already there and changes nothing:

- ``contacts`` (``ContactStore``): one per registration, from
  ``registration.accepted``;
- ``event_details`` (``EventDetailsStore``): one per (event, revision);
- ``mails`` (``MailStore``): one per (registration, kind), the intent to
  send, then the mail's state with its ``notification.*`` event in its outbox;
  ``open_mails``, a copy of each mail still open, is what the dispatcher reads;
- ``mail_attempts`` (``MailAttemptStore``): one per (mail, attempt number),
  so that of several dispatchers only one makes each attempt;
- ``roster`` (``RosterStore``): each event's registrants, for audiences, one
  document per member and an index of their ids (1024 per event);
- ``schedule`` and ``broadcasts`` (``ScheduleStore``): the broadcasts still
  to happen, and what became of each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ilmo_notification.storage.contacts import CONTACTS, ContactStore
from ilmo_notification.storage.event_details import EVENT_DETAILS, EventDetailsStore
from ilmo_notification.storage.mail_attempts import ATTEMPTS, MailAttemptStore
from ilmo_notification.storage.mails import MAILS, OPEN_MAILS, MailStore
from ilmo_notification.storage.roster import ROSTER, RosterStore
from ilmo_notification.storage.schedule import BROADCASTS, SCHEDULE, ScheduleStore

__all__ = [
    "ATTEMPTS",
    "BROADCASTS",
    "CONTACTS",
    "EVENT_DETAILS",
    "MAILS",
    "OPEN_MAILS",
    "ROSTER",
    "SCHEDULE",
    "ContactStore",
    "EventDetailsStore",
    "MailAttemptStore",
    "MailStore",
    "NotificationStores",
    "RosterStore",
    "ScheduleStore",
]


@dataclass(frozen=True)
class NotificationStores:
    """The service's stores, handed together to what needs several of them."""

    contacts: ContactStore
    event_details: EventDetailsStore
    mails: MailStore
    attempts: MailAttemptStore
    roster: RosterStore
    schedule: ScheduleStore

    async def create_indexes(self) -> None:
        """The indexes the service's queries need (``_id`` lookups need none)."""
        await self.contacts.create_indexes()
        await self.event_details.create_indexes()
        await self.mails.create_indexes()
        await self.schedule.create_indexes()

    async def prepare(self) -> None:
        """At start: the indexes, then the open mails copied afresh (``MailStore.restore_open``)."""
        await self.create_indexes()
        await self.mails.restore_open()

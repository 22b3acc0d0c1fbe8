"""The organisers' messages to registrants (see the package's docstring).

One document per message, ``_id`` = its ``message_id`` (chosen when the
organiser previewed it), holding the texts, the audience and, until the relay
has published it, ``message.requested`` in its outbox: stored and announced
in one insert. A second insert of the same id (send pressed twice, a reload,
a retry) fails on the ``_id`` and stores and announces nothing more.

An event's messages are found by ``event_id``. On FerretDB v1 that reads the
whole collection, which holds a few messages per event (an event team sends a
handful a month), not one per registrant; on MongoDB the index serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ilmo_event_contracts import Audience, LocalizedText, MessageRequested
from ilmo_shared.outbox import OUTBOX_FIELD, Outbox
from ilmo_shared.storage import Document

MESSAGE_COLLECTION = "messages"


@dataclass(frozen=True)
class StoredMessage:
    """A message as the organiser sent it."""

    id: str
    event_id: str
    audience: Audience
    title: LocalizedText
    body: LocalizedText
    requested_at: datetime


class MessageStore:
    """Messages to an event's registrants, each with its pending ``message.requested``."""

    def __init__(self, database: AsyncDatabase[Document], *, outbox: Outbox) -> None:
        self.messages: AsyncCollection[Document] = database[MESSAGE_COLLECTION]
        self._outbox = outbox

    async def create_indexes(self) -> None:
        await self.messages.create_index([("event_id", ASCENDING), ("requested_at", ASCENDING)])

    async def add(self, fact: MessageRequested) -> tuple[StoredMessage, bool]:
        """Store the message and its event once: the message stored, and whether it is new.

        A message with the same id already stored is answered as it is (with
        False); its texts are not replaced.
        """
        message_id = str(fact.message_id)
        document = {
            "_id": message_id,
            "event_id": fact.event_id,
            "audience": fact.audience.value,
            "title": fact.title.model_dump(),
            "body": fact.body.model_dump(),
            "requested_at": fact.requested_at,
            OUTBOX_FIELD: self._outbox.entries(fact, None),
        }
        try:
            await self.messages.insert_one(document)
        except DuplicateKeyError:
            stored = await self.get(message_id)
            if stored is None:  # pragma: no cover - a duplicate that is gone at once
                raise
            return stored, False
        self._outbox.inserted(document)
        return _stored_message(document), True

    async def get(self, message_id: str) -> StoredMessage | None:
        document = await self.messages.find_one({"_id": message_id}, projection={OUTBOX_FIELD: 0})
        return _stored_message(document) if document is not None else None

    async def for_event(self, event_id: str) -> list[StoredMessage]:
        """The event's messages, newest first."""
        cursor = self.messages.find(
            {"event_id": event_id},
            projection={OUTBOX_FIELD: 0},
            sort=[("requested_at", DESCENDING), ("_id", ASCENDING)],
        )
        return [_stored_message(document) async for document in cursor]


def _stored_message(document: Document) -> StoredMessage:
    return StoredMessage(
        id=document["_id"],
        event_id=document["event_id"],
        audience=Audience(document["audience"]),
        title=LocalizedText.model_validate(document["title"]),
        body=LocalizedText.model_validate(document["body"]),
        requested_at=document["requested_at"],
    )

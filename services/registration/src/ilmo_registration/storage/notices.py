"""The privacy notices' documents (see the package's docstring)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import (
    Language,
)
from ilmo_registration.privacy import (
    DEFAULT_NOTICE,
    PrivacyNotice,
)
from ilmo_shared.recent_reads import RecentReads
from ilmo_shared.storage import Document

NOTICE_COLLECTION = "privacy_notices"
EVENT_NOTICE_COLLECTION = "event_privacy_notices"


# -------------------------------------------------------------- privacy notice


class PrivacyNoticeStore:
    """Every privacy notice ever in force, by version, and which one each event uses now.

    ``privacy_notices``: one document per version (``_id`` = version), never
    changed or removed, so a version recorded with a registration always
    names its texts. ``event_privacy_notices``: ``_id`` = event id, the
    version in force; an event without one uses ``DEFAULT_NOTICE``.

    ``recent`` answers from what ``for_event`` read less than
    ``recent_seconds`` ago (``storage.recent_reads``), as the event itself is
    on the registration path; ``put_in_force`` forgets it.
    """

    def __init__(self, database: AsyncDatabase[Document], *, recent_seconds: float = 0.0) -> None:
        self.notices: AsyncCollection[Document] = database[NOTICE_COLLECTION]
        self.in_force: AsyncCollection[Document] = database[EVENT_NOTICE_COLLECTION]
        self._recent: RecentReads[str, PrivacyNotice] = RecentReads(recent_seconds)

    async def keep_default(self, now: datetime) -> None:
        """Keep the built-in notice's version too: registrations record it."""
        await self.keep(DEFAULT_NOTICE, now)

    async def keep(self, notice: PrivacyNotice, now: datetime) -> None:
        """Store a version once; storing the same texts again changes nothing."""
        texts = {language.value: text for language, text in notice.text.items()}
        await self.notices.update_one(
            {"_id": notice.version},
            {"$setOnInsert": {"text": texts, "created_at": now}},
            upsert=True,
        )

    async def put_in_force(self, event_id: str, notice: PrivacyNotice, now: datetime) -> None:
        """Make ``notice`` the event's notice from now on (kept first, so it is never dangling)."""
        await self.keep(notice, now)
        try:
            await self.in_force.update_one(
                {"_id": event_id}, {"$set": {"version": notice.version, "since": now}}, upsert=True
            )
        finally:
            self._recent.forget(event_id)

    async def recent(self, event_id: str) -> PrivacyNotice:
        """``for_event``, or what it answered less than ``recent_seconds`` ago (see the class)."""
        return await self._recent.get(event_id, lambda: self.for_event(event_id))

    async def for_event(self, event_id: str) -> PrivacyNotice:
        """The notice in force for the event."""
        pointer = await self.in_force.find_one({"_id": event_id})
        if pointer is None:
            return DEFAULT_NOTICE
        found = await self.version(pointer["version"])
        if found is None:  # put_in_force keeps the text first; only a damaged database gets here
            raise LookupError(f"privacy notice {pointer['version']} is missing")
        return found

    async def version(self, version: str) -> PrivacyNotice | None:
        document = await self.notices.find_one({"_id": version})
        if document is None:
            return None
        text = {Language(code): value for code, value in document["text"].items()}
        return PrivacyNotice(version, text)

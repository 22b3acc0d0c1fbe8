"""``mail_attempts``: one document per (mail, attempt number), inserted before the attempt.

Of several dispatchers (replicas) only the one whose insert succeeds makes
the attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_notification.domain import Claim, Mail
from ilmo_notification.storage.documents import insert_new
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.storage import Document

ATTEMPTS = "mail_attempts"


class MailAttemptStore:
    """Which dispatcher took which attempt at a mail, and when."""

    def __init__(self, database: AsyncDatabase[Document], *, clock: Clock = utc_now) -> None:
        self.collection: AsyncCollection[Document] = database[ATTEMPTS]
        self._clock = clock

    async def claim(self, mail: Mail, attempt: int, *, lease: timedelta) -> Claim:
        """Take attempt number ``attempt`` of ``mail`` for this process, if nobody has."""
        now = self._clock()
        attempt_id = f"{mail.id}#{attempt}"
        if await insert_new(
            self.collection,
            {"_id": attempt_id, "mail_id": mail.id, "attempt": attempt, "started_at": now},
        ):
            return Claim.CLAIMED
        other = await self.collection.find_one({"_id": attempt_id})
        started = other.get("started_at") if other else None
        if isinstance(started, datetime) and now - started >= lease:
            return Claim.ABANDONED
        return Claim.TAKEN

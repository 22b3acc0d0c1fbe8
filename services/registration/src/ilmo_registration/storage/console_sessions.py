"""The console's sessions and sign-ins in progress (see ``ilmo_registration.console``).

``console_sessions``: one document per signed-in browser, ``_id`` = the
SHA-256 of the random value of its cookie, so that a copy of the database
holds no cookie anyone could present. It keeps who signed in (subject,
name, roles: the ``Principal``), the session's CSRF token, the ID token
(the ``id_token_hint`` of the provider's logout) and two times: when it
was created (the absolute timeout) and when it was last used (the idle
timeout). ``console_sign_ins``: a sign-in between the redirect to the
provider and its answer, ``_id`` = the SHA-256 of its own cookie's value,
with the state, nonce, PKCE verifier and the console address to return to.

No names of registrants and no emails here: only the signed-in person's
subject and display name, as the audit trail records them.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.storage import Document

SESSION_COLLECTION = "console_sessions"
SIGN_IN_COLLECTION = "console_sign_ins"


class ConsoleSessionStore:
    """Sessions and sign-ins in progress, by the digest of their cookie's value."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.sessions: AsyncCollection[Document] = database[SESSION_COLLECTION]
        self.sign_ins: AsyncCollection[Document] = database[SIGN_IN_COLLECTION]

    async def create(self, digest: str, session: Document) -> None:
        await self.sessions.insert_one({"_id": digest, **session})

    async def find(self, digest: str) -> Document | None:
        return await self.sessions.find_one({"_id": digest})

    async def touch(self, digest: str, now: datetime) -> None:
        """Record a use of the session (its idle timeout starts again)."""
        await self.sessions.update_one({"_id": digest}, {"$set": {"seen_at": now}})

    async def delete(self, digest: str) -> None:
        await self.sessions.delete_one({"_id": digest})

    async def delete_older(self, created_before: datetime, seen_before: datetime) -> int:
        """Remove sessions past either timeout; how many went."""
        result = await self.sessions.delete_many(
            {"$or": [{"created_at": {"$lt": created_before}}, {"seen_at": {"$lt": seen_before}}]}
        )
        return result.deleted_count

    async def delete_sign_ins_before(self, created_before: datetime) -> None:
        """Forget sign-ins the provider never answered."""
        await self.sign_ins.delete_many({"created_at": {"$lt": created_before}})

    async def begin_sign_in(self, digest: str, sign_in: Document) -> None:
        await self.sign_ins.insert_one({"_id": digest, **sign_in})

    async def take_sign_in(self, digest: str) -> Document | None:
        """The sign-in in progress, removed as it is read: an answer is taken once."""
        return await self.sign_ins.find_one_and_delete({"_id": digest})

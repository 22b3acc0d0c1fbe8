"""MongoDB access through PyMongo's asyncio API, one database per service.

``AsyncMongoClient`` is PyMongo's maintained asyncio client (Motor is
deprecated). The same URL format reaches MongoDB in production and FerretDB on
development machines; code here uses only what both support: single-document
atomic updates, unique indexes, no transactions, no change streams.

One more FerretDB v1 limit shapes the code: it applies an update by reading
the whole document and writing it back, so two concurrent updates of one
document can lose one of them (seen here: of ten concurrent conditional
``$push`` updates of one document, several reported a modification and one
survived). Every writer of a document inside one process, the outbox relay
included, therefore takes that document's ``DocumentLocks`` lock; conditional
updates guard against other processes where updates are atomic (MongoDB),
and on FerretDB the same lock takes a lease between replicas
(``ilmo_shared.leases``).

``VersionedDocuments`` is that pattern, written once: read a document,
decide, write conditionally on the version that was read, and decide again
from what won when another writer got there first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ilmo_shared.tls import mongodb_tls_options

if TYPE_CHECKING:
    from ilmo_shared.leases import DocumentLeases
    from ilmo_shared.outbox import Outbox
    from ilmo_shared.settings import ServiceSettings

Document = Mapping[str, Any]
T = TypeVar("T")

OUTBOX_FIELD = "outbox"
# Conditional writes that lose to another writer are decided again this often.
ATTEMPTS = 10


def connect(
    url: str,
    *,
    server_selection_timeout_ms: int = 5_000,
    ca_file: Path | None = None,
    client_cert_file: Path | None = None,
) -> AsyncMongoClient[Document]:
    """A client that returns timezone-aware datetimes (UTC) and fails fast when unreachable.

    TLS is on when the URL asks for it (``tls=true``, ``mongodb+srv://``) or
    a file is given: ``ca_file`` is the CA of the server's certificate,
    ``client_cert_file`` the client's certificate with its key in one PEM.
    PyMongo verifies the certificate and the host name (ilmo_shared.tls).
    """
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
        appname="ilmo",
        **mongodb_tls_options(url, ca_file, client_cert_file),
    )


def connect_with(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """``connect`` with the database URL and TLS files of a service's settings."""
    return connect(
        str(settings.mongodb_url),
        ca_file=settings.mongodb_ca_file,
        client_cert_file=settings.mongodb_client_cert_file,
    )


class DocumentLocks:
    """One asyncio lock per (collection, document id), forgotten when nobody holds or awaits it.

    With ``leases`` (replicas sharing a FerretDB database, ilmo_shared.leases)
    a holder also takes the document's lease, so that the replicas take turns
    as well as the tasks of each.
    """

    def __init__(self, leases: DocumentLeases | None = None) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self.leases = leases

    @asynccontextmanager
    async def hold(
        self, collection: str, document_id: object, *, between_replicas: bool = True
    ) -> AsyncIterator[None]:
        """Serialize the writes to one document within this process, and between replicas.

        ``between_replicas=False`` for a writer whose writes decide between
        replicas themselves (inserts against a unique key): the lock only
        spares this process's tasks the lost races.
        """
        key = (collection, str(document_id))
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                if self.leases is None or not between_replicas:
                    yield
                else:
                    async with self.leases.held(f"{collection}/{document_id}"):
                        yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class ConcurrentChangeError(RuntimeError):
    """A document kept changing under conditional writes; the work is tried again later.

    A message handler that raises it has its message redelivered; an HTTP
    route answers 409.
    """


class Conflict(Enum):
    """An attempt lost to another writer and should be decided again."""

    LOST = "lost"


LOST = Conflict.LOST


async def until_won(
    attempt: Callable[[int], Awaitable[T | Literal[Conflict.LOST]]],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    on_conflict: Callable[[int], Awaitable[None]] | None = None,
) -> T:
    """Run ``attempt(0)``, ``attempt(1)``… until one does not lose; its result.

    ``on_conflict(n)`` runs after attempt ``n`` lost (to count it, forget a
    cached state, or back off). ConcurrentChangeError, naming ``what``, once
    ``attempts`` attempts all lost.
    """
    for number in range(attempts):
        result = await attempt(number)
        if result is not LOST:
            return result
        if on_conflict is not None:
            await on_conflict(number)
    raise ConcurrentChangeError(f"{attempts} conflicting writes in a row for {what}")


@dataclass(frozen=True)
class Keep(Generic[T]):
    """Write nothing; the change answers ``result``."""

    result: T


@dataclass(frozen=True)
class Write(Generic[T]):
    """Store ``fields`` and append ``events`` (outbox entries); the change answers ``result``.

    ``condition`` is more that the stored document must still match for the
    write to count (e.g. ``{"status": {"$ne": "cancelled"}}``).
    """

    result: T
    fields: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = ()
    condition: Mapping[str, Any] = field(default_factory=dict)


Decide = Callable[[Document | None], "Keep[T] | Write[T]"]


class VersionedDocuments:
    """Read-decide-write on one document at a time, conditional on its version.

    ``decide`` gets the stored document (without its outbox; None if there
    is none) and answers ``Keep`` or ``Write``. A ``Write`` to a missing
    document inserts it at version 1; otherwise it updates the document only
    if its version is still the one read, and increments the version, unless
    the fields set the version themselves (a version that comes from
    elsewhere, such as an event's revision). A write that loses (a
    duplicate ``_id`` or a changed version) is decided again from what won.
    Events written wake the collection's ``Outbox``.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        locks: DocumentLocks,
        outbox: Outbox | None = None,
        version_field: str = "version",
        attempts: int = ATTEMPTS,
        on_conflict: Callable[[], None] | None = None,
    ) -> None:
        self.collection = collection
        self._locks = locks
        self._outbox = outbox
        self._version = version_field
        self._attempts = attempts
        self._on_conflict = on_conflict

    async def change(self, document_id: str, decide: Decide[T]) -> T:
        """Apply ``decide`` to the document ``document_id`` until it is written or kept."""

        async def attempt(_number: int) -> T | Literal[Conflict.LOST]:
            document = await self.collection.find_one(
                {"_id": document_id}, projection={OUTBOX_FIELD: 0}
            )
            step = decide(document)
            if isinstance(step, Keep):
                return step.result
            if not await self._write(document_id, document, step):
                return LOST
            if step.events and self._outbox is not None:
                self._outbox.written(document_id, step.events)
            return step.result

        async def lost(_number: int) -> None:
            if self._on_conflict is not None:
                self._on_conflict()

        async with self._locks.hold(self.collection.name, document_id):
            return await until_won(
                attempt,
                what=f"{self.collection.name}/{document_id}",
                attempts=self._attempts,
                on_conflict=lost,
            )

    async def _write(self, document_id: str, current: Document | None, step: Write[Any]) -> bool:
        events = list(step.events)
        if current is None:
            try:
                await self.collection.insert_one(
                    {"_id": document_id, self._version: 1, **step.fields, OUTBOX_FIELD: events}
                )
            except DuplicateKeyError:
                return False
            return True
        update: dict[str, Any] = {"$set": dict(step.fields)}
        if self._version not in step.fields:
            update["$inc"] = {self._version: 1}
        if events:
            update["$push"] = {OUTBOX_FIELD: {"$each": events}}
        result = await self.collection.update_one(
            {"_id": document_id, self._version: current[self._version], **step.condition}, update
        )
        return result.matched_count == 1

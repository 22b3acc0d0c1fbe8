"""Leases on the real MongoDB-protocol server: replicas that write one document take turns.

Each "replica" here has its own client (its own connections, as a process
would), its own ``DocumentLocks`` and its own holder name; they share the
database, as two processes of one service do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_shared.leases import LEASES, DocumentLeases
from ilmo_shared.storage import (
    ConcurrentChangeError,
    Document,
    DocumentLocks,
    VersionedDocuments,
    connect,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.versioned import appending

CHANGES_PER_REPLICA = 15


@asynccontextmanager
async def replica_database(
    infrastructure: IsolatedInfrastructure, name: str
) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = connect(infrastructure.mongodb_url)
    try:
        yield client[name]
    finally:
        await client.close()


def _database_name(infrastructure: IsolatedInfrastructure) -> str:
    return f"test_{infrastructure.run_id}_leases_{uuid.uuid4().hex[:6]}"


async def test_two_replicas_appending_to_one_document_lose_nothing(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    name = _database_name(infrastructure)

    async def replica(label: str) -> None:
        async with replica_database(infrastructure, name) as database:
            leases = DocumentLeases(database[LEASES], holder=label)
            documents = VersionedDocuments(
                database["documents"], locks=DocumentLocks(leases), attempts=3
            )
            await asyncio.gather(
                *(
                    documents.change("shared", appending(f"{label}-{n}"))
                    for n in range(CHANGES_PER_REPLICA)
                )
            )

    await asyncio.gather(replica("a"), replica("b"))

    stored = await mongo[name]["documents"].find_one({"_id": "shared"})
    assert stored is not None
    expected = {f"{label}-{n}" for label in "ab" for n in range(CHANGES_PER_REPLICA)}
    assert sorted(stored["items"]) == sorted(expected)
    assert stored["version"] == 2 * CHANGES_PER_REPLICA
    assert await mongo[name][LEASES].count_documents({}) == 0  # every lease given back


async def test_a_lease_left_by_a_dead_replica_is_taken_over_once_it_expires(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = mongo[_database_name(infrastructure)][LEASES]
    await collection.insert_one(
        {
            "_id": "documents/x",
            "token": "dead",
            "holder": "registration-2",
            "expires_at": datetime.now(UTC) - timedelta(seconds=1),
        }
    )
    leases = DocumentLeases(collection, holder="registration-1")

    token = await leases.take("documents/x")

    stored = await collection.find_one({"_id": "documents/x"})
    assert stored is not None
    assert (stored["token"], stored["holder"]) == (token, "registration-1")


async def test_a_lease_still_held_makes_the_other_replica_give_up_after_its_patience(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = mongo[_database_name(infrastructure)][LEASES]
    holder = DocumentLeases(collection, holder="a", lifetime=timedelta(minutes=5))
    other = DocumentLeases(collection, holder="b", patience=timedelta(seconds=0.3))
    await holder.take("documents/x")

    with pytest.raises(ConcurrentChangeError, match="documents/x"):
        await other.take("documents/x")
    stored = await collection.find_one({"_id": "documents/x"})
    assert stored is not None
    assert stored["holder"] == "a"  # a lease that has not expired is never taken


async def test_a_lease_given_back_is_taken_by_the_replica_waiting_for_it(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = mongo[_database_name(infrastructure)][LEASES]
    first = DocumentLeases(collection, holder="a", lifetime=timedelta(minutes=5))
    second = DocumentLeases(collection, holder="b")
    token = await first.take("documents/x")
    waiting = asyncio.create_task(second.take("documents/x"))

    await first.give_back("documents/x", token)

    taken = await asyncio.wait_for(waiting, timeout=10)
    stored = await collection.find_one({"_id": "documents/x"})
    assert stored is not None
    assert (stored["holder"], stored["token"]) == ("b", taken)


async def test_a_named_replica_gives_back_only_its_own_previous_leases_at_start(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> None:
    collection = mongo[_database_name(infrastructure)][LEASES]
    previous = DocumentLeases(collection, holder="notification-1", lifetime=timedelta(minutes=5))
    other = DocumentLeases(collection, holder="notification-2", lifetime=timedelta(minutes=5))
    await previous.take("mails/1")
    await previous.take("mails/2")
    await other.take("mails/3")

    restarted = DocumentLeases(collection, holder="notification-1")
    assert await restarted.give_back_previous() == 2

    assert [d["_id"] async for d in collection.find({})] == ["mails/3"]

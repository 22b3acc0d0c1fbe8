"""Milliseconds per seat decision at 2,000 and 20,000 in-person registrants (docs/performance.md).

For each size, in a throwaway database on the shared FerretDB: one event of
30 seats whose in-person registrants are seeded as a snapshot from before
heads (30 holders, the rest waiting; the store turns it into placements and
tickets on its first read, untimed), then ``--decisions`` decisions made one
after another as the single active consumer makes them, alternately:

- a new request (a place at the end of the line), and
- a holder's cancellation (the seat released, the first in line promoted).

Printed per size: ms per decision (the total over the decisions), the bytes
each decision wrote (its head with the outbox, plus its records), and, for
comparison, what each decision wrote before heads: the whole state as one
snapshot, and the ms of that design's two writes per decision (inserting the
snapshot, shrinking the superseded one) at that size.

``uv run --frozen python -m bench.capacity --sizes 2000 20000``. The
databases are dropped at the end. Database time dominates: on a busy machine
the figures vary, the ratio between sizes much less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import bson
from faststream.rabbit import RabbitBroker
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_capacity.domain import SeatInventory
from ilmo_capacity.storage import (
    COLLECTION,
    Operation,
    SeatInventoryStore,
    snapshot_id,
    to_document,
)
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.outbox import OUTBOX_FIELD, OutboxRelay
from ilmo_shared.storage import Document, connect

SEATS = 30
EVENT = "bench-event"


def request(registration_id: str) -> Operation:
    return lambda seats: seats.request_seat(registration_id)


def cancel(registration_id: str) -> Operation:
    return lambda seats: seats.cancel(registration_id)


def people(count: int, salt: str) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}/{n}")) for n in range(count)]


async def measure(url: str, registrants: int, decisions: int) -> dict[str, float]:
    client = connect(url)
    database = client[f"bench_capacity_{uuid.uuid4().hex[:8]}"]
    broker = RabbitBroker("amqp://127.0.0.1/", logger=None)  # never connected: nothing is sent
    relay = OutboxRelay(EventPublisher(broker))
    outbox = relay.outbox(database[COLLECTION], source="bench/capacity")
    store = SeatInventoryStore(database, outbox=outbox, locks=relay.locks)
    try:
        await store.create_indexes()
        registered = people(registrants, "registrant")
        seats = SeatInventory(EVENT, capacity=SEATS, revision=1)
        seats.holders, seats.waiting = registered[:SEATS], registered[SEATS:]
        whole = {
            "_id": snapshot_id(EVENT, 1),
            **to_document(seats),
            "version": 1,
            "applied": [],
            "decided_at": datetime.now(UTC),
            OUTBOX_FIELD: [],
        }
        await store.inventories.insert_one(whole)
        await store.load(EVENT)  # turns the snapshot into records, untimed

        newcomers = people(decisions, "newcomer")
        holders = iter(registered[:SEATS] + registered[SEATS:])  # the promoted hold next
        started = time.perf_counter()
        for n in range(decisions):
            operation = request(newcomers[n]) if n % 2 == 0 else cancel(next(holders))
            await store.decide(EVENT, operation)
        per_decision = (time.perf_counter() - started) * 1000 / decisions

        written = []
        async for head in store.inventories.find({"event_id": EVENT, "version": {"$gt": 1}}):
            records = sum(len(bson.encode(r)) for r in head["changes"])
            written.append(len(bson.encode(head)) + records)
        return {
            "ms per decision": per_decision,
            "bytes per decision": statistics.median(written),
            "whole snapshot bytes": float(len(bson.encode(whole))),
            "whole snapshot ms": await whole_snapshot_writes(database, whole, decisions // 4),
        }
    finally:
        await client.drop_database(database.name)
        await client.close()


async def whole_snapshot_writes(
    database: AsyncDatabase[Document], whole: Document, repeats: int
) -> float:
    """Per decision before heads: insert the whole state, shrink the one it superseded."""
    collection = database["whole_snapshots"]
    timings = []
    for n in range(2, 2 + max(repeats, 3)):
        started = time.perf_counter()
        await collection.insert_one({**whole, "_id": snapshot_id(EVENT, n), "version": n})
        await collection.update_one(
            {"_id": snapshot_id(EVENT, n - 1)},
            {"$set": {"superseded": True}, "$unset": {"holders": "", "waiting": ""}},
        )
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def main(url: str, sizes: list[int], decisions: int) -> None:
    print(f"{decisions} decisions per size, one at a time")
    print(
        "| in-person registrants | ms per decision | bytes written per decision "
        "| before heads: bytes per decision | before heads: ms of its writes |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        figures = await measure(url, size, decisions)
        print(
            f"| {size:,} | {figures['ms per decision']:.1f} "
            f"| {figures['bytes per decision']:,.0f} | {figures['whole snapshot bytes']:,.0f} "
            f"| {figures['whole snapshot ms']:.1f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20_000])
    parser.add_argument("--decisions", type=int, default=400)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.sizes, arguments.decisions))

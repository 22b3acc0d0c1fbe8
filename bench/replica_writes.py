"""Changes lost when two replicas write one document, without leases and with them.

Two "replicas" (each its own client, ``DocumentLocks`` and holder name, on
one throwaway database of the shared FerretDB) each append ``--changes``
items to one document at once through ``VersionedDocuments``, the
read-decide-conditional-write every service uses. On MongoDB a conditional
update is atomic and nothing is lost either way; on FerretDB v1 an update is
a read followed by a write, so without leases some appends vanish although
every write reported success. Printed per mode: the items kept out of those
written in each trial, the writes that gave up, and the time per change.

``uv run --frozen python -m bench.replica_writes --trials 10``
(docs/architecture.md, "Replicas").
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from ilmo_shared.leases import LEASES, DocumentLeases
from ilmo_shared.storage import DocumentLocks, VersionedDocuments, connect
from tests.support.infrastructure import DEFAULT_MONGODB_URL
from tests.support.versioned import appending

REPLICAS = ("a", "b")


async def replica(url: str, database: str, label: str, changes: int, leases: bool) -> int:
    """Append this replica's items concurrently; how many gave up."""
    client = connect(url)
    try:
        db = client[database]
        locks = DocumentLocks(DocumentLeases(db[LEASES], holder=label) if leases else None)
        documents = VersionedDocuments(db["documents"], locks=locks)
        answers = await asyncio.gather(
            *(documents.change("shared", appending(f"{label}{n}")) for n in range(changes)),
            return_exceptions=True,
        )
        return sum(isinstance(answer, Exception) for answer in answers)
    finally:
        await client.close()


async def trial(url: str, changes: int, leases: bool) -> tuple[int, int, float]:
    """(items kept, writes that gave up, seconds) for one trial."""
    database = f"bench_replica_writes_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    gave_up = sum(
        await asyncio.gather(*(replica(url, database, r, changes, leases) for r in REPLICAS))
    )
    seconds = time.perf_counter() - started
    client = connect(url)
    try:
        stored = await client[database]["documents"].find_one({"_id": "shared"})
        await client.drop_database(database)
    finally:
        await client.close()
    return len(stored["items"]) if stored else 0, gave_up, seconds


async def main(url: str, changes: int, trials: int) -> None:
    written = changes * len(REPLICAS)
    for leases in (False, True):
        results = [await trial(url, changes, leases) for _ in range(trials)]
        kept = ", ".join(str(items) for items, _, _ in results)
        lost = sum(written - items for items, _, _ in results)
        gave_up = sum(failed for _, failed, _ in results)
        per_change = 1000 * sum(s for _, _, s in results) / (trials * written)
        print(
            f"{'with' if leases else 'without'} leases: kept {kept} of {written} "
            f"({lost} lost in {trials} trials), {gave_up} gave up, {per_change:.1f} ms per change"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replica_writes")
    parser.add_argument("--url", default=DEFAULT_MONGODB_URL)
    parser.add_argument("--changes", type=int, default=15, help="appends per replica per trial")
    parser.add_argument("--trials", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.changes, arguments.trials))

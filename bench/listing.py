"""How long an event's registrations take to list at 10,000 (docs/performance.md).

Fills a throwaway database on the shared FerretDB with ``--registrations``
registrations of one event and as many of another, shaped as the
registration service stores them, then times, ``--repeats`` times each:

- ``scan``: the query the JSON list used before the listing read model
  (``{event_id, status: {$ne: expired}}`` sorted by ``registered_at``),
  every document decoded;
- ``page``, ``search``, ``filter``: the listing read model's page 1 (50 rows)
  with no search, with a search for a surname, with a status filter;
- ``put``: what every write of a registration adds, its row put into its
  chunk (one read and one conditional write of ~310 rows).

``uv run python -m bench.listing --registrations 10000``. The database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ilmo_registration.domain import Status
from ilmo_registration.listing import ListingPage, ListingQuery, select
from ilmo_registration.storage.listing import RegistrationListing
from ilmo_registration.storage.registrations import listing_row_of
from ilmo_shared.storage import Document, connect

FIRST = ("Aino", "Eero", "Ilona", "Jussi", "Kaisa", "Lauri", "Märta", "Åsa", "Pekka", "Sofia")
LAST = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Lindqvist", "Öhman", "Heikkinen")


def _document(event_id: str, n: int, started: datetime) -> Document:
    rng = random.Random(f"{event_id}/{n}")  # noqa: S311 (test data, not secrets)
    remote = rng.random() < 0.7
    status = rng.choice(("active",) * 8 + ("pending", "cancelled"))
    return {
        "_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "event_id": event_id,
        "email_key": f"person{n}@example.fi",
        "first_name": rng.choice(FIRST),
        "last_name": f"{rng.choice(LAST)}{n}",
        "email": f"person{n}@example.fi",
        "organisation": "Valtiovarainministeriö",
        "attendance": "remote" if remote else "in_person",
        "attendance_version": 1,
        "language": rng.choice(("fi", "fi", "sv", "en")),
        "needs": None,
        "needs_consent": None,
        "privacy_notice": {"version": "1", "language": "fi", "shown_at": started},
        "manage_token_sha256": "0" * 64,
        "registered_at": started + timedelta(seconds=n),
        "status": status,
        "expires_at": None,
        "cancelled_at": None,
        "seat": {"state": "none", "position": None, "changed_at": None, "promoted": False},
        "stream_link": {"state": "provisioned", "url": None, "changed_at": started},
        "revision": 3,
        "outbox": [],
    }


async def _median_ms(repeats: int, action: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main(url: str, count: int, repeats: int) -> None:
    client = connect(url)
    database = client[f"bench_listing_{uuid.uuid4().hex[:8]}"]
    started = datetime(2026, 12, 1, 8, tzinfo=UTC)
    listing = RegistrationListing(database)
    try:
        for event_id in ("bench-event", "other-event"):
            documents = [_document(event_id, n, started) for n in range(count)]
            for start in range(0, count, 1000):
                await database["registrations"].insert_many(documents[start : start + 1000])
            if event_id == "bench-event":
                await listing.rebuild(event_id, [listing_row_of(d) for d in documents])

        async def scan() -> int:
            cursor = database["registrations"].find(
                {"event_id": "bench-event", "status": {"$ne": "expired"}},
                projection={"outbox": 0},
                sort=[("registered_at", 1), ("_id", 1)],
            )
            return len([document async for document in cursor])

        def page(query: ListingQuery) -> Callable[[], Awaitable[Any]]:
            async def read() -> ListingPage:
                return select(await listing.rows("bench-event") or [], query)

            return read

        rows = await listing.rows("bench-event") or []

        async def put() -> None:
            row = rows[len(rows) // 2]
            await listing.put("bench-event", replace(row, revision=row.revision + 1))

        figures = {
            "scan (before)": await _median_ms(repeats, scan),
            "page 1": await _median_ms(repeats, page(ListingQuery())),
            "search": await _median_ms(repeats, page(ListingQuery(q="mäkinen12"))),
            "filter": await _median_ms(repeats, page(ListingQuery(status=Status.CANCELLED))),
            "put": await _median_ms(repeats, put),
        }
        print(f"{count} registrations of the event, {count} of another; median of {repeats}")
        for name, ms in figures.items():
            print(f"| {name} | {ms:.0f} ms |")
    finally:
        await client.drop_database(database.name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/")
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.registrations, arguments.repeats))

"""What one write of a read model costs as its event grows: the listing and the roster.

Every registration writes the console's listing (registration) about 2.25
times and notification's roster about twice. On FerretDB v1 an update reads
and writes back its whole document, so a design that keeps a share of the
event per document makes each write cost more the larger the event. For
each ``--sizes`` N, this fills one event's listing and roster with N
registrations on a throwaway database of the shared FerretDB, the way the
services write them, then measures ``--probes`` writes of new registrations
and as many of existing ones, and one read of the whole event:

- FerretDB's CPU (the process listening on the database port, so run it on
  a quiet machine) and this process's CPU, per write, in ms;
- the read of every row (the console's listing) and every member (an
  organiser message's audience): wall time and both CPUs.

``uv run --frozen python -m bench.read_models --sizes 2000 20000``
(docs/performance.md, "Read models that do not grow with the event").
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psutil

from bench.resources import cpu_seconds, listening_pid
from ilmo_event_contracts import Attendance, Language
from ilmo_notification.broadcasting import Member
from ilmo_notification.storage.roster import RosterStore
from ilmo_registration.domain import Status
from ilmo_registration.listing import ListingRow
from ilmo_registration.storage.listing import RegistrationListing
from ilmo_shared.storage import DocumentLocks, connect
from tests.support.infrastructure import DEFAULT_MONGODB_URL

EVENT = "bench-event"
# Writes at once while filling: the services' consumers take about as many.
_FILLING = 16


@dataclasses.dataclass
class Meter:
    """CPU of FerretDB and of this process between ``start`` and ``stop``, and the wall time."""

    database: psutil.Process

    def __post_init__(self) -> None:
        self.own = psutil.Process()
        self.begun = (0.0, 0.0, 0.0)

    def start(self) -> None:
        self.begun = (cpu_seconds(self.database), cpu_seconds(self.own), time.monotonic())

    def stop(self, count: int = 1) -> str:
        database, own, wall = self.begun
        spent = (
            cpu_seconds(self.database) - database,
            cpu_seconds(self.own) - own,
            time.monotonic() - wall,
        )
        return " | ".join(f"{1000 * seconds / count:.2f}" for seconds in spent)


def _row(registration_id: str, revision: int) -> ListingRow:
    return ListingRow(
        registration_id=registration_id,
        first_name="Aino",
        last_name="Virtanen",
        email=f"aino.{registration_id[:8]}@example.fi",
        organisation="Valtiovarainministeriö",
        language=Language.FI,
        attendance=Attendance.REMOTE,
        status=Status.REMOTE,
        registered_at=datetime.now(UTC),
        revision=revision,
    )


def _member(registration_id: str, version: int) -> Member:
    return Member(
        registration_id=registration_id,
        attendance=Attendance.REMOTE,
        version=version,
        place=None,
        place_version=0,
        place_at=None,
        link=None,
        accepted_at=datetime.now(UTC),
        cancelled=False,
    )


class Event:
    """One event's listing and roster, written as the services write them."""

    def __init__(self, listing: RegistrationListing, roster: RosterStore) -> None:
        self.listing, self.roster = listing, roster
        self.chunks: dict[str, str] = {}

    async def list_row(self, registration_id: str, revision: int) -> None:
        if registration_id not in self.chunks:
            self.chunks[registration_id] = await self.listing.place(EVENT, registration_id)
        row = _row(registration_id, revision)
        await self.listing.put(EVENT, row, self.chunks[registration_id])

    async def enrol(self, registration_id: str, version: int) -> None:
        member = _member(registration_id, version)
        await self.roster.change(EVENT, registration_id, lambda _before: member)


async def _each(ids: list[str], write: Callable[[str], Awaitable[None]]) -> None:
    for start in range(0, len(ids), _FILLING):
        await asyncio.gather(*(write(i) for i in ids[start : start + _FILLING]))


async def measure(url: str, size: int, probes: int, meter: Meter) -> None:
    client = connect(url)
    database = client[f"bench_read_models_{uuid.uuid4().hex[:8]}"]
    event = Event(RegistrationListing(database), RosterStore(database, locks=DocumentLocks()))
    try:
        filled = [str(uuid.uuid4()) for _ in range(size)]
        await _each(filled, lambda i: event.list_row(i, 1))
        await _each(filled, lambda i: event.enrol(i, 1))
        await database["registration_listing"].insert_one({"_id": f"{EVENT}/built"})
        new = [str(uuid.uuid4()) for _ in range(probes)]
        existing = filled[:: max(1, size // probes)][:probes]
        writes: list[tuple[str, Callable[[str], Awaitable[None]], list[str]]] = [
            ("listing: a new row", lambda i: event.list_row(i, 1), new),
            ("listing: a row changed", lambda i: event.list_row(i, 2), existing),
            ("roster: a new member", lambda i: event.enrol(i, 1), new),
            ("roster: a member changed", lambda i: event.enrol(i, 2), existing),
        ]
        for name, write, ids in writes:
            meter.start()
            for registration_id in ids:
                await write(registration_id)
            print(f"| {size} | {name} | {meter.stop(len(ids))} |")
        meter.start()
        rows = await event.listing.rows(EVENT) or []
        print(f"| {size} | listing: every row ({len(rows)}), whole read | {meter.stop()} |")
        meter.start()
        members = await event.roster.members(EVENT)
        print(f"| {size} | roster: every member ({len(members)}), whole read | {meter.stop()} |")
    finally:
        await client.drop_database(database.name)
        await client.close()


async def main(url: str, sizes: list[int], probes: int) -> None:
    port = urlsplit(url).port or 27017
    pid = listening_pid(port)
    if pid is None:
        raise SystemExit(f"no process listens on port {port}: run `make infra` first (as root)")
    meter = Meter(psutil.Process(pid))
    print(f"{probes} writes each, sequential; CPU and wall time in ms per write (per read)")
    print("| N | what | FerretDB CPU | this process's CPU | wall |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for size in sizes:
        await measure(url, size, probes, meter)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_MONGODB_URL)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--probes", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.sizes, arguments.probes))

"""The load generator: registers N people over HTTP, from its own process.

Run by ``bench.run`` as ``python -m bench.load ...``; it can be run by hand
against any running registration service. Two ways to drive it:

- ``--mode closed --concurrency C``: C clients, each sending its next
  registration as soon as the previous one was answered (as fast as it goes);
- ``--mode open --rate R``: registration ``i`` is due at ``i / R`` seconds
  after the start, whatever the answers so far (arrivals do not wait for the
  service). Latency is recorded from the actual send and from the due time;
  the second includes any wait the generator itself added (no coordinated
  omission).

Nothing is retried: a refused or failed request is recorded as such. The
result is one JSON document: ``meta`` (settings, the generator's own CPU
seconds) and ``requests``, one record per registration with its send time
(seconds since the epoch), status, latency (seconds) and registration id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

FIRST_NAMES = ("Aino", "Eero", "Helmi", "Juha", "Kaisa", "Mikko", "Sanna", "Timo", "Linnea", "Ola")
LAST_NAMES = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Lindqvist", "Heikkinen", "Laine")
ORGANISATIONS = (
    "Valtiovarainministeriö",
    "Helsingin kaupunki",
    "Pirkanmaan hyvinvointialue",
    "Kuntaliitto",
    "Suomen Punainen Risti",
    None,
)
LANGUAGES = (("fi", 0.7), ("sv", 0.2), ("en", 0.1))


@dataclass
class Request:
    """One registration as the client saw it."""

    i: int
    attendance: str
    due: float | None  # open loop: when it was due (epoch seconds)
    sent: float  # epoch seconds
    latency: float  # seconds from sent to the whole answer
    status: int  # 0: no answer (connection error or timeout)
    registration_id: str | None
    error: str | None = None


def people(
    count: int, *, remote_share: float, seed: int, tag: str, notice_version: str
) -> list[tuple[str, dict[str, Any]]]:
    """``count`` registration bodies, the same ones for the same seed; emails unique per tag."""
    plan = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    languages = [language for language, _ in LANGUAGES]
    weights = [weight for _, weight in LANGUAGES]
    bodies: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        attendance = "remote" if plan.random() < remote_share else "in_person"
        body: dict[str, Any] = {
            "first_name": plan.choice(FIRST_NAMES),
            "last_name": plan.choice(LAST_NAMES),
            "email": f"bench.{tag}.{n}@example.fi",
            "organisation": plan.choice(ORGANISATIONS),
            "attendance": attendance,
            "language": plan.choices(languages, weights)[0],
            "privacy_notice_version": notice_version,
        }
        bodies.append((attendance, body))
    return bodies


class Clock:
    """Epoch seconds read off the monotonic clock: precise and never stepping back."""

    def __init__(self) -> None:
        self._epoch = time.time()
        self._start = time.perf_counter()

    def now(self) -> float:
        return self._epoch + (time.perf_counter() - self._start)


async def send(
    client: httpx.AsyncClient,
    path: str,
    n: int,
    attendance: str,
    body: dict[str, Any],
    clock: Clock,
    due: float | None,
) -> Request:
    sent = clock.now()
    started = time.perf_counter()
    try:
        answer = await client.post(path, json=body)
    except httpx.HTTPError as failure:
        latency = time.perf_counter() - started
        return Request(n, attendance, due, sent, latency, 0, None, type(failure).__name__)
    latency = time.perf_counter() - started
    if answer.status_code == 202:
        registration_id = str(answer.json()["id"])
        return Request(n, attendance, due, sent, latency, 202, registration_id)
    return Request(n, attendance, due, sent, latency, answer.status_code, None, answer.text[:200])


async def closed_loop(
    client: httpx.AsyncClient,
    path: str,
    plan: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    clock: Clock,
) -> list[Request]:
    results: list[Request] = []
    upcoming = iter(enumerate(plan))

    async def client_loop() -> None:
        for n, (attendance, body) in upcoming:
            results.append(await send(client, path, n, attendance, body, clock, None))

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return results


async def open_loop(
    client: httpx.AsyncClient,
    path: str,
    plan: list[tuple[str, dict[str, Any]]],
    rate: float,
    clock: Clock,
) -> list[Request]:
    start = clock.now()
    tasks: list[asyncio.Task[Request]] = []
    for n, (attendance, body) in enumerate(plan):
        due = start + n / rate
        wait = due - clock.now()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(send(client, path, n, attendance, body, clock, due)))
    return list(await asyncio.gather(*tasks))


async def generate(arguments: argparse.Namespace) -> dict[str, Any]:
    path = f"/api/v1/events/{arguments.event_id}/registrations"
    connections = arguments.concurrency if arguments.mode == "closed" else arguments.max_connections
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    clock = Clock()
    cpu_before = time.process_time()
    async with httpx.AsyncClient(
        base_url=arguments.url, limits=limits, timeout=arguments.timeout
    ) as client:
        # Every person is shown the event's privacy notice: one read, as a form page would.
        notice = await client.get(f"/api/v1/events/{arguments.event_id}/privacy-notice")
        notice.raise_for_status()
        plan = people(
            arguments.registrations,
            remote_share=arguments.remote_share,
            seed=arguments.seed,
            tag=arguments.tag or arguments.event_id,
            notice_version=notice.json()["version"],
        )
        started = clock.now()
        if arguments.mode == "closed":
            requests = await closed_loop(client, path, plan, arguments.concurrency, clock)
        else:
            requests = await open_loop(client, path, plan, arguments.rate, clock)
        finished = clock.now()
    requests.sort(key=lambda r: r.i)
    return {
        "meta": {
            "mode": arguments.mode,
            "concurrency": arguments.concurrency if arguments.mode == "closed" else None,
            "rate": arguments.rate if arguments.mode == "open" else None,
            "max_connections": connections,
            "registrations": arguments.registrations,
            "remote_share": arguments.remote_share,
            "seed": arguments.seed,
            "started": started,
            "finished": finished,
            "cpu_seconds": time.process_time() - cpu_before,
            "pid": os.getpid(),
        },
        "requests": [asdict(r) for r in requests],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--url", required=True, help="base URL of the registration service")
    parser.add_argument("--event-id", required=True)
    parser.add_argument("--registrations", type=int, default=5000)
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: clients")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop: registrations/s")
    parser.add_argument(
        "--max-connections", type=int, default=1000, help="open loop: connection pool size"
    )
    parser.add_argument("--remote-share", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tag", default="", help="makes the emails unique (default: event id)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if arguments.mode == "open" and arguments.rate <= 0:
        parser.error("--rate must be positive")
    if arguments.mode == "closed" and arguments.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    result = asyncio.run(generate(arguments))
    arguments.output.write_text(json.dumps(result))
    statuses: dict[int, int] = {}
    for request in result["requests"]:
        statuses[request["status"]] = statuses.get(request["status"], 0) + 1
    meta = result["meta"]
    print(
        f"load: {len(result['requests'])} requests in {meta['finished'] - meta['started']:.1f}s,"
        f" statuses {dict(sorted(statuses.items()))}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

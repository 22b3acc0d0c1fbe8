"""The people of a benchmark run confirming their addresses, as their mails arrive.

The timing SMTP server hands on the link of each "confirm your address" mail
(``bench.mail``); ``Confirmer`` then does what the person does: opens the
link (GET, the page with the button) and presses the button (POST), with
``concurrency`` people at a time. Only the first mail of a registration is
followed. Each confirmation is recorded: when its mail arrived, how long the
two requests took together (the cost of the extra step at the API), and the
answer (303 when confirmed). A failed request is retried a few times, as a
person would, and recorded as failed after that.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from tests.support.confirmation import follow_confirmation

ATTEMPTS = 5


@dataclass(frozen=True)
class Confirmation:
    registration_id: str
    mail_at: float  # epoch seconds
    started: float  # epoch seconds
    latency: float  # seconds, GET page + POST form
    status: int  # 303: confirmed; 0: no answer


class Confirmer:
    """Follows confirmation links from the SMTP server's thread, ``concurrency`` at a time."""

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._queue: asyncio.Queue[tuple[float, str, str] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._seen: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self.results: list[Confirmation] = []

    def offer(self, at: float, registration_id: str, link: str) -> None:
        """A mail arrived (called in the SMTP server's thread)."""
        self._loop.call_soon_threadsafe(self._take, at, registration_id, link)

    def _take(self, at: float, registration_id: str, link: str) -> None:
        if registration_id in self._seen:
            return  # a repeat's mail: the person already followed the first
        self._seen.add(registration_id)
        self._queue.put_nowait((at, registration_id, link))

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    async def stop(self) -> None:
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers)

    async def _work(self) -> None:
        async with httpx.AsyncClient(timeout=30) as browser:
            while (item := await self._queue.get()) is not None:
                at, registration_id, link = item
                started = time.time()
                status = 0
                for _ in range(ATTEMPTS):
                    try:
                        status = (await follow_confirmation(browser, link)).status_code
                    except (httpx.HTTPError, AssertionError):
                        status = 0
                    if status == 303:
                        break
                latency = time.time() - started
                self.results.append(Confirmation(registration_id, at, started, latency, status))

"""Waiting until something holds: the one polling loop of the tests and their harnesses.

``eventually`` awaits an async check, ``eventually_sync`` calls a plain one
(for code that blocks, such as the process harness). Both return the check's
first truthy result, and fail with an ``AssertionError`` that names what was
awaited, the timeout and the last result, plus whatever ``detail`` adds (a
log, the messages seen so far), read only when it fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(what: str, timeout: float, last: object, detail: Callable[[], str] | None) -> str:
    message = f"{what}: not within {timeout:g} s; last result {last!r}"
    return message if detail is None else f"{message}\n{detail()}"


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout: float = 20.0,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Await ``check()`` until it returns something truthy; fail after ``timeout`` seconds.

    ``what`` names what is awaited, for the failure message.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(_timed_out(what, timeout, result, detail))
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float = 20.0,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """``eventually`` for blocking code: call ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(what, timeout, result, detail))
        time.sleep(interval)

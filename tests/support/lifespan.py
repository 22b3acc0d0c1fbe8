"""A service app run in-process, the way uvicorn runs it, for integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from ilmo_shared.lifecycle import Lifecycle
from tests.support.development import DEVELOPMENT


@asynccontextmanager
async def serving(app: FastAPI, timeout: float = 30.0) -> AsyncIterator[Lifecycle]:
    """The app's lifespan, entered once the service does its work (broker and database up).

    The lifespan itself returns at once and connects in the background, as
    in production; a test that published before the consumers run would
    race them.
    """
    lifecycle: Lifecycle = app.state.lifecycle
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(lifecycle.running(), timeout)
        yield lifecycle


@asynccontextmanager
async def operations_client(
    app: FastAPI, base_url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service's operations listener (``app.state.operations``), in-process.

    It sends the development token unless ``headers`` say otherwise (``{}``:
    none); the service's settings must accept it.

    The operations app has no lifespan of its own: enter ``serving(app)``
    for the service's, which both listeners share.
    """
    operations: FastAPI = app.state.operations
    transport = httpx.ASGITransport(app=operations)
    sent = DEVELOPMENT if headers is None else headers
    async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=sent) as client:
        yield client

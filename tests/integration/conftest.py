"""Integration tests run against the real RabbitMQ and MongoDB-protocol server.

The fixtures here are the registration service's, shared by its test modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.registration import MovableClock, create_event, running_registration

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def clock() -> MovableClock:
    """The registration service's clock: the real time at the start, then moved by the test."""
    return MovableClock()


@pytest.fixture
async def client(
    infrastructure: IsolatedInfrastructure, clock: MovableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The registration service in-process on ``clock``, and a client for it."""
    async with running_registration(infrastructure, clock) as client:
        yield client


@pytest.fixture
def registrations(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    """The registration service's own collection of registrations."""
    return mongo[infrastructure.database_name("registration")]["registrations"]


@pytest.fixture
async def event(client: httpx.AsyncClient, clock: MovableClock) -> dict[str, Any]:
    """A published event open for registration (``event_payload``), as the API answered it."""
    return await create_event(client, now=clock.now)

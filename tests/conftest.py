"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document, connect
from tests.support.identity import IdentityProvider, identity_provider, problem_with
from tests.support.infrastructure import (
    IsolatedInfrastructure,
    create_isolated_infrastructure,
    remove_test_vhost,
)

# The real browser (``browser``, ``page_at``) for every layer that shows pages to people, and
# the HLS origin with a live stream (``hls_origin``, ``hls_stream``) for signed playback.
pytest_plugins = ["tests.support.browser", "tests.support.hls"]


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[IsolatedInfrastructure]:
    """This session's own vhost on the real RabbitMQ and database names on the real server."""
    created = create_isolated_infrastructure()
    yield created
    remove_test_vhost(created)


@pytest.fixture(scope="session")
def identity() -> IdentityProvider:
    """The development identity provider that `make infra` starts (tests.support.identity)."""
    provider = identity_provider()
    problem = problem_with(provider)
    if problem is not None:
        pytest.fail(problem)
    return provider


@pytest.fixture(scope="session")
async def mongo(
    infrastructure: IsolatedInfrastructure,
) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(infrastructure.mongodb_url)
    yield client
    for name in await client.list_database_names():
        if name.startswith(f"test_{infrastructure.run_id}_"):
            await client.drop_database(name)
    await client.close()

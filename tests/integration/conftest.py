"""Integration tests run against the real RabbitMQ and MongoDB-protocol server."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)

"""Isolated slices of the real infrastructure for one test session.

Tests talk to the same RabbitMQ and MongoDB-protocol server that ``make run``
uses, but never to its data: each session gets its own RabbitMQ virtual host
(created through the management API) and its own database names, and removes
them afterwards.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_MONGODB_URL = "mongodb://127.0.0.1:27017/"
DEFAULT_MANAGEMENT_URL = "http://127.0.0.1:15672"


@dataclass(frozen=True)
class IsolatedInfrastructure:
    """Where this session's vhost and databases are."""

    run_id: str
    amqp_url: str
    mongodb_url: str
    management_url: str
    vhost: str
    credentials: tuple[str, str]

    def database_name(self, service: str) -> str:
        return f"test_{self.run_id}_{service}"

    def management(self) -> httpx.Client:
        return httpx.Client(base_url=self.management_url, auth=self.credentials, timeout=10)


def create_isolated_infrastructure() -> IsolatedInfrastructure:
    """Create a fresh vhost for this session, with the broker user allowed everything in it."""
    run_id = uuid.uuid4().hex[:10]
    base = urlsplit(os.environ.get("ILMO_AMQP_URL", DEFAULT_AMQP_URL))
    credentials = (base.username or "guest", base.password or "guest")
    vhost = f"ilmo-test-{run_id}"
    amqp_url = urlunsplit(base._replace(path="/" + quote(vhost, safe="")))
    infrastructure = IsolatedInfrastructure(
        run_id=run_id,
        amqp_url=amqp_url,
        mongodb_url=os.environ.get("ILMO_MONGODB_URL", DEFAULT_MONGODB_URL),
        management_url=os.environ.get("ILMO_RABBITMQ_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL),
        vhost=vhost,
        credentials=credentials,
    )
    with infrastructure.management() as api:
        api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(vhost, safe='')}/{quote(credentials[0], safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    return infrastructure


def remove_test_vhost(infrastructure: IsolatedInfrastructure) -> None:
    with infrastructure.management() as api:
        api.delete(f"/api/vhosts/{quote(infrastructure.vhost, safe='')}")

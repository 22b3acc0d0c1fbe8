"""Isolated slices of the real infrastructure for one test session.

Tests talk to the same RabbitMQ and MongoDB-protocol server that ``make run``
uses, but never to its data: each session gets its own RabbitMQ virtual host
(created through the management API) and its own database names, and removes
them afterwards. The registration service's rate-limit counters go to the
same Redis as ``make run``'s, under the session's own key prefix; they expire
by themselves within minutes.

Each session also gets its own broker users, made from the same table as
``make run``'s (``ilmo_shared.messaging.users``) under session-specific
names (``ilmo-test-<run id>-<service>``, passed to the services as their
``*_broker_user`` settings): users are global to the broker, so a session
never touches a developer's ``ilmo-<service>`` users or another session's.
``amqp_url`` stays the administrator's, for the test's own observers;
``amqp_url_as(service)`` is what a service (or a test acting as it) uses.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ilmo_shared.messaging.users import (
    DEAD_LETTER_TTL_DAYS,
    INTEGRATOR_PREFIX,
    SERVICES,
    BrokerAdmin,
    EventOwners,
    integrator_user,
    new_password,
    owner_of,
    with_credentials,
)

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_MONGODB_URL = "mongodb://127.0.0.1:27017/"
DEFAULT_MANAGEMENT_URL = "http://127.0.0.1:15672"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class IsolatedInfrastructure:
    """Where this session's vhost and databases are."""

    run_id: str
    amqp_url: str
    mongodb_url: str
    management_url: str
    vhost: str
    credentials: tuple[str, str]
    # service -> (broker user, password), made by ``provision_users``.
    users: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # The rate limits' counters: a shared Redis, apart by ``redis_key_prefix``.
    redis_url: str = DEFAULT_REDIS_URL

    @property
    def redis_key_prefix(self) -> str:
        return f"ilmo-test-{self.run_id}"

    def database_name(self, service: str) -> str:
        return f"test_{self.run_id}_{service}"

    def management(self) -> httpx.Client:
        return httpx.Client(base_url=self.management_url, auth=self.credentials, timeout=10)

    def admin(self) -> BrokerAdmin:
        return BrokerAdmin(self.management_url, *self.credentials)

    def amqp_url_as(self, service: str) -> str:
        """``amqp_url`` (its nodes and vhost) with ``service``'s own broker user."""
        user, password = self.users[service]
        return with_credentials(self.amqp_url, user, password)

    def amqp_url_of_owner(self, event_type: str) -> str:
        """The URL of the service that owns ``event_type``: who may publish it."""
        owner = owner_of(event_type)
        assert owner is not None, f"no Ilmo service owns {event_type}"
        return self.amqp_url_as(owner)

    @property
    def owners(self) -> EventOwners:
        return EventOwners({service: user for service, (user, _) in self.users.items()})

    def broker_settings(self, service: str) -> dict[str, Any]:
        """A service's settings for the broker: its URL and every service's user name."""
        names = {f"{s}_broker_user": user for s, (user, _) in self.users.items()}
        return {"amqp_url": self.amqp_url_as(service), **names}

    def broker_environment(self, service: str) -> dict[str, str]:
        """``broker_settings`` as the ``ILMO_*`` variables of a service process."""
        return {
            f"ILMO_{key.upper()}": str(value)
            for key, value in self.broker_settings(service).items()
        }

    def integrator(self, name: str) -> str:
        """An outside system's user (``integrator-<run id>-<name>``) and its AMQP URL."""
        password = new_password()
        user = self.admin().provision_integrator(self.vhost, f"{self.run_id}-{name}", password)
        return with_credentials(self.amqp_url, user, password)

    def integrator_queue(self, name: str, purpose: str) -> str:
        """A queue name the integrator ``name`` may declare."""
        return f"{integrator_user(f'{self.run_id}-{name}')}.{purpose}"


def provision_users(infrastructure: IsolatedInfrastructure) -> IsolatedInfrastructure:
    """Create this run's service users with their permissions on its vhost."""
    admin = infrastructure.admin()
    admin.put_dead_letter_policy(infrastructure.vhost, DEAD_LETTER_TTL_DAYS)
    users = {}
    for service in SERVICES:
        user, password = f"ilmo-test-{infrastructure.run_id}-{service}", new_password()
        admin.provision_service(infrastructure.vhost, service, user, password)
        users[service] = (user, password)
    return replace(infrastructure, users=users)


def remove_users(infrastructure: IsolatedInfrastructure) -> None:
    """Delete the run's service and integrator users (they are global to the broker)."""
    admin = infrastructure.admin()
    for user, _ in infrastructure.users.values():
        admin.delete_user(user)
    with infrastructure.management() as api:
        for found in api.get("/api/users").json():
            if str(found["name"]).startswith(f"{INTEGRATOR_PREFIX}{infrastructure.run_id}-"):
                admin.delete_user(found["name"])


def create_isolated_infrastructure() -> IsolatedInfrastructure:
    """Create a fresh vhost for this session, with the broker user allowed everything in it."""
    run_id = uuid.uuid4().hex[:10]
    # ILMO_AMQP_URL may name a cluster's nodes, comma-separated (bench.run --cluster 3).
    nodes = [
        urlsplit(n.strip()) for n in os.environ.get("ILMO_AMQP_URL", DEFAULT_AMQP_URL).split(",")
    ]
    credentials = (nodes[0].username or "guest", nodes[0].password or "guest")
    vhost = f"ilmo-test-{run_id}"
    amqp_url = in_vhost(",".join(urlunsplit(n) for n in nodes if n.netloc), vhost)
    infrastructure = IsolatedInfrastructure(
        run_id=run_id,
        amqp_url=amqp_url,
        mongodb_url=os.environ.get("ILMO_MONGODB_URL", DEFAULT_MONGODB_URL),
        management_url=os.environ.get("ILMO_RABBITMQ_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL),
        redis_url=os.environ.get("ILMO_REDIS_URL", DEFAULT_REDIS_URL),
        vhost=vhost,
        credentials=credentials,
    )
    with infrastructure.management() as api:
        api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(vhost, safe='')}/{quote(credentials[0], safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    return provision_users(infrastructure)


def in_vhost(url: str, vhost: str) -> str:
    """Each node URL of ``url`` (comma-separated) with ``vhost`` as its path."""
    return ",".join(
        urlunsplit(urlsplit(part.strip())._replace(path="/" + quote(vhost, safe="")))
        for part in url.split(",")
        if part.strip()
    )


def first_node(url: str) -> str:
    """The first of comma-separated node URLs: for an observer that takes one."""
    return url.split(",", 1)[0]


def remove_test_vhost(infrastructure: IsolatedInfrastructure) -> None:
    try:
        remove_users(infrastructure)
    finally:
        with infrastructure.management() as api:
            api.delete(f"/api/vhosts/{quote(infrastructure.vhost, safe='')}")

"""Who may do what on the broker: one user per service, integrators, and who owns which event.

This module is the one table of broker permissions. ``make run``, the test
sessions and the chaos run all create the users from it, through RabbitMQ's
management HTTP API (``BrokerAdmin``), so the permissions tested are the ones
run. See docs/security.md for why each permission is there.

- A **service** (``ilmo-<service>`` by default) configures, writes and reads
  its own queues (``<service>.*``: work, retry and dead-letter queues),
  declares, binds from and publishes to Ilmo's exchanges, and publishes to the
  default exchange (its own retries, and ``ilmo-dlq replay``). Topic
  permissions narrow what it may publish on ``ilmo.events`` and
  ``ilmo.internal`` to the routing keys of the event types it owns, and on
  ``ilmo.dead-letter`` to its own queues' names.
- An **integrator** (an outside system) reads ``ilmo.events`` (binds its
  queues to it) and configures, binds and reads only queues under its own
  prefix ``integrator-<name>.``; it can write to no Ilmo exchange.
- A **consumer** accepts an event type only when the message's AMQP
  ``user_id``, which RabbitMQ checks against the connection's user, is the
  user of the service that owns the type (``EventOwners``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import ssl
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from faststream.rabbit import RabbitBroker

from ilmo_shared.messaging.catch_up import CATCH_UP_STREAM_NAME
from ilmo_shared.tls import client_context

SERVICES = ("registration", "capacity", "notification", "streaming")

# The first segment of an event type names its owner: only that service publishes it.
OWNED_PREFIXES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "registration": ("event", "registration", "message", "attendance"),
        "capacity": ("seat", "waitlist"),
        "notification": ("notification",),
        "streaming": ("stream",),
    }
)

# Queues a service declares besides its own: registration keeps the catch-up
# stream of ilmo.events (``catch_up``), which integrators read.
DECLARED_FOR_OTHERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"registration": (CATCH_UP_STREAM_NAME,)}
)

# Ilmo's exchanges: public events, internal events, parked messages.
ILMO_EXCHANGES = r"ilmo\.(events|internal|dead-letter)"
PUBLISHED_EXCHANGES = ("ilmo.events", "ilmo.internal")
DEAD_LETTER_EXCHANGE_NAME = "ilmo.dead-letter"
DEFAULT_EXCHANGE = r"amq\.default"
INTEGRATOR_PREFIX = "integrator-"
_INTEGRATOR_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")

# aio-pika's login when a URL names no user.
DEFAULT_LOGIN = "guest"


def default_user(service: str) -> str:
    """The broker user a service connects as unless its settings name another."""
    return f"ilmo-{service}"


def configured_user(service: str, environment: Mapping[str, str]) -> str:
    """The user ``service`` runs as: ``ILMO_<SERVICE>_BROKER_USER``, else ``ilmo-<service>``."""
    return environment.get(f"ILMO_{service.upper()}_BROKER_USER") or default_user(service)


def owner_of(event_type: str) -> str | None:
    """The service that owns ``event_type``, or None for a type no Ilmo service publishes."""
    prefix = event_type.split(".", 1)[0]
    for service, prefixes in OWNED_PREFIXES.items():
        if prefix in prefixes:
            return service
    return None


@dataclass(frozen=True)
class EventOwners:
    """The broker user of each service, and so who may publish which event type."""

    users: Mapping[str, str] = field(
        default_factory=lambda: {service: default_user(service) for service in SERVICES}
    )

    def user_of(self, service: str) -> str:
        return self.users[service]

    def may_publish(self, user: str | None, event_type: str) -> bool:
        owner = owner_of(event_type)
        return owner is not None and user is not None and self.users.get(owner) == user


@dataclass(frozen=True)
class Permissions:
    """A user's configure, write and read regexes on one vhost, and its topic permissions.

    ``topics`` maps a topic exchange to the (write, read) regexes of the
    routing keys the user may publish with and bind with.
    """

    configure: str
    write: str
    read: str
    topics: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def _anchored(*alternatives: str) -> str:
    return "^(" + "|".join(alternatives) + ")$"


def service_permissions(service: str) -> Permissions:
    """What a service needs: its own queues, Ilmo's exchanges, the default exchange for retries."""
    own_queues = re.escape(service) + r"\..*"
    declared = [re.escape(name) for name in DECLARED_FOR_OTHERS.get(service, ())]
    owned_keys = "^(" + "|".join(re.escape(p) for p in OWNED_PREFIXES[service]) + r")\."
    topics = {exchange: (owned_keys, ".*") for exchange in PUBLISHED_EXCHANGES}
    topics[DEAD_LETTER_EXCHANGE_NAME] = ("^" + own_queues + "$", ".*")
    return Permissions(
        configure=_anchored(own_queues, *declared, ILMO_EXCHANGES),
        # Write on a queue is what binding it to an exchange takes.
        write=_anchored(own_queues, *declared, ILMO_EXCHANGES, DEFAULT_EXCHANGE),
        read=_anchored(own_queues, ILMO_EXCHANGES),
        topics=topics,
    )


def integrator_user(name: str) -> str:
    """The user of an outside system called ``name``, e.g. ``integrator-kela``."""
    if not _INTEGRATOR_NAME.match(name):
        raise ValueError(f"integrator name {name!r}: lower-case letters, digits and -")
    return f"{INTEGRATOR_PREFIX}{name}"


def integrator_queue_prefix(name: str) -> str:
    """Queues an integrator may declare begin with this: ``integrator-<name>.``."""
    return f"{integrator_user(name)}."


def integrator_permissions(
    name: str, *, streams: Iterable[str] = (CATCH_UP_STREAM_NAME,)
) -> Permissions:
    """Read ``ilmo.events`` and the catch-up stream; own queues only; no Ilmo exchange to write."""
    own_queues = re.escape(integrator_queue_prefix(name)) + ".*"
    readable = [own_queues, r"ilmo\.events", *(re.escape(s) for s in streams)]
    return Permissions(
        configure=_anchored(own_queues), write=_anchored(own_queues), read=_anchored(*readable)
    )


# ---------------------------------------------------------------- connection URLs


def user_of(url: str) -> str:
    """The user an AMQP URL connects as (``guest`` when it names none, as aio-pika)."""
    username = urlsplit(url).username
    return unquote(username) if username else DEFAULT_LOGIN


def connection_user(broker: RabbitBroker) -> str:
    """The user ``broker`` connects as, from the URL of its next connection.

    The URL lives among FastStream's connection arguments, where
    ``ilmo_shared.lifecycle.point_broker_at`` changes it; every node of a
    cluster is reached with the same user.
    """
    return user_of(str(broker._connection_kwargs["url"]))


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` (or comma-separated node URLs) connecting as ``user`` instead."""
    urls = []
    for part in (p.strip() for p in url.split(",") if p.strip()):
        split = urlsplit(part)
        host = split.hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        port = f":{split.port}" if split.port else ""
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
        urls.append(urlunsplit(split._replace(netloc=netloc)))
    return ",".join(urls)


def vhost_of(url: str) -> str:
    """The vhost an AMQP URL names (``/`` when its path is empty)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


# ---------------------------------------------------------------- management API


class BrokerAdmin:
    """Users and permissions through RabbitMQ's management HTTP API (stdlib only)."""

    def __init__(
        self,
        management_url: str,
        user: str,
        password: str,
        *,
        timeout: float = 10,
        context: ssl.SSLContext | None = None,
    ) -> None:
        if urlsplit(management_url).scheme not in ("http", "https"):
            raise ValueError(f"management API URL {management_url!r}: http or https only")
        self._base = management_url.rstrip("/")
        # For https://: the broker's CA (ILMO_AMQP_CA_FILE) when it is a private one.
        self._context = context
        token = b64encode(f"{user}:{password}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._timeout = timeout

    def _call(self, method: str, path: str, body: object | None = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http or https, checked above)
            self._base + path,
            data=data,
            method=method,
            headers={"Authorization": self._authorization, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._context
            ):
                pass
        except urllib.error.HTTPError as error:
            if method == "DELETE" and error.code == 404:
                return
            raise RuntimeError(f"management API {method} {path}: HTTP {error.code}") from None

    def put_user(self, user: str, password: str) -> None:
        """Create ``user`` (no tags: it cannot use the management API) or set its password."""
        self._call("PUT", f"/api/users/{quote(user, safe='')}", {"password": password, "tags": ""})

    def delete_user(self, user: str) -> None:
        self._call("DELETE", f"/api/users/{quote(user, safe='')}")

    def put_vhost(self, vhost: str) -> None:
        self._call("PUT", f"/api/vhosts/{quote(vhost, safe='')}")

    def grant(self, vhost: str, user: str, permissions: Permissions) -> None:
        """Set ``user``'s permissions on ``vhost``, replacing its topic permissions there."""
        where = f"{quote(vhost, safe='')}/{quote(user, safe='')}"
        self._call(
            "PUT",
            f"/api/permissions/{where}",
            {
                "configure": permissions.configure,
                "write": permissions.write,
                "read": permissions.read,
            },
        )
        self._call("DELETE", f"/api/topic-permissions/{where}")
        for exchange, (write, read) in permissions.topics.items():
            self._call(
                "PUT",
                f"/api/topic-permissions/{where}",
                {"exchange": exchange, "write": write, "read": read},
            )

    def put_dead_letter_policy(self, vhost: str, ttl_days: float) -> None:
        """Parked messages in every ``<service>.dead-letter`` queue expire after ``ttl_days``.

        A policy, not a queue argument: RabbitMQ refuses to redeclare an
        existing queue with other arguments, while a policy applies to queues
        that exist and can be changed at any time (docs/operations.md).
        """
        self._call(
            "PUT",
            f"/api/policies/{quote(vhost, safe='')}/{DEAD_LETTER_POLICY}",
            {
                "pattern": DEAD_LETTER_QUEUES,
                "apply-to": "queues",
                "priority": 0,
                "definition": {"message-ttl": int(ttl_days * 24 * 3600 * 1000)},
            },
        )

    def provision_service(self, vhost: str, service: str, user: str, password: str) -> None:
        self.put_user(user, password)
        self.grant(vhost, user, service_permissions(service))

    def provision_integrator(
        self,
        vhost: str,
        name: str,
        password: str,
        *,
        streams: Iterable[str] = (CATCH_UP_STREAM_NAME,),
    ) -> str:
        """Create or update the integrator ``name``; returns its user name."""
        user = integrator_user(name)
        self.put_user(user, password)
        self.grant(vhost, user, integrator_permissions(name, streams=streams))
        return user


# The policy that gives dead-letter queues their message TTL, and the queues it applies to.
DEAD_LETTER_POLICY = "ilmo-dead-letter-ttl"
DEAD_LETTER_QUEUES = r"^[a-z]+\.dead-letter$"
# Parked messages expire after this many days unless ILMO_DEAD_LETTER_TTL_DAYS says otherwise.
DEAD_LETTER_TTL_DAYS = 14.0


def dead_letter_ttl_days(environment: Mapping[str, str]) -> float:
    """``ILMO_DEAD_LETTER_TTL_DAYS`` (more than 0, at most 365), else 14 days."""
    value = environment.get("ILMO_DEAD_LETTER_TTL_DAYS")
    if not value:
        return DEAD_LETTER_TTL_DAYS
    days = float(value)
    if not 0 < days <= 365:
        raise ValueError(f"ILMO_DEAD_LETTER_TTL_DAYS={value}: expected more than 0, at most 365")
    return days


def new_password() -> str:
    """A random broker password for local and test users."""
    return secrets.token_urlsafe(24)


# ---------------------------------------------------------------- command line


def _password_in(directory: Path, user: str) -> str:
    """The password kept in ``directory/<user>``, generated there the first time."""
    path = directory / user
    if not path.exists() or not path.read_text().strip():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(new_password() + "\n")
    return path.read_text().strip()


def main(argv: Sequence[str] | None = None) -> None:
    """Create the services' broker users, or an integrator's, on a vhost; print their URLs.

    ``python -m ilmo_shared.messaging.users provision --amqp-url URL
    --passwords DIR`` creates (or updates) each service's user
    (``ILMO_<SERVICE>_BROKER_USER``, default ``ilmo-<service>``) with a
    password kept in ``DIR`` (generated once), grants its permissions on the
    vhost of ``URL``, and prints ``<service> <url>`` lines with ``URL``'s nodes
    and the service's credentials. ``URL``'s own user (an administrator) is the
    one that talks to the management API: ``--management-url``, else
    ``ILMO_RABBITMQ_MANAGEMENT_URL``, else ``http://<broker host>:15672``
    (``ILMO_RABBITMQ_MANAGEMENT_PORT`` changes the port).

    It also sets the policy that expires parked messages in the dead-letter
    queues after ``ILMO_DEAD_LETTER_TTL_DAYS`` (default 14).

    ``... integrator NAME --amqp-url URL --passwords DIR`` creates (or
    updates) the outside system's user ``integrator-NAME`` the same way and
    prints its URL.
    """
    parser = argparse.ArgumentParser(prog="python -m ilmo_shared.messaging.users")
    parser.add_argument("command", choices=["provision", "integrator"])
    parser.add_argument("name", nargs="?", help="the outside system (with `integrator`)")
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--management-url")
    parser.add_argument("--passwords", type=Path, required=True)
    arguments = parser.parse_args(argv)
    first = arguments.amqp_url.split(",")[0].strip()
    split = urlsplit(first)
    management_url = (
        arguments.management_url
        or os.environ.get("ILMO_RABBITMQ_MANAGEMENT_URL")
        or f"http://{split.hostname or '127.0.0.1'}:"
        f"{os.environ.get('ILMO_RABBITMQ_MANAGEMENT_PORT') or 15672}"
    )
    ca_file = os.environ.get("ILMO_AMQP_CA_FILE")
    context = client_context(Path(ca_file)) if ca_file else None
    admin = BrokerAdmin(
        management_url, user_of(first), unquote(split.password or DEFAULT_LOGIN), context=context
    )
    vhost = vhost_of(first)
    try:
        if arguments.command == "integrator":
            if not arguments.name:
                parser.error("integrator needs the outside system's NAME")
            user = integrator_user(arguments.name)
            password = _password_in(arguments.passwords, user)
            admin.provision_integrator(vhost, arguments.name, password)
            print(user, with_credentials(first, user, password))
            return
        admin.put_dead_letter_policy(vhost, dead_letter_ttl_days(os.environ))
        for service in SERVICES:
            user = configured_user(service, os.environ)
            password = _password_in(arguments.passwords, user)
            admin.provision_service(vhost, service, user, password)
            print(service, with_credentials(arguments.amqp_url, user, password))
    except (OSError, RuntimeError, ValueError) as error:
        print(f"broker users: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

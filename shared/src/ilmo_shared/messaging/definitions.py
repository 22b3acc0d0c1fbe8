"""The broker's users, permissions and policies as a RabbitMQ definitions file.

Where no process may call the management API before the services start (the
compose stack: RabbitMQ imports the file at boot, ``load_definitions``),
the users of ``ilmo_shared.messaging.users`` are written as a definitions
document instead: the same permission table, the same dead-letter policy,
with each password stored as RabbitMQ's salted SHA-256 hash, never in clear.

``python -m ilmo_shared.messaging.definitions --passwords DIR --admin-user NAME``
reads each user's password from ``DIR/<user>`` (the service users of
``configured_user``, and the administrator) and prints the JSON document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
from base64 import b64encode
from collections.abc import Mapping, Sequence
from pathlib import Path

from ilmo_shared.messaging.users import (
    DEAD_LETTER_POLICY,
    DEAD_LETTER_QUEUES,
    SERVICES,
    configured_user,
    dead_letter_ttl_days,
    service_permissions,
)

# RabbitMQ's default hashing: base64(salt ++ sha256(salt ++ password)), 4-byte salt.
HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
SALT_BYTES = 4
# The administrator may do everything on the vhost: it is for people (the
# management UI, ilmo-dlq), never for a service.
EVERYTHING = ".*"

Document = dict[str, object]


def password_hash(password: str, salt: bytes | None = None) -> str:
    """The hash RabbitMQ keeps for ``password``, as its definitions carry it."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return b64encode(salt + digest).decode()


def _user(name: str, password: str, tags: Sequence[str] = ()) -> Document:
    return {
        "name": name,
        "password_hash": password_hash(password),
        "hashing_algorithm": HASHING_ALGORITHM,
        "tags": list(tags),
        "limits": {},
    }


def broker_definitions(
    *,
    vhost: str,
    passwords: Mapping[str, str],
    admin_user: str,
    environment: Mapping[str, str],
) -> Document:
    """The definitions document: one user per service with its permissions, and the administrator.

    ``passwords`` maps each user name (``configured_user`` of every service,
    and ``admin_user``) to its password; a missing one is a KeyError naming it.
    """
    users = [_user(admin_user, passwords[admin_user], ("administrator",))]
    permissions: list[Document] = [
        {
            "user": admin_user,
            "vhost": vhost,
            "configure": EVERYTHING,
            "write": EVERYTHING,
            "read": EVERYTHING,
        }
    ]
    topic_permissions: list[Document] = []
    for service in SERVICES:
        user = configured_user(service, environment)
        granted = service_permissions(service)
        users.append(_user(user, passwords[user]))
        permissions.append(
            {
                "user": user,
                "vhost": vhost,
                "configure": granted.configure,
                "write": granted.write,
                "read": granted.read,
            }
        )
        topic_permissions.extend(
            {"user": user, "vhost": vhost, "exchange": exchange, "write": write, "read": read}
            for exchange, (write, read) in granted.topics.items()
        )
    ttl_ms = int(dead_letter_ttl_days(environment) * 24 * 3600 * 1000)
    return {
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "policies": [
            {
                "vhost": vhost,
                "name": DEAD_LETTER_POLICY,
                "pattern": DEAD_LETTER_QUEUES,
                "apply-to": "queues",
                "priority": 0,
                "definition": {"message-ttl": ttl_ms},
            }
        ],
    }


def _read_password(directory: Path, user: str) -> str:
    path = directory / user
    try:
        password = path.read_text().strip()
    except OSError as error:
        raise ValueError(f"password of {user}: {error.strerror} ({path})") from None
    if not password:
        raise ValueError(f"password of {user}: {path} is empty")
    return password


def main(argv: Sequence[str] | None = None) -> None:
    """Print the definitions document for the users whose passwords are in ``--passwords``."""
    parser = argparse.ArgumentParser(prog="python -m ilmo_shared.messaging.definitions")
    parser.add_argument("--passwords", type=Path, required=True)
    parser.add_argument("--admin-user", required=True)
    parser.add_argument("--vhost", default="/")
    arguments = parser.parse_args(argv)
    users = [arguments.admin_user, *(configured_user(s, os.environ) for s in SERVICES)]
    try:
        passwords = {user: _read_password(arguments.passwords, user) for user in users}
        document = broker_definitions(
            vhost=arguments.vhost,
            passwords=passwords,
            admin_user=arguments.admin_user,
            environment=os.environ,
        )
    except ValueError as error:
        print(f"broker definitions: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()

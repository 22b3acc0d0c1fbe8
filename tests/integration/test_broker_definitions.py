"""The broker definitions of the compose stack, imported into the real RabbitMQ.

RabbitMQ imports ``ilmo_shared.messaging.definitions``' document at boot in
the compose stack; here the same document (with this run's user names, on
this run's vhost) goes through the management API's import, and each user
then signs in with its password: the hashes are RabbitMQ's own, and the
permissions are the table's.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ProbableAuthenticationError

from ilmo_shared.messaging.definitions import broker_definitions
from ilmo_shared.messaging.users import (
    SERVICES,
    new_password,
    service_permissions,
    with_credentials,
)
from tests.support.infrastructure import IsolatedInfrastructure


async def test_the_definitions_import_and_each_user_signs_in_with_its_password(
    infrastructure: IsolatedInfrastructure,
) -> None:
    prefix = f"ilmo-definitions-{infrastructure.run_id}-{uuid.uuid4().hex[:6]}"
    users = {service: f"{prefix}-{service}" for service in SERVICES}
    admin = f"{prefix}-admin"
    passwords = {user: new_password() for user in [admin, *users.values()]}
    document = broker_definitions(
        vhost=infrastructure.vhost,
        passwords=passwords,
        admin_user=admin,
        environment={f"ILMO_{s.upper()}_BROKER_USER": user for s, user in users.items()},
    )
    vhost = quote(infrastructure.vhost, safe="")
    try:
        with infrastructure.management() as api:
            imported = api.post("/api/definitions", json=document)
            assert imported.is_success, imported.text
            for service, user in users.items():
                granted = api.get(f"/api/permissions/{vhost}/{quote(user, safe='')}").json()
                expected = service_permissions(service)
                assert (granted["configure"], granted["write"], granted["read"]) == (
                    expected.configure,
                    expected.write,
                    expected.read,
                )
        whoami = f"{infrastructure.management_url}/api/whoami"
        async with httpx.AsyncClient(timeout=10) as client:
            signed_in = await client.get(whoami, auth=(admin, passwords[admin]))
            refused = await client.get(whoami, auth=(admin, new_password()))
        assert (signed_in.status_code, refused.status_code) == (200, 401)
        for user in users.values():
            connection = await aio_pika.connect(
                with_credentials(infrastructure.amqp_url, user, passwords[user])
            )
            await connection.close()
        with pytest.raises(ProbableAuthenticationError):
            await aio_pika.connect(
                with_credentials(infrastructure.amqp_url, users["capacity"], new_password())
            )
    finally:
        with infrastructure.management() as api:
            for user in [admin, *users.values()]:
                api.delete(f"/api/users/{quote(user, safe='')}")

"""The broker definitions document (ilmo_shared.messaging.definitions), without a broker."""

from __future__ import annotations

from ilmo_shared.messaging.definitions import broker_definitions, password_hash
from ilmo_shared.messaging.users import SERVICES, service_permissions


def test_a_password_hash_is_salted_sha256_as_rabbitmq_keeps_it() -> None:
    salt = bytes.fromhex("908d c60a".replace(" ", ""))
    # RabbitMQ's documented example: the salt, then SHA-256 of salt and "test12".
    assert password_hash("test12", salt) == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    assert password_hash("test12") != password_hash("test12")


def test_the_document_holds_the_permission_table_and_no_password() -> None:
    passwords = {"admin": "a" * 43} | {f"ilmo-{s}": f"{s}-password" for s in SERVICES}
    document = broker_definitions(
        vhost="/", passwords=passwords, admin_user="admin", environment={}
    )
    assert not any(password in str(document) for password in passwords.values())
    permissions = {p["user"]: p for p in document["permissions"]}  # type: ignore[attr-defined]
    for service in SERVICES:
        granted = service_permissions(service)
        assert permissions[f"ilmo-{service}"]["write"] == granted.write
    topics = {(t["user"], t["exchange"]) for t in document["topic_permissions"]}  # type: ignore[attr-defined]
    assert ("ilmo-capacity", "ilmo.events") in topics

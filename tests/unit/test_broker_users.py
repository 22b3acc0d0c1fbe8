"""The permission table and the ownership rule, without a broker."""

from __future__ import annotations

import re

import pytest
from faststream.rabbit import RabbitBroker

from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.messaging.users import (
    EventOwners,
    connection_user,
    integrator_permissions,
    integrator_user,
    owner_of,
    service_permissions,
    user_of,
    vhost_of,
    with_credentials,
)


def matches(pattern: str, name: str) -> bool:
    # RabbitMQ matches permission regexes unanchored; ours are anchored.
    return re.search(pattern, name) is not None


@pytest.mark.parametrize(
    ("event_type", "owner"),
    [
        ("event.published", "registration"),
        ("registration.cancelled", "registration"),
        ("seat.reserved", "capacity"),
        ("waitlist.left", "capacity"),
        ("stream.link.provisioned", "streaming"),
        ("notification.sent", "notification"),
        ("seats.reserved", None),
        ("", None),
    ],
)
def test_the_first_segment_of_an_event_type_names_its_owner(
    event_type: str, owner: str | None
) -> None:
    assert owner_of(event_type) == owner


def test_only_the_owners_user_may_publish_a_type() -> None:
    owners = EventOwners()
    assert owners.may_publish("ilmo-capacity", "seat.reserved")
    assert not owners.may_publish("ilmo-registration", "seat.reserved")
    assert not owners.may_publish(None, "seat.reserved")
    assert not owners.may_publish("ilmo-capacity", "unknown.type")
    renamed = EventOwners({"capacity": "prod-capacity"})
    assert renamed.may_publish("prod-capacity", "waitlist.left")
    assert not renamed.may_publish("ilmo-capacity", "waitlist.left")


def test_the_user_names_are_settings_shared_by_every_service() -> None:
    settings = RegistrationSettings(capacity_broker_user="prod-capacity")
    owners = settings.event_owners()
    assert owners.user_of("capacity") == "prod-capacity"
    assert owners.user_of("registration") == "ilmo-registration"


def test_a_service_may_touch_its_own_queues_and_ilmos_exchanges_only() -> None:
    capacity = service_permissions("capacity")
    for name in (
        "capacity.seat-decisions",
        "capacity.seat-decisions.retry-5s",
        "capacity.dead-letter",
    ):
        assert matches(capacity.configure, name)
        assert matches(capacity.read, name)
    for name in ("ilmo.events", "ilmo.internal", "ilmo.dead-letter"):
        assert matches(capacity.configure, name)
        assert matches(capacity.write, name)
    assert matches(capacity.write, "amq.default")
    for name in ("registration.status-updates", "capacityx.q", "integrator-kela.q", "ilmo.eventsx"):
        assert not matches(capacity.configure, name)
        assert not matches(capacity.read, name)
    write, _ = capacity.topics["ilmo.events"]
    assert matches(write, "seat.reserved")
    assert matches(write, "waitlist.left")
    assert not matches(write, "registration.cancelled")
    assert not matches(write, "seating.x")
    dead_letter_write, _ = capacity.topics["ilmo.dead-letter"]
    assert matches(dead_letter_write, "capacity.seat-decisions")
    assert not matches(dead_letter_write, "registration.status-updates")


def test_an_integrator_reads_ilmo_events_into_its_own_queues_and_writes_to_no_ilmo_exchange() -> (
    None
):
    assert integrator_user("kela") == "integrator-kela"
    kela = integrator_permissions("kela")
    assert matches(kela.configure, "integrator-kela.registrations")
    assert not matches(kela.configure, "integrator-kelax.registrations")
    assert not matches(kela.configure, "amq.gen-123")
    assert matches(kela.read, "ilmo.events")
    assert matches(kela.read, "ilmo.events.catch-up")  # the stream it catches up from
    assert not matches(kela.configure, "ilmo.events.catch-up")
    assert not matches(kela.read, "ilmo.internal")
    for exchange in ("ilmo.events", "ilmo.internal", "ilmo.dead-letter", "amq.default"):
        assert not matches(kela.write, exchange)
        assert not matches(kela.configure, exchange)
    with pytest.raises(ValueError, match="integrator name"):
        integrator_user("Kela.*")


def test_the_user_and_vhost_come_from_the_connection_url() -> None:
    url = "amqp://ilmo-capacity:p%40ss@rabbit-0:5672/ilmo"
    assert user_of(url) == "ilmo-capacity"
    assert user_of("amqp://rabbit-0/") == "guest"
    assert vhost_of(url) == "ilmo"
    assert vhost_of("amqp://rabbit-0:5672/") == "/"
    assert vhost_of("amqp://rabbit-0:5672/%2F") == "/"
    assert connection_user(RabbitBroker(url, logger=None)) == "ilmo-capacity"


def test_credentials_are_replaced_on_every_node() -> None:
    nodes = "amqp://guest:guest@rabbit-0:5672/v,amqp://guest:guest@rabbit-1/v"
    assert with_credentials(nodes, "ilmo-x", "a/b@c") == (
        "amqp://ilmo-x:a%2Fb%40c@rabbit-0:5672/v,amqp://ilmo-x:a%2Fb%40c@rabbit-1/v"
    )


def test_registration_alone_declares_and_binds_the_catch_up_stream() -> None:
    registration = service_permissions("registration")
    assert matches(registration.configure, "ilmo.events.catch-up")
    assert matches(registration.write, "ilmo.events.catch-up")
    for other in ("capacity", "notification", "streaming"):
        assert not matches(service_permissions(other).configure, "ilmo.events.catch-up")

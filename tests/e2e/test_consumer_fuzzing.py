"""Malformed messages published straight to the exchange are parked, never fatal.

Random bodies and broken CloudEvents headers go to ``ilmo.internal`` under the
routing keys the services consume. Each copy a service receives must land in
that service's dead-letter queue with a reason, and the services must keep
serving: a real registration still flows through afterwards. Each message
is published by the broker user of the service that owns its routing key,
so that it gets past the publisher check to the parsing it is meant to test.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import aio_pika
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilmo_event_contracts import Envelope, RegistrationAccepted
from ilmo_shared.dead_letters import browse
from ilmo_shared.messaging.subscription import REASON_HEADER
from ilmo_shared.messaging.users import owner_of
from tests.support.amqp import amqp_connection, event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import SERVICES, running_services
from tests.support.registration import ADMIN, NOTICE_VERSION, event_payload

ROUTING_KEYS = (
    "registration.accepted",
    "registration.cancelled",
    "seat.reserved",
    "event.published",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda fields: json.dumps(fields).encode(),
        st.fixed_dictionaries({"registration_id": st.text(max_size=40), "event_id": json_values}),
    ),
)


def headers_for(routing_key: str, variant: int) -> dict[str, Any]:
    """A valid envelope, then one broken in a different way per variant."""
    good = Envelope.new(source="fuzzer", type=routing_key).to_headers()
    broken: list[dict[str, Any]] = [
        good,  # right envelope, wrong body
        {},
        {**good, "cloudEvents:specversion": "0.3"},
        {**good, "cloudEvents:time": "yesterday"},
        {**good, "cloudEvents:dataschema": f"urn:ilmo:schema:{routing_key}:v99"},
        {k: v for k, v in good.items() if k != "cloudEvents:id"},
    ]
    return broken[variant % len(broken)]


async def test_malformed_messages_are_dead_lettered_with_a_reason_and_services_keep_serving(
    infrastructure: IsolatedInfrastructure,
) -> None:
    with running_services(infrastructure) as services:
        sent: list[tuple[str, bytes, dict[str, Any]]] = []

        @given(routing_key=st.sampled_from(ROUTING_KEYS), body=bodies, variant=st.integers(0, 5))
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def collect(routing_key: str, body: bytes, variant: int) -> None:
            headers = headers_for(routing_key, variant)
            if variant % 6 == 0 and _is_valid(routing_key, body):
                return  # a body that happens to be valid is not a malformed message
            sent.append((routing_key, body, headers))

        collect()
        consumers = _consumers_by_routing_key(infrastructure)
        expected = Counter(service for key, _, _ in sent for service in consumers[key])

        async with amqp_connection(infrastructure.amqp_url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            # Other tests of this session share the vhost: count from here on.
            before = {s: len(await browse(channel, f"{s}.dead-letter")) for s in SERVICES}
            expected.update(before)
            for routing_key, body, headers in sent:
                async with amqp_connection(infrastructure.amqp_url_of_owner(routing_key)) as owner:
                    owner_channel = await owner.channel(publisher_confirms=True)
                    exchange = await owner_channel.get_exchange("ilmo.internal")
                    await exchange.publish(
                        aio_pika.Message(
                            body,
                            headers=headers,
                            user_id=user_of_owner(infrastructure, routing_key),
                        ),
                        routing_key=routing_key,
                    )

            parked: dict[str, list[Any]] = {}

            async def all_parked() -> bool:
                parked.update({s: await browse(channel, f"{s}.dead-letter") for s in SERVICES})
                return all(len(parked[s]) >= expected[s] for s in SERVICES)

            # Up to 2 minutes: every copy goes through each service's consumer, and a
            # loaded 2-core machine once needed more than the 30 s this allowed.
            await eventually(
                all_parked,
                what="every malformed message parked by each service consuming it",
                timeout=120,
                interval=0.2,
                detail=lambda: f"parked { ({s: len(m) for s, m in parked.items()}) } of {expected}",
            )
        assert {s: len(parked[s]) for s in SERVICES} == {s: expected[s] for s in SERVICES}
        assert all(m.headers.get(REASON_HEADER) for s in SERVICES for m in parked[s][before[s] :])

        # Still serving: a real registration flows through to the seat decision.
        async with (
            event_tap(infrastructure.amqp_url, "seat.*") as seats,
            httpx.AsyncClient(base_url=services["registration"].url) as client,
        ):
            event_id = f"after-fuzz-{uuid.uuid4().hex[:6]}"
            created = await client.post(
                "/api/v1/events", json=event_payload(id=event_id), headers=ADMIN
            )
            assert created.status_code == 201
            answer = await client.post(
                f"/api/v1/events/{event_id}/registrations",
                json={
                    "first_name": "Still",
                    "last_name": "Working",
                    "email": "still@example.fi",
                    "attendance": "in_person",
                    "language": "en",
                    "privacy_notice_version": NOTICE_VERSION,
                },
            )
            assert answer.status_code == 202
            await seats.wait_for(1, routing_key="seat.reserved")
            for service in services.values():
                ready = await client.get(f"{service.url}/health/ready")
                assert ready.status_code == 200, service.name


def user_of_owner(infrastructure: IsolatedInfrastructure, routing_key: str) -> str:
    owner = owner_of(routing_key)
    assert owner is not None
    return infrastructure.owners.user_of(owner)


def _is_valid(routing_key: str, body: bytes) -> bool:
    from ilmo_event_contracts import event_class_for

    event_class = event_class_for(routing_key) or RegistrationAccepted
    try:
        event_class.model_validate_json(body)
    except ValueError:
        return False
    return True


def _consumers_by_routing_key(infrastructure: IsolatedInfrastructure) -> dict[str, set[str]]:
    """Which services' queues each routing key reaches, from the broker's own bindings."""
    with infrastructure.management() as api:
        bindings = api.get(
            f"/api/exchanges/{infrastructure.vhost}/ilmo.internal/bindings/source"
        ).json()
    consumers: dict[str, set[str]] = {key: set() for key in ROUTING_KEYS}
    for binding in bindings:
        service = binding["destination"].split(".")[0]
        if binding["routing_key"] in consumers and service in SERVICES:
            consumers[binding["routing_key"]].add(service)
    return consumers

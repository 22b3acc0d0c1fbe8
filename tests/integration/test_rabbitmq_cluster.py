"""A three-node RabbitMQ cluster of the test's own: it forms, replicates, and a service moves.

The cluster comes from ``deploy/local/cluster.sh`` (``tests.support.cluster``),
the recipe ``make run CLUSTER=3`` uses, on ports and node names of its own:
the shared single node of ``make infra`` is never touched. Starting three
nodes takes about a minute, so the module shares one cluster.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

import pytest
from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance
from ilmo_shared.messaging.topology import queue_name, work_queue
from ilmo_shared.storage import Document
from ilmo_streaming.app import build_app
from tests.support.amqp import EventTap, event_tap
from tests.support.capacity import STARTS_AT, accepted, event_details, new_event_id, publish
from tests.support.cluster import LocalCluster
from tests.support.infrastructure import (
    IsolatedInfrastructure,
    in_vhost,
    provision_users,
    remove_test_vhost,
)
from tests.support.lifespan import serving
from tests.support.polling import eventually
from tests.support.producers import counting_publisher
from tests.support.registration import MovableClock
from tests.support.streaming import streaming_settings


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    made = LocalCluster.in_temporary_folder("ilmo-cluster-test-", nodes=3)
    try:
        made.up()
        yield made
    finally:
        made.remove()


@pytest.fixture
def on_cluster(
    cluster: LocalCluster, infrastructure: IsolatedInfrastructure
) -> Iterator[IsolatedInfrastructure]:
    """A vhost of the test's own on the cluster, its service users, the session's database."""
    run_id = uuid.uuid4().hex[:10]
    vhost = f"ilmo-test-{run_id}"
    made = IsolatedInfrastructure(
        run_id=run_id,
        amqp_url=in_vhost(cluster.urls, vhost),
        mongodb_url=infrastructure.mongodb_url,
        management_url=cluster.management_url(1),
        vhost=vhost,
        credentials=("guest", "guest"),
    )
    with made.management() as api:
        api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    made = provision_users(made)
    yield made
    remove_test_vhost(made)


@pytest.fixture
async def cluster_databases(
    on_cluster: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> AsyncIterator[None]:
    yield
    for name in await mongo.list_database_names():
        if name.startswith(f"test_{on_cluster.run_id}_"):
            await mongo.drop_database(name)


def test_three_nodes_form_one_cluster_that_every_node_sees(cluster: LocalCluster) -> None:
    names = sorted(cluster.node_name(node) for node in cluster.indexes)
    for node in cluster.indexes:
        assert cluster.running_nodes(via=node) == names


async def test_a_work_queue_has_a_member_on_every_node(
    cluster: LocalCluster, on_cluster: IsolatedInfrastructure
) -> None:
    # Declared as the services declare theirs (topology.work_queue), through node 2.
    name = queue_name("cluster-test", "work")
    broker = RabbitBroker(in_vhost(cluster.url(2), on_cluster.vhost), logger=None)
    await broker.connect()
    try:
        await broker.declare_queue(work_queue(name))
    finally:
        await broker.stop()
    members = await asyncio.to_thread(cluster.quorum_members, name, on_cluster.vhost)
    assert members == sorted(cluster.node_name(node) for node in cluster.indexes)


async def link_provisioned(tap: EventTap, registration_id: uuid.UUID, timeout: float) -> None:
    async def seen() -> bool:
        await tap.take_arrived()
        return any(
            m.routing_key == "stream.link.provisioned"
            and m.data.get("registration_id") == str(registration_id)
            for m in tap.messages
        )

    await eventually(seen, what=f"a stream link for {registration_id}", timeout=timeout)


@pytest.mark.usefixtures("cluster_databases")
async def test_a_service_moves_to_another_node_when_its_own_stops_and_keeps_working(
    cluster: LocalCluster, on_cluster: IsolatedInfrastructure
) -> None:
    # The streaming service consumes registrations and publishes stream links:
    # a consumer and a publisher. It is given every node, node 1 first, so it
    # connects to node 1; the test's own publisher and tap use node 3 only.
    app = build_app(streaming_settings(on_cluster), clock=MovableClock(STARTS_AT - timedelta(7)))
    outside = replace(on_cluster, amqp_url=in_vhost(cluster.url(3), on_cluster.vhost))
    async with (
        counting_publisher(outside) as publisher,
        event_tap(outside.amqp_url, "stream.#") as tap,
        serving(app) as lifecycle,
    ):
        event_id = new_event_id()
        await publish(publisher, event_details(event_id, 10))
        before = accepted(event_id, attendance=Attendance.REMOTE)
        await publish(publisher, before)
        await link_provisioned(tap, before.registration_id, timeout=20)

        # In a thread: the service runs on this event loop and must keep running.
        await asyncio.to_thread(cluster.stop, 1)
        try:
            after = accepted(event_id, attendance=Attendance.REMOTE)
            await publish(publisher, after)
            # The lifecycle waits 10 s for its node to come back, then moves.
            await link_provisioned(tap, after.registration_id, timeout=90)
            assert lifecycle.readiness().ready
        finally:
            await asyncio.to_thread(cluster.start, 1)

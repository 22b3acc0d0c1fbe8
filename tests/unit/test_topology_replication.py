"""The work queues' arguments leave replication to the cluster (topology's docstring says why)."""

from __future__ import annotations

from ilmo_shared.messaging.topology import (
    RedeliveryPolicy,
    dead_letter_queue,
    retry_queue,
    work_queue,
)

GROUP_SIZE = "x-quorum-initial-group-size"


def test_no_queue_fixes_its_group_size_so_it_gets_a_member_on_every_node() -> None:
    # Adding the argument later would make RabbitMQ refuse every existing
    # queue's declaration (PRECONDITION_FAILED): it must never appear.
    queues = [
        work_queue("capacity.registrations", single_active_consumer=True),
        work_queue("notification.mails"),
        dead_letter_queue("capacity"),
        *(retry_queue("notification.mails", d) for d in RedeliveryPolicy().delays),
    ]
    for queue in queues:
        assert GROUP_SIZE not in (queue.arguments or {}), queue.name
        assert queue.arguments is not None
        assert queue.arguments.get("x-queue-type") == "quorum", queue.name

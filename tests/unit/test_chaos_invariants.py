"""The chaos run's own checks: a checker that cannot fail would prove nothing."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from tests.chaos.run import (
    BROKER,
    DATABASE,
    Outcome,
    Subscriber,
    check_subscriber,
    fault_plan,
)
from tests.support.processes import SERVICES


def subscriber_with(*messages: tuple[str, str, dict[str, Any]]) -> Subscriber:
    subscriber = Subscriber()
    for message_id, routing_key, data in messages:
        subscriber.messages.append((message_id, routing_key, f"digest-{message_id}", data))
    return subscriber


def remote_registration(rid: str) -> tuple[Outcome, dict[str, Any]]:
    row = {"id": rid, "status": "remote", "attendance": "remote", "stream_link_provisioned": True}
    return Outcome(email=f"{rid}@example.fi", attendance="remote"), row


def checked(subscriber: Subscriber, rid: str = "r1") -> tuple[Counter[str], list[str]]:
    figures: Counter[str] = Counter()
    violations: list[str] = []
    check_subscriber(subscriber, [remote_registration(rid)], [], figures, violations)
    return figures, violations


COMPLETE = (
    ("m1", "registration.accepted", {"registration_id": "r1"}),
    ("m2", "stream.link.provisioned", {"registration_id": "r1"}),
)


def test_every_kind_of_fault_comes_at_least_once_and_the_plan_is_seeded() -> None:
    plan = fault_plan(random.Random(5), 6)
    assert len(plan) == 6
    assert BROKER in plan
    assert DATABASE in plan
    assert any(target in SERVICES for target in plan)
    assert plan == fault_plan(random.Random(5), 6)


def test_a_complete_history_passes_and_redeliveries_are_allowed() -> None:
    figures, violations = checked(subscriber_with(*COMPLETE, COMPLETE[0]))
    assert violations == []
    assert figures["redelivered to subscriber"] == 1


def test_one_logical_event_under_two_ids_is_a_violation() -> None:
    twice = ("m3", "stream.link.provisioned", {"registration_id": "r1"})
    figures, violations = checked(subscriber_with(*COMPLETE, twice))
    assert figures["events duplicated"] == 1
    assert any("2 different events" in line for line in violations)


def test_an_event_the_subscriber_never_saw_is_a_violation() -> None:
    figures, violations = checked(subscriber_with(COMPLETE[0]))
    assert figures["events unseen"] == 1
    assert violations == ["subscriber never saw stream.link.provisioned for r1"]


def test_one_id_carrying_two_different_bodies_is_a_violation() -> None:
    subscriber = subscriber_with(*COMPLETE)
    subscriber.messages.append(("m1", "registration.accepted", "other-digest", {}))
    _, violations = checked(subscriber)
    assert any("carried 2 different events" in line for line in violations)

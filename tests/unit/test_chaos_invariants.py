"""The chaos run's own checks: a checker that cannot fail would prove nothing."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.chaos.run import (
    BROKER,
    DATABASE,
    EVERYTHING,
    SERVICE_DURING_OUTAGE,
    Fault,
    Outcome,
    Subscriber,
    check_emails,
    check_no_personal_data,
    check_subscriber,
    check_switch_mails,
    check_switches,
    fault_plan,
)
from tests.support.processes import SERVICES, replica_key


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
    plan = fault_plan(random.Random(5), 6, SERVICES)
    assert len(plan) == 6
    assert Fault("server", server=BROKER) in plan
    assert Fault("server", server=DATABASE) in plan
    assert any(f.kind == "service" and f.service in SERVICES for f in plan)
    outages = {f.server for f in plan if f.kind == SERVICE_DURING_OUTAGE}
    assert outages == {BROKER, DATABASE}
    assert Fault(EVERYTHING) in plan
    assert plan == fault_plan(random.Random(5), 6, SERVICES)
    assert len(fault_plan(random.Random(5), 30, SERVICES)) == 30


def test_with_replicas_a_service_fault_hits_one_replica_and_replicas_are_hit_too() -> None:
    processes = [replica_key(s, n) for s in SERVICES for n in (1, 2)]
    plan = fault_plan(random.Random(5), 40, processes)
    hit = {f.service for f in plan if f.service is not None}
    assert hit <= set(processes)
    assert hit & {"registration-2", "capacity-2", "notification-2", "streaming-2"}


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


@dataclass(frozen=True)
class SentMail:
    registration_id: str | None
    kind: str | None
    message_id: str | None


def emails_checked(*mails: SentMail, allowed_resends: int = 0) -> tuple[Counter[str], list[str]]:
    figures: Counter[str] = Counter()
    violations: list[str] = []
    check_emails(list(mails), [remote_registration("r1")], allowed_resends, figures, violations)
    return figures, violations


RECEIPT = SentMail("r1", "confirm_address", "<r1.confirm_address@x>")
LINK = SentMail("r1", "stream_link", "<r1.link@x>")


def test_each_expected_mail_once_passes() -> None:
    assert emails_checked(RECEIPT, LINK) == (Counter(), [])


def test_a_missing_mail_is_a_violation() -> None:
    figures, violations = emails_checked(RECEIPT)
    assert figures["missing emails"] == 1
    assert violations == ["missing email: stream_link for r1 (remote)"]


def test_a_second_mail_with_another_message_id_is_always_a_violation() -> None:
    other = SentMail("r1", "stream_link", "<other@x>")
    figures, violations = emails_checked(RECEIPT, LINK, other, allowed_resends=4)
    assert figures["duplicate emails"] == 1
    assert len(violations) == 1


def test_a_resend_with_the_same_message_id_is_counted_and_allowed_only_after_a_crash() -> None:
    figures, violations = emails_checked(RECEIPT, LINK, LINK, allowed_resends=4)
    assert figures["duplicate emails (same Message-ID, resend)"] == 1
    assert violations == []
    _, violations = emails_checked(RECEIPT, LINK, LINK, allowed_resends=0)
    assert len(violations) == 1


def test_a_repeat_registration_may_send_the_confirmation_again_under_its_own_message_id() -> None:
    again = SentMail("r1", "confirm_address", "<r1.confirm_address.1764583200000@x>")
    figures, violations = emails_checked(RECEIPT, again, LINK)
    assert violations == []
    assert figures["repeat mails (one per repeat)"] == 1
    # The same repeat's mail twice is a resend like any other.
    _, violations = emails_checked(RECEIPT, again, again, LINK)
    assert len(violations) == 1


def test_confirmation_mails_are_not_expected_on_the_integration_exchange() -> None:
    figures: Counter[str] = Counter()
    violations: list[str] = []
    mails = [RECEIPT, SentMail("r1", "stream_link", "<r1.link@x>")]
    sent = ("m9", "notification.sent", {"registration_id": "r1", "kind": "stream_link"})
    check_subscriber(
        subscriber_with(*COMPLETE, sent), [remote_registration("r1")], mails, figures, violations
    )
    assert violations == []


def leaks(*messages: tuple[str, str, dict[str, Any]]) -> list[str]:
    violations: list[str] = []
    outcomes = [Outcome(email="kaaos7.ab12cd@example.fi", attendance="remote")]
    check_no_personal_data(subscriber_with(*messages), outcomes, Counter(), violations)
    return violations


def test_integration_events_without_personal_data_pass() -> None:
    assert leaks(*COMPLETE) == []


def test_a_name_an_email_or_a_link_on_the_outside_exchange_is_a_violation() -> None:
    assert leaks(("m1", "registration.accepted", {"first_name": "Kaaos7"})) == [
        "subscriber: registration.accepted m1 carried first_name, Kaaos"
    ]
    [violation] = leaks(("m2", "notification.failed", {"detail": "KAAOS7.ab12cd@example.fi"}))
    assert "an email address" in violation
    [violation] = leaks(("m3", "stream.link.provisioned", {"url": "https://x/watch/t"}))
    assert "url" in violation


# ------------------------------------------------------------------ switches


def switcher(status: str, attendance: str, versions: list[int]) -> tuple[Outcome, dict[str, Any]]:
    """In person at registration, then switched (each switch answered with its version)."""
    outcome = Outcome(email="s1@example.fi", attendance="in_person", confirmed=True)
    outcome.switches_planned = len(versions)
    outcome.switched_versions = list(versions)
    row = {
        "id": "s1",
        "status": status,
        "attendance": attendance,
        "attendance_version": 1 + len(versions),
        "stream_link_provisioned": True,
    }
    return outcome, row


def switch_mails_checked(
    registration: tuple[Outcome, dict[str, Any]], *mails: SentMail
) -> list[str]:
    violations: list[str] = []
    check_switch_mails(list(mails), [registration], Counter(), violations)
    return violations


def test_the_last_switch_to_remote_must_have_its_stream_link_mail() -> None:
    remote_again = switcher("remote", "remote", [2])  # in person -> remote (v2)
    link_v2 = SentMail("s1", "stream_link", "<s1.stream_link.v2@x>")
    assert switch_mails_checked(remote_again, link_v2) == []
    assert switch_mails_checked(remote_again) == [
        "missing email: stream_link for the last switch (version 2) of s1"
    ]


def test_a_mail_that_does_not_fit_its_switch_is_a_violation() -> None:
    back_on_site = switcher("seat_reserved", "in_person", [2, 3])
    seat_v3 = SentMail("s1", "seat_confirmed", "<s1.seat_confirmed.v3@x>")
    assert switch_mails_checked(back_on_site, seat_v3) == []
    # A seat mail for version 2 (remote then), a link mail for a version never reached.
    wrong = [
        SentMail("s1", "seat_confirmed", "<s1.seat_confirmed.v2@x>"),
        SentMail("s1", "stream_link", "<s1.stream_link.v5@x>"),
    ]
    assert len(switch_mails_checked(back_on_site, seat_v3, *wrong)) == 2


def test_each_switch_may_mail_once_but_not_twice() -> None:
    figures: Counter[str] = Counter()
    violations: list[str] = []
    link_v1 = SentMail("r1", "stream_link", "<r1.stream_link@x>")
    link_v3 = SentMail("r1", "stream_link", "<r1.stream_link.v3@x>")
    check_emails([RECEIPT, link_v1, link_v3], [remote_registration("r1")], 0, figures, violations)
    assert violations == []
    check_emails(
        [RECEIPT, link_v1, link_v3, link_v3], [remote_registration("r1")], 0, figures, violations
    )
    assert len(violations) == 1


def test_a_switch_lost_or_refused_is_a_violation() -> None:
    outcome, row = switcher("remote", "remote", [2])
    violations: list[str] = []
    check_switches(outcome, row, Counter(), violations)
    assert violations == []
    check_switches(
        outcome, {**row, "attendance": "in_person", "attendance_version": 1}, Counter(), violations
    )
    assert len(violations) == 1
    outcome.switch_detail = "switch 409 registration-closed"
    violations.clear()
    check_switches(outcome, row, Counter(), violations)
    assert violations == ["switch refused: s1 (switch 409 registration-closed)"]


def test_events_of_each_attendance_version_are_logical_events_of_their_own() -> None:
    figures: Counter[str] = Counter()
    violations: list[str] = []
    outcome, row = switcher("remote", "remote", [2])
    subscriber = subscriber_with(
        ("m1", "registration.accepted", {"registration_id": "s1"}),
        (
            "m2",
            "registration.attendance_changed",
            {"registration_id": "s1", "attendance_version": 2},
        ),
        ("m3", "seat.reserved", {"registration_id": "s1"}),
        ("m4", "seat.released", {"registration_id": "s1", "attendance_version": 2}),
        ("m5", "stream.link.provisioned", {"registration_id": "s1", "attendance_version": 2}),
    )
    check_subscriber(subscriber, [(outcome, row)], [], figures, violations)
    assert violations == []
    # The switch's link announced under a second id is one event published twice.
    subscriber.messages.append(
        ("m6", "stream.link.provisioned", "d6", {"registration_id": "s1", "attendance_version": 2})
    )
    violations.clear()
    check_subscriber(subscriber, [(outcome, row)], [], figures, violations)
    assert any("2 different events" in line for line in violations)


def test_a_stream_link_for_a_waiting_list_place_after_a_switch_on_site_fits() -> None:
    # On site (v1), remote (v2), on site again (v3): streaming saw the waiting-list
    # place of v3 before the switch of v2, so the link answers v3.
    back_on_site = switcher("waitlisted", "in_person", [2, 3])
    waiting_v3 = SentMail("s1", "waitlisted", "<s1.waitlisted.v3@x>")
    link_v3 = SentMail("s1", "stream_link", "<s1.stream_link.v3@x>")
    assert switch_mails_checked(back_on_site, waiting_v3, link_v3) == []

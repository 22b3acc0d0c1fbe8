"""The chaos run's checks of the event's life: each can fail, so a pass means something."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chaos.life import EventLife, check_life, occasion_of
from tests.chaos.run import Outcome, Subscriber, check_subscriber, mail_key
from tests.support.infrastructure import IsolatedInfrastructure

MOVED_TO = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
DURING, AFTER = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


@dataclass(frozen=True)
class FakeMail:
    registration_id: str | None
    kind: str | None
    message_id: str | None


def mail(rid: str, kind: str, occasion: str = "", copy: str = "") -> FakeMail:
    suffix = f".{occasion}" if occasion else ""
    return FakeMail(rid, kind, f"<{rid}.{kind}{suffix}@ilmo{copy}.example.fi>")


def done(recipients: int) -> dict[str, Any]:
    return {
        "state": "done",
        "recipients": recipients,
        "sent": recipients,
        "failed": 0,
        "pending": 0,
    }


def life(**changes: Any) -> EventLife:
    values: dict[str, Any] = {
        "registration_url": "http://registration",
        "notification_operations_url": "http://notification",
        "infrastructure": IsolatedInfrastructure.__new__(IsolatedInfrastructure),
        "event": {"id": "chaos-1"},
        "moved_to": MOVED_TO,
        "revision": 3,
        "during_load": DURING,
        "after_run": AFTER,
        "progress": {DURING: done(1), AFTER: done(2)},
        "schedule": [
            reminder_due(MOVED_TO - timedelta(minutes=30)),
            reminder_due(MOVED_TO - timedelta(minutes=2)),
        ],
    }
    values.update(changes)
    return EventLife(**values)


def reminder_due(at: datetime) -> dict[str, Any]:
    return {"key": "m30", "kind": "reminder", "due_at": at.isoformat()}


REGISTRATIONS = [
    {"id": "r1", "status": "seat_reserved"},
    {"id": "r2", "status": "remote"},
    {"id": "r3", "status": "cancelled"},
]
GOOD = [
    mail("r1", "event_changed", "r3"),
    mail("r2", "event_changed", "r3"),
    mail("r1", "organiser_message", DURING),
    mail("r1", "organiser_message", AFTER),
    mail("r2", "organiser_message", AFTER),
]


def checked(mails: list[FakeMail], of: EventLife | None = None) -> list[str]:
    violations: list[str] = []
    check_life(of or life(), mails, REGISTRATIONS, Counter(), violations)
    return violations


def test_the_occasion_comes_from_the_message_id() -> None:
    assert occasion_of(mail("r1", "reminder", "m30")) == "m30"
    assert occasion_of(mail("r1", "organiser_message", DURING)) == DURING
    assert occasion_of(mail("r1", "seat_confirmed")) == ""


def test_a_complete_life_passes() -> None:
    assert checked(GOOD) == []


def test_an_active_registrant_without_the_message_after_the_run_is_a_violation() -> None:
    violations = checked([m for m in GOOD if m != mail("r2", "organiser_message", AFTER)])
    assert any("missing message after the run for r2" in v for v in violations)


def test_a_message_to_the_cancelled_is_a_violation() -> None:
    violations = checked([*GOOD, mail("r3", "organiser_message", AFTER)])
    assert any("message after the run to r3" in v for v in violations)


def test_a_message_twice_under_two_message_ids_is_a_violation() -> None:
    violations = checked([*GOOD, mail("r1", "organiser_message", DURING, copy="2")])
    assert any("under 2 Message-IDs" in v for v in violations)


def test_notification_counting_other_recipients_than_got_the_message_is_a_violation() -> None:
    violations = checked(GOOD, life(progress={DURING: done(2), AFTER: done(2)}))
    assert any("counts 2 sent, 1 registrants got it" in v for v in violations)
    # More recipients than sent: only as many as cancelled meanwhile (r3) may be skipped.
    one_skipped = {**done(2), "sent": 1}
    assert checked(GOOD, life(progress={DURING: one_skipped, AFTER: done(2)})) == []
    two_skipped = {**done(3), "sent": 1}
    violations = checked(GOOD, life(progress={DURING: two_skipped, AFTER: done(2)}))
    assert any("3 recipients, 1 sent" in v for v in violations)
    violations = checked(GOOD, life(progress={DURING: done(1), AFTER: {**done(3), "sent": 2}}))
    assert any("3 recipients, 2 sent" in v for v in violations)
    unfinished = {**done(2), "state": "sending", "sent": 1, "pending": 1}
    violations = checked(GOOD, life(progress={DURING: done(1), AFTER: unfinished}))
    assert any("sending" in v for v in violations)


def test_a_change_notice_for_another_revision_or_a_reminder_is_a_violation() -> None:
    other_revision = checked([*GOOD[1:], mail("r1", "event_changed", "r4")])
    assert any("only change made revision 3" in v for v in other_revision)
    assert any("late reminder m30" in v for v in checked([*GOOD, mail("r1", "reminder", "m30")]))


def test_a_reminder_left_at_its_time_before_the_move_is_a_violation() -> None:
    unmoved = [reminder_due(MOVED_TO - timedelta(minutes=5))]
    violations = checked(GOOD, life(schedule=unmoved))
    assert any("not moved with the start" in v for v in violations)
    assert any("no reminder due" in v for v in violations)


def test_the_last_reminder_may_come_if_the_run_outlasted_it_but_only_once() -> None:
    assert checked([*GOOD, mail("r1", "reminder", "m2")]) == []
    twice = [*GOOD, mail("r1", "reminder", "m2"), mail("r1", "reminder", "m2", copy="2")]
    assert any("reminder m2 to r1 under 2 Message-IDs" in v for v in checked(twice))


def test_each_message_is_its_own_mail_and_its_own_notification_sent() -> None:
    assert mail_key(mail("r1", "organiser_message", DURING)) != mail_key(
        mail("r1", "organiser_message", AFTER)
    )
    subscriber = Subscriber()
    for n, data in enumerate(
        [
            {"registration_id": "r1"},
            {"registration_id": "r1", "kind": "organiser_message"},
            {"registration_id": "r1", "kind": "organiser_message"},
        ]
    ):
        key = "registration.accepted" if n == 0 else "notification.sent"
        subscriber.messages.append((f"m{n}", key, f"d{n}", data))
    row = {"id": "r1", "status": "remote", "attendance": "remote", "stream_link_provisioned": False}
    stored = [(Outcome(email="r1@example.fi", attendance="remote"), row)]
    two = [mail("r1", "organiser_message", DURING), mail("r1", "organiser_message", AFTER)]
    figures: Counter[str] = Counter()
    violations: list[str] = []
    check_subscriber(subscriber, stored, two, figures, violations)
    assert not [v for v in violations if "different events" in v]
    # One message only: two notification.sent under two ids is one too many.
    violations = []
    check_subscriber(subscriber, stored, two[:1], figures, violations)
    assert [v for v in violations if "published as 2 different events" in v]

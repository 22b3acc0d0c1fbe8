"""Who hears a broadcast and when, without I/O: audiences, the roster, the schedule."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from ilmo_event_contracts import (
    Attendance,
    Audience,
    LocalizedText,
    NotificationKind,
    Reminder,
    Venue,
)
from ilmo_notification import broadcasting
from ilmo_notification.broadcasting import (
    ROSTER_CHUNKS,
    BroadcastState,
    Member,
    Place,
    Role,
    StreamLink,
    broadcast_key,
    change_notice,
    in_audience,
    missed,
    recipients,
    roster_chunk,
    timed_broadcasts,
    worth_scheduling,
)
from ilmo_notification.domain import KIND_ORDER, SUPERSEDED_BY, mail_id
from tests.support.notification import STARTS_AT, seminar

NOW = STARTS_AT - timedelta(days=3)
T = NOW - timedelta(days=1)


def member(
    attendance: Attendance = Attendance.IN_PERSON,
    place: Place | None = None,
    *,
    accepted_at: datetime | None = T,
    cancelled: bool = False,
) -> Member:
    return Member(
        str(uuid.uuid4()),
        attendance,
        place=place,
        accepted_at=accepted_at,
        cancelled=cancelled,
    )


SEAT = member(place=Place.SEAT)
WAITING = member(place=Place.WAITING_LIST)
UNDECIDED = member()
REMOTE = member(Attendance.REMOTE)
CANCELLED = member(place=Place.SEAT, cancelled=True)
NOT_ACCEPTED = member(Attendance.REMOTE, accepted_at=None)
EVERYONE = [SEAT, WAITING, UNDECIDED, REMOTE, CANCELLED, NOT_ACCEPTED]


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience.ALL, {SEAT, WAITING, UNDECIDED, REMOTE}),
        (Audience.ON_SITE, {SEAT}),
        (Audience.REMOTE, {REMOTE}),
        (Audience.WAITING_LIST, {WAITING}),
        (Audience.STREAM, {REMOTE, WAITING}),
    ],
)
def test_an_audience_is_its_active_members_of_that_part(
    audience: Audience, expected: set[Member]
) -> None:
    assert {m for m in EVERYONE if in_audience(m, audience)} == expected


def test_each_member_is_told_their_own_role() -> None:
    assert [m.role for m in (SEAT, WAITING, UNDECIDED, REMOTE)] == [
        Role.SEAT,
        Role.WAITING_LIST,
        Role.UNDECIDED,
        Role.REMOTE,
    ]
    link = StreamLink("https://watch.example.fi/w/x", STARTS_AT, STARTS_AT + timedelta(hours=4))
    details = broadcasting.member_details(Member("r", Attendance.REMOTE, link=link))
    assert details == {
        "role": "remote",
        "stream_link": {
            "url": link.url,
            "valid_from": link.valid_from,
            "valid_until": link.valid_until,
        },
    }
    assert broadcasting.member_details(SEAT)["stream_link"] is None


def test_nobody_accepted_after_a_broadcasts_time_gets_it() -> None:
    late = member(Attendance.REMOTE, accepted_at=NOW + timedelta(minutes=1))
    on_time = member(Attendance.REMOTE, accepted_at=NOW)
    chosen = recipients([late, on_time], Audience.ALL, accepted_by=NOW)
    assert chosen == [on_time]
    assert set(recipients([late, on_time], Audience.ALL)) == {late, on_time}


def test_a_members_chunk_is_stable_and_members_spread_over_every_chunk() -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(10_000)]
    chunks = [roster_chunk(i) for i in ids]
    assert chunks == [roster_chunk(i) for i in ids]
    assert set(chunks) == set(range(ROSTER_CHUNKS))


# ---------------------------------------------------------------- the roster's transitions


def test_only_a_newer_attendance_version_changes_attendance_and_it_resets_the_place() -> None:
    rid = "r1"
    seated = broadcasting.placed(
        broadcasting.accepted(None, rid, Attendance.IN_PERSON, T), rid, Place.SEAT, 1, T
    )
    switched = broadcasting.attendance_changed(seated, rid, Attendance.REMOTE, 2)
    assert (switched.attendance, switched.version, switched.place) == (Attendance.REMOTE, 2, None)
    # The repeat, and a late older switch, change nothing.
    assert broadcasting.attendance_changed(switched, rid, Attendance.REMOTE, 2) == switched
    assert broadcasting.attendance_changed(switched, rid, Attendance.IN_PERSON, 1) == switched
    # A seat answering the older choice arrives late: stale.
    assert broadcasting.placed(switched, rid, Place.SEAT, 1, T + timedelta(1)) == switched


def test_a_release_for_a_switch_seen_before_the_switch_leaves_it_to_the_switch() -> None:
    rid = "r7"
    seated = broadcasting.placed(
        broadcasting.accepted(None, rid, Attendance.IN_PERSON, T), rid, Place.SEAT, 1, T
    )
    later = T + timedelta(minutes=1)
    released = broadcasting.placed(seated, rid, None, 2, later, taking_away=Place.SEAT)
    assert (released.attendance, released.place) == (Attendance.IN_PERSON, None)
    remote = broadcasting.attendance_changed(released, rid, Attendance.REMOTE, 2)
    assert (remote.attendance, remote.version, remote.role) == (Attendance.REMOTE, 2, Role.REMOTE)
    # Both before the acceptance, too.
    early = broadcasting.placed(None, rid, None, 2, later, taking_away=Place.SEAT)
    switched = broadcasting.attendance_changed(early, rid, Attendance.REMOTE, 2)
    kept = broadcasting.accepted(switched, rid, Attendance.IN_PERSON, T)
    assert (kept.attendance, kept.active) == (Attendance.REMOTE, True)


def test_a_seat_for_a_switch_seen_before_the_switch_counts() -> None:
    rid = "r8"
    remote = broadcasting.accepted(None, rid, Attendance.REMOTE, T)
    seated = broadcasting.placed(remote, rid, Place.SEAT, 2, T + timedelta(minutes=1))
    switched = broadcasting.attendance_changed(seated, rid, Attendance.IN_PERSON, 2)
    assert (switched.attendance, switched.place) == (Attendance.IN_PERSON, Place.SEAT)
    assert in_audience(switched, Audience.ON_SITE)


def test_a_switch_seen_before_the_acceptance_keeps_its_attendance() -> None:
    rid = "r2"
    switched = broadcasting.attendance_changed(None, rid, Attendance.REMOTE, 2)
    assert not switched.active
    kept = broadcasting.accepted(switched, rid, Attendance.IN_PERSON, T)
    assert (kept.attendance, kept.accepted_at, kept.active) == (Attendance.REMOTE, T, True)


def test_a_seat_decided_before_the_acceptance_counts_once_accepted() -> None:
    rid = "r3"
    seated = broadcasting.placed(None, rid, Place.SEAT, 1, T)
    assert not in_audience(seated, Audience.ON_SITE)
    kept = broadcasting.accepted(seated, rid, Attendance.IN_PERSON, T)
    assert in_audience(kept, Audience.ON_SITE)


def test_of_two_answers_for_one_version_the_later_wins_in_any_order() -> None:
    rid = "r4"
    base = broadcasting.accepted(None, rid, Attendance.IN_PERSON, T)
    waitlisted_at, promoted_at = T + timedelta(minutes=1), T + timedelta(minutes=5)
    in_order = broadcasting.placed(
        broadcasting.placed(base, rid, Place.WAITING_LIST, 1, waitlisted_at),
        rid,
        Place.SEAT,
        1,
        promoted_at,
    )
    reversed_order = broadcasting.placed(
        broadcasting.placed(base, rid, Place.SEAT, 1, promoted_at),
        rid,
        Place.WAITING_LIST,
        1,
        waitlisted_at,
    )
    assert in_order.place is Place.SEAT
    assert reversed_order.place is Place.SEAT


def test_a_release_takes_away_only_the_place_it_names() -> None:
    rid = "r5"
    seated = broadcasting.placed(
        broadcasting.accepted(None, rid, Attendance.IN_PERSON, T), rid, Place.SEAT, 1, T
    )
    later = T + timedelta(minutes=1)
    assert (
        broadcasting.placed(seated, rid, None, 1, later, taking_away=Place.WAITING_LIST) == seated
    )
    released = broadcasting.placed(seated, rid, None, 1, later, taking_away=Place.SEAT)
    assert released.place is None
    assert released.role is Role.UNDECIDED


def test_a_cancelled_member_is_in_no_audience() -> None:
    rid = "r6"
    kept = broadcasting.accepted(None, rid, Attendance.REMOTE, T)
    gone = broadcasting.cancelled(kept, rid)
    assert not any(in_audience(gone, audience) for audience in Audience)
    # A late acceptance does not bring them back.
    assert not broadcasting.accepted(gone, rid, Attendance.REMOTE, T).active


# ---------------------------------------------------------------- the schedule


def test_an_events_reminders_and_thank_you_are_due_at_the_times_it_says() -> None:
    event = seminar()
    planned = {b.key: b for b in timed_broadcasts(event)}
    e = event.event_id
    assert set(planned) == {f"{e}:reminder:m1440", f"{e}:reminder:m30", f"{e}:thank_you"}
    assert planned[f"{e}:reminder:m1440"].due_at == STARTS_AT - timedelta(days=1)
    assert planned[f"{e}:reminder:m1440"].audience is Audience.ALL
    assert planned[f"{e}:reminder:m30"].due_at == STARTS_AT - timedelta(minutes=30)
    assert planned[f"{e}:reminder:m30"].audience is Audience.STREAM
    assert planned[f"{e}:thank_you"].due_at == event.ends_at + timedelta(minutes=120)


def test_reminders_move_with_the_events_time() -> None:
    event = seminar()
    moved = event.model_copy(update={"starts_at": STARTS_AT + timedelta(hours=2), "revision": 2})
    before = {b.key: b.due_at for b in timed_broadcasts(event)}
    after = {b.key: b.due_at for b in timed_broadcasts(moved)}
    key = f"{event.event_id}:reminder:m1440"
    assert after[key] - before[key] == timedelta(hours=2)


def test_no_timed_broadcasts_for_an_event_not_published_or_cancelled_or_without_them() -> None:
    event = seminar()
    assert timed_broadcasts(event.model_copy(update={"published": False})) == []
    assert timed_broadcasts(event.model_copy(update={"cancelled_at": NOW})) == []
    bare = event.model_copy(update={"reminders": (), "thank_you_minutes_after": None})
    assert timed_broadcasts(bare) == []
    one = event.model_copy(update={"reminders": (Reminder(minutes_before=2),)})
    assert [b.occasion for b in timed_broadcasts(one)] == ["m2", ""]


def test_a_reminder_whose_time_passed_or_that_happened_is_not_scheduled() -> None:
    [day_before, *_] = timed_broadcasts(seminar())
    assert worth_scheduling(day_before, day_before.due_at - timedelta(seconds=1), None)
    assert not worth_scheduling(day_before, day_before.due_at, None)
    assert not worth_scheduling(day_before, day_before.due_at + timedelta(hours=1), None)
    for state in (BroadcastState.DONE, BroadcastState.MISSED, BroadcastState.DROPPED):
        assert not worth_scheduling(day_before, NOW, state)


def test_a_reminder_found_due_after_the_start_is_missed() -> None:
    event = seminar()
    assert missed(NotificationKind.REMINDER, event, STARTS_AT)
    assert not missed(NotificationKind.REMINDER, event, STARTS_AT - timedelta(seconds=1))
    # Other broadcasts still go out late.
    assert not missed(NotificationKind.THANK_YOU, event, STARTS_AT + timedelta(days=1))
    assert not missed(NotificationKind.ORGANISER_MESSAGE, event, STARTS_AT + timedelta(days=1))


def test_a_change_notice_says_what_changed_and_what_it_was() -> None:
    previous = seminar().model_copy(update={"revision": 3})
    current = previous.model_copy(
        update={
            "revision": 4,
            "starts_at": STARTS_AT + timedelta(hours=1),
            "ends_at": previous.ends_at + timedelta(hours=1),
            "venue": Venue(
                name=LocalizedText(fi="Sali 2", sv="Sal 2", en="Hall 2"),
                address=previous.venue.address,
                arrival_instructions=previous.venue.arrival_instructions,
            ),
            "stream_url": "https://stream.example.fi/other",
        }
    )
    notice = change_notice(previous, current, NOW)
    assert notice is not None
    assert notice.key == f"{current.event_id}:event_changed:r4"
    assert (notice.due_at, notice.audience) == (NOW, Audience.ALL)
    assert notice.details["changes"] == ["time", "venue", "stream_url"]
    assert notice.details["previous"] == {
        "starts_at": STARTS_AT,
        "ends_at": previous.ends_at,
        "venue_name": {"fi": "Ministeriön juhlasali", "sv": None, "en": None},
        "venue_address": previous.venue.address,
    }


def test_no_change_notice_for_other_changes_late_revisions_unpublished_or_cancelled() -> None:
    previous = seminar()
    retitled = previous.model_copy(
        update={"revision": 2, "title": LocalizedText(fi="Uusi", sv="Ny", en="New")}
    )
    assert change_notice(previous, retitled, NOW) is None
    moved = previous.model_copy(update={"revision": 2, "starts_at": STARTS_AT + timedelta(1)})
    assert change_notice(None, moved, NOW) is None
    assert change_notice(moved, previous, NOW) is None  # out of order
    hidden = previous.model_copy(update={"published": False})
    assert change_notice(hidden, moved, NOW) is None
    assert change_notice(previous, moved.model_copy(update={"cancelled_at": NOW}), NOW) is None
    instructions = previous.model_copy(
        update={
            "revision": 2,
            "venue": previous.venue.model_copy(
                update={"arrival_instructions": LocalizedText(fi="Sivuovesta.")}
            ),
        }
    )
    notice = change_notice(previous, instructions, NOW)
    assert notice is not None
    assert notice.details["changes"] == ["arrival_instructions"]


def test_broadcast_keys_and_mail_ids() -> None:
    message = uuid.uuid4()
    assert broadcast_key("e", NotificationKind.ORGANISER_MESSAGE, str(message)) == (
        f"message:{message}"
    )
    assert broadcast_key("e", NotificationKind.EVENT_CANCELLED) == "e:event_cancelled"
    assert mail_id("r", NotificationKind.REMINDER, "m1440") == "r:reminder:m1440"


def test_every_new_kind_has_a_reading_order_and_gives_way_to_the_registrants_cancellation() -> None:
    for kind in (
        NotificationKind.REMINDER,
        NotificationKind.EVENT_CHANGED,
        NotificationKind.EVENT_CANCELLED,
        NotificationKind.ORGANISER_MESSAGE,
        NotificationKind.THANK_YOU,
    ):
        assert kind in KIND_ORDER
        assert SUPERSEDED_BY[kind] == (NotificationKind.CANCELLATION_CONFIRMED,)


def test_a_registrants_facts_in_any_order_give_the_same_member() -> None:
    """Accepted on site, waitlisted, promoted, switched to remote (the seat released), linked."""
    rid = "r9"
    link = StreamLink("https://watch.example.fi/w/y", STARTS_AT, STARTS_AT + timedelta(hours=4))
    at = [T + timedelta(minutes=i) for i in range(4)]
    facts: list[Callable[[Member | None], Member]] = [
        lambda m: broadcasting.accepted(m, rid, Attendance.IN_PERSON, at[0]),
        lambda m: broadcasting.placed(m, rid, Place.WAITING_LIST, 1, at[1]),
        lambda m: broadcasting.placed(m, rid, Place.SEAT, 1, at[2]),
        lambda m: broadcasting.attendance_changed(m, rid, Attendance.REMOTE, 2),
        lambda m: broadcasting.placed(m, rid, None, 2, at[3], taking_away=Place.SEAT),
        lambda m: broadcasting.linked(m, rid, link),
    ]
    outcomes = set()
    for order in itertools.permutations(facts):
        member: Member | None = None
        for fact in order:
            member = fact(member)
        assert member is not None
        outcomes.add((member.attendance, member.version, member.place, member.role, member.link))
    assert outcomes == {(Attendance.REMOTE, 2, None, Role.REMOTE, link)}

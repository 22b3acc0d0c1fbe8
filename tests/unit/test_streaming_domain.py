"""Who gets a personal stream link, what a cancellation does, and when a link works."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ilmo_event_contracts import Attendance, EventPublished, LocalizedText, Venue
from ilmo_streaming.domain import (
    LAST_JOIN_RESOLUTION,
    Cancelled,
    Change,
    EventStream,
    Gone,
    Joined,
    JoinOutcome,
    LinkState,
    NotOpenYet,
    Provisioned,
    Redirect,
    Revoked,
    StreamLink,
    Unknown,
    decide_join,
    entitled_on_acceptance,
    grant,
    is_web_url,
    join,
    provision,
    revoke,
    switch,
)

STARTS = datetime(2026, 9, 18, 6, 0, tzinfo=UTC)  # 9.00 in Helsinki
ENDS = STARTS + timedelta(hours=3)
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
EVENT = "ministry-seminar"
RID = uuid.UUID("0e3a3c55-91a4-4f0c-8f0e-4cf1d9b1e6a2")


def stream(**changes: object) -> EventStream:
    base = EventStream(
        event_id=EVENT,
        revision=1,
        stream_url="https://stream.example.fi/seminar",
        starts_at=STARTS,
        ends_at=ENDS,
        timezone="Europe/Helsinki",
        title=LocalizedText(fi="Seminaari"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def provisioned_link() -> StreamLink:
    change = grant(None, RID, EVENT, stream(), NOW)
    assert change is not None
    return change.link


# ------------------------------------------------------------ who gets one


def test_remote_registrants_are_entitled_at_acceptance_in_person_ones_are_not() -> None:
    assert entitled_on_acceptance(Attendance.REMOTE)
    assert not entitled_on_acceptance(Attendance.IN_PERSON)


def test_a_grant_with_the_events_details_provisions_and_announces_the_window() -> None:
    change = grant(None, RID, EVENT, stream(), NOW)
    assert change == Change(
        StreamLink(RID, EVENT, LinkState.PROVISIONED, changed_at=NOW, provisioned_at=NOW),
        (
            Provisioned(
                RID,
                EVENT,
                valid_from=STARTS - timedelta(minutes=30),
                valid_until=ENDS + timedelta(minutes=120),
            ),
        ),
    )


def test_a_grant_before_the_events_details_waits_and_announces_nothing() -> None:
    change = grant(None, RID, EVENT, None, NOW)
    assert change == Change(StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW))
    assert grant(change.link, RID, EVENT, None, NOW) is None


def test_a_pending_link_is_provisioned_when_the_details_arrive() -> None:
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    later = NOW + timedelta(minutes=5)
    change = provision(pending, stream(opens_minutes_before=60), later)
    assert change is not None
    assert change.link.state is LinkState.PROVISIONED
    assert change.link.provisioned_at == later
    [fact] = change.facts
    assert fact == Provisioned(RID, EVENT, STARTS - timedelta(hours=1), ENDS + timedelta(hours=2))
    # Or through a repeated grant, as a redelivered message would.
    assert grant(pending, RID, EVENT, stream(), later) is not None


def test_details_of_another_event_provision_nothing() -> None:
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    assert provision(pending, stream(event_id="other"), NOW) is None
    assert grant(None, RID, EVENT, stream(event_id="other"), NOW) == Change(pending)


def test_one_link_per_registration_whatever_is_repeated() -> None:
    link = provisioned_link()
    assert grant(link, RID, EVENT, stream(), NOW + timedelta(hours=1)) is None
    assert provision(link, stream(), NOW + timedelta(hours=1)) is None
    assert provision(None, stream(), NOW) is None


def test_a_waitlisted_registrant_promoted_to_a_seat_keeps_the_link() -> None:
    # seat.waitlisted grants; seat.reserved (promoted) is not a transition at all,
    # and a later grant (a redelivered waitlisting) changes nothing.
    link = provisioned_link()
    assert grant(link, RID, EVENT, stream(revision=2), NOW) is None
    assert decide_join(link, stream(), STARTS) == Redirect(stream())


# ------------------------------------------------------------- cancelling


def test_a_cancellation_revokes_a_provisioned_link_once() -> None:
    link = provisioned_link()
    later = NOW + timedelta(days=1)
    change = revoke(link, RID, EVENT, later)
    assert change is not None
    assert change.link == replace(link, state=LinkState.REVOKED, changed_at=later, revoked_at=later)
    assert change.facts == (Revoked(RID, EVENT, later),)
    assert revoke(change.link, RID, EVENT, later + timedelta(seconds=1)) is None


def test_a_cancellation_before_anything_else_leaves_a_tombstone_that_wins() -> None:
    change = revoke(None, RID, EVENT, NOW)
    assert change == Change(
        StreamLink(RID, EVENT, LinkState.REVOKED, changed_at=NOW, revoked_at=NOW)
    )
    tombstone = change.link
    assert grant(tombstone, RID, EVENT, stream(), NOW + timedelta(seconds=1)) is None
    assert grant(tombstone, RID, EVENT, None, NOW + timedelta(seconds=1)) is None
    assert provision(tombstone, stream(), NOW + timedelta(seconds=1)) is None
    assert decide_join(tombstone, stream(), STARTS) == Unknown()


def test_a_cancellation_of_a_pending_link_announces_nothing_and_stops_it() -> None:
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    change = revoke(pending, RID, EVENT, NOW)
    assert change is not None
    assert change.facts == ()
    assert change.link.state is LinkState.REVOKED
    assert provision(change.link, stream(), NOW) is None


# ------------------------------------------------------------- the window


def test_the_window_defaults_to_half_an_hour_before_and_two_hours_after() -> None:
    assert stream().opens_at == datetime(2026, 9, 18, 5, 30, tzinfo=UTC)
    assert stream().closes_at == datetime(2026, 9, 18, 11, 0, tzinfo=UTC)
    assert stream(opens_minutes_before=0, closes_minutes_after=0).opens_at == STARTS
    assert stream(opens_minutes_before=0, closes_minutes_after=0).closes_at == ENDS


def test_the_window_comes_from_the_events_details() -> None:
    details = EventPublished(
        event_id=EVENT,
        revision=3,
        title=LocalizedText(fi="Seminaari"),
        starts_at=STARTS,
        ends_at=ENDS,
        timezone="Europe/Helsinki",
        venue=Venue(name="Auditorio", address="Katu 1"),
        in_person_capacity=10,
        registration_opens_at=STARTS - timedelta(days=30),
        registration_closes_at=STARTS - timedelta(days=7),
        stream_url="https://stream.example.fi/x",
        stream_opens_minutes_before=15,
        stream_closes_minutes_after=45,
        published=True,
    )
    kept = EventStream.from_details(details)
    assert (kept.revision, kept.stream_url, kept.timezone) == (
        3,
        details.stream_url,
        details.timezone,
    )
    assert kept.opens_at == STARTS - timedelta(minutes=15)
    assert kept.closes_at == ENDS + timedelta(minutes=45)


@pytest.mark.parametrize(
    ("moment", "outcome"),
    [
        (STARTS - timedelta(days=3), JoinOutcome.NOT_OPEN_YET),
        (STARTS - timedelta(minutes=30, microseconds=1), JoinOutcome.NOT_OPEN_YET),
        (STARTS - timedelta(minutes=30), JoinOutcome.REDIRECTED),
        (STARTS, JoinOutcome.REDIRECTED),
        (ENDS + timedelta(minutes=120, microseconds=-1), JoinOutcome.REDIRECTED),
        (ENDS + timedelta(minutes=120), JoinOutcome.ENDED),
        (ENDS + timedelta(days=30), JoinOutcome.ENDED),
    ],
)
def test_a_link_works_from_opening_up_to_but_not_including_closing(
    moment: datetime, outcome: JoinOutcome
) -> None:
    assert decide_join(provisioned_link(), stream(), moment).outcome is outcome


def test_before_opening_the_wait_is_given_in_whole_seconds_rounded_up() -> None:
    opens = stream().opens_at
    decision = decide_join(
        provisioned_link(), stream(), opens - timedelta(seconds=90, milliseconds=200)
    )
    assert isinstance(decision, NotOpenYet)
    assert decision.retry_after_seconds == 91
    almost = decide_join(provisioned_link(), stream(), opens - timedelta(microseconds=1))
    assert isinstance(almost, NotOpenYet)
    assert almost.retry_after_seconds == 1
    assert decide_join(provisioned_link(), stream(), opens - timedelta(hours=2)) == NotOpenYet(
        stream(), timedelta(hours=2)
    )


def test_event_updates_apply_to_links_already_provisioned() -> None:
    link = provisioned_link()
    moved = stream(
        revision=2,
        starts_at=STARTS + timedelta(days=1),
        ends_at=ENDS + timedelta(days=1),
        stream_url="https://stream.example.fi/new",
    )
    assert decide_join(link, moved, STARTS).outcome is JoinOutcome.NOT_OPEN_YET
    assert decide_join(link, moved, STARTS + timedelta(days=1)) == Redirect(moved)
    assert Redirect(moved).url == "https://stream.example.fi/new"


def test_only_newer_revisions_supersede() -> None:
    assert stream(revision=1).supersedes(None)
    assert stream(revision=2).supersedes(stream(revision=1))
    assert not stream(revision=2).supersedes(stream(revision=2))
    assert not stream(revision=1).supersedes(stream(revision=2))


# ---------------------------------------------------------------- joining


def test_revoked_links_are_gone_and_unknown_ones_are_not_found() -> None:
    link = provisioned_link()
    change = revoke(link, RID, EVENT, NOW)
    assert change is not None
    assert decide_join(change.link, stream(), STARTS) == Gone(EVENT)
    assert decide_join(None, stream(), STARTS) == Unknown()
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    assert decide_join(pending, stream(), STARTS) == Unknown()
    # Even out of the window a revoked link says so.
    assert decide_join(change.link, stream(), NOW).outcome is JoinOutcome.REVOKED


def test_a_link_is_never_sent_anywhere_but_the_web() -> None:
    link = provisioned_link()
    for url in ("javascript:alert(1)", "ftp://stream.example.fi/", "https://", "/relative"):
        assert decide_join(link, stream(stream_url=url), STARTS) == Unknown(EVENT)
    assert decide_join(link, None, STARTS) == Unknown(EVENT)
    assert decide_join(link, stream(event_id="other"), STARTS) == Unknown(EVENT)
    assert is_web_url("https://stream.example.fi/a?b=c")
    assert is_web_url("http://127.0.0.1:9000/")


# ------------------------------------------------------- switching attendance

LATER = NOW + timedelta(minutes=5)


def test_switching_to_remote_without_a_link_provisions_one_for_that_version() -> None:
    change = switch(None, RID, EVENT, Attendance.REMOTE, 2, stream(), NOW)

    assert change is not None
    assert change.link.state is LinkState.PROVISIONED
    assert change.link.attendance_version == 2
    assert [fact.attendance_version for fact in change.facts if isinstance(fact, Provisioned)] == [
        2
    ]


def test_switching_to_remote_announces_a_kept_link_again_with_the_new_version() -> None:
    link = provisioned_link()

    change = switch(link, RID, EVENT, Attendance.REMOTE, 3, stream(), LATER)

    assert change is not None
    assert change.link.state is LinkState.PROVISIONED
    assert change.link.provisioned_at == link.provisioned_at  # the same link, kept
    assert change.facts == (
        Provisioned(RID, EVENT, stream().opens_at, stream().closes_at, attendance_version=3),
    )


def test_switching_to_in_person_keeps_the_link_and_remembers_the_version() -> None:
    link = provisioned_link()

    change = switch(link, RID, EVENT, Attendance.IN_PERSON, 2, stream(), LATER)

    assert change == Change(replace(link, attendance_version=2))
    assert switch(None, RID, EVENT, Attendance.IN_PERSON, 2, stream(), LATER) is None


def test_an_older_or_repeated_switch_changes_nothing() -> None:
    link = replace(provisioned_link(), attendance_version=4)

    assert switch(link, RID, EVENT, Attendance.REMOTE, 4, stream(), LATER) is None
    assert switch(link, RID, EVENT, Attendance.REMOTE, 2, stream(), LATER) is None


def test_nothing_follows_a_revocation() -> None:
    revoked = revoke(provisioned_link(), RID, EVENT, LATER)
    assert revoked is not None

    assert switch(revoked.link, RID, EVENT, Attendance.REMOTE, 2, stream(), LATER) is None


def test_a_switch_before_the_details_waits_and_is_announced_with_its_version() -> None:
    change = switch(None, RID, EVENT, Attendance.REMOTE, 2, None, NOW)
    assert change is not None
    assert change.link.state is LinkState.PENDING

    provisioned = provision(change.link, stream(), LATER)

    assert provisioned is not None
    assert [
        fact.attendance_version for fact in provisioned.facts if isinstance(fact, Provisioned)
    ] == [2]


def test_a_waiting_list_place_keeps_an_existing_link_without_a_new_announcement() -> None:
    link = replace(provisioned_link(), attendance_version=2)

    assert grant(link, RID, EVENT, stream(), LATER, attendance_version=3) is None


# ------------------------------------------------------------ a cancelled event


def test_a_cancelled_event_answers_cancelled_to_every_link_that_was_issued() -> None:
    link = provisioned_link()
    cancelled = stream(revision=2, cancelled=True)
    inside = STARTS + timedelta(minutes=5)
    assert decide_join(link, cancelled, inside) == Cancelled(cancelled)
    assert decide_join(link, cancelled, inside).outcome is JoinOutcome.CANCELLED
    revoked = revoke(link, RID, EVENT, NOW)
    assert revoked is not None
    assert decide_join(revoked.link, cancelled, inside) == Cancelled(cancelled)
    # A link never issued stays unknown: its owner never got it.
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    assert decide_join(pending, cancelled, inside) == Unknown()


def test_no_link_is_provisioned_or_announced_for_a_cancelled_event() -> None:
    cancelled = stream(revision=2, cancelled=True)
    assert grant(None, RID, EVENT, cancelled, NOW) is None
    pending = StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW)
    assert provision(pending, cancelled, NOW) is None
    # A switch to remote keeps the version, announces nothing.
    change = switch(provisioned_link(), RID, EVENT, Attendance.REMOTE, 2, cancelled, NOW)
    assert change is not None
    assert (change.facts, change.link.attendance_version) == ((), 2)


def test_a_later_revision_never_undoes_a_cancellation() -> None:
    cancelled = stream(revision=2, cancelled=True)
    assert stream(revision=3).after(cancelled).cancelled
    assert not stream(revision=3).after(stream(revision=2)).cancelled
    assert stream(revision=1).after(None) == stream(revision=1)


# ------------------------------------------------------------ attendance


def test_the_first_join_is_recorded_and_announced_once() -> None:
    link = provisioned_link()
    at = STARTS - timedelta(minutes=10)
    first = join(link, at)
    assert first is not None
    assert (first.link.first_joined_at, first.link.last_joined_at) == (at, at)
    assert first.facts == (Joined(RID, EVENT, at),)
    # Joining again within the resolution records nothing; later, only the last join moves.
    assert join(first.link, at + LAST_JOIN_RESOLUTION - timedelta(seconds=1)) is None
    later = at + LAST_JOIN_RESOLUTION
    again = join(first.link, later)
    assert again is not None
    assert (again.link.first_joined_at, again.link.last_joined_at, again.facts) == (at, later, ())


def test_only_a_provisioned_link_can_be_joined() -> None:
    assert join(None, NOW) is None
    assert join(StreamLink(RID, EVENT, LinkState.PENDING, changed_at=NOW), NOW) is None
    revoked = revoke(provisioned_link(), RID, EVENT, NOW)
    assert revoked is not None
    assert join(revoked.link, NOW) is None

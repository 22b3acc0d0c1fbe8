"""The seat inventory as a stored document, and decisions as published events (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ilmo_capacity import domain
from ilmo_capacity.domain import SeatInventory
from ilmo_capacity.publication import decision_kind, seat_events
from ilmo_capacity.storage import from_document, snapshot_id, to_document
from ilmo_event_contracts import SeatReleased, SeatReserved, SeatWaitlisted, WaitlistLeft

AT = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def test_the_domain_state_survives_the_round_trip_through_a_document() -> None:
    seats = SeatInventory("seminar", capacity=2, revision=3)
    seats.holders, seats.waiting = ["a", "b"], ["c"]
    seats.pending, seats.cancelled = ["f"], {"d", "e"}
    document = to_document(seats)
    assert document["cancelled"] == ["d", "e"]
    assert from_document(document) == seats
    assert from_document({"event_id": "new"}) == SeatInventory("new")


def test_snapshot_ids_are_distinct_per_event_and_version() -> None:
    assert snapshot_id("seminar", 7) == "seminar@000000000007"
    assert snapshot_id("a@000000000001", 2) != snapshot_id("a", 1)


def test_decisions_become_the_seat_events_of_the_contracts() -> None:
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    events = seat_events(
        "seminar",
        [
            domain.SeatReserved(a),
            domain.SeatReserved(b, promoted=True),
            domain.SeatWaitlisted(c, 3),
            domain.SeatReleased(a),
            domain.WaitlistLeft(d),
        ],
        AT,
    )
    assert events == [
        SeatReserved(
            registration_id=uuid.UUID(a), event_id="seminar", promoted=False, reserved_at=AT
        ),
        SeatReserved(
            registration_id=uuid.UUID(b), event_id="seminar", promoted=True, reserved_at=AT
        ),
        SeatWaitlisted(
            registration_id=uuid.UUID(c), event_id="seminar", position=3, waitlisted_at=AT
        ),
        SeatReleased(registration_id=uuid.UUID(a), event_id="seminar", released_at=AT),
        WaitlistLeft(registration_id=uuid.UUID(d), event_id="seminar", left_at=AT),
    ]
    reserved = (domain.SeatReserved(a), domain.SeatReserved(a, promoted=True))
    assert [decision_kind(x) for x in reserved] == [
        "seat.reserved",
        "seat.reserved.promoted",
    ]

"""Prometheus metrics of the capacity service (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SEAT_DECISIONS = Counter(
    "ilmo_capacity_seat_decisions_total",
    "Seat decisions stored, by kind (seat.reserved, seat.reserved.promoted, "
    "seat.waitlisted, seat.released, waitlist.left).",
    ["kind"],
)
WRITE_CONFLICTS = Counter(
    "ilmo_capacity_write_conflicts_total",
    "Seat decisions that lost a write race and were decided again from the newer state.",
)
DUPLICATE_MESSAGES = Counter(
    "ilmo_capacity_duplicate_messages_total",
    "Messages whose envelope id had already been applied (redeliveries).",
)
SEAT_CAPACITY = Gauge(
    "ilmo_event_seat_capacity",
    "Seats of the event in force now, per event not yet over.",
    ["event"],
)
SEATS_TAKEN = Gauge("ilmo_event_seats_taken", "Seats held, per event not yet over.", ["event"])
WAITING_LIST = Gauge(
    "ilmo_event_waiting_list",
    "Registrations on the waiting list, per event not yet over.",
    ["event"],
)
SEATS_OVERSOLD = Gauge(
    "ilmo_event_seats_oversold",
    "Seats granted beyond the capacity in force when they were granted, per event, since this "
    "process started; must always be 0 (a capacity lowered later does not count).",
    ["event"],
)

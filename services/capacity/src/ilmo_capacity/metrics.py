"""Prometheus metrics of the capacity service (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

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

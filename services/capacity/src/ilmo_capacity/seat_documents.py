"""The stored forms of an event's seats: heads, placements, tickets, and the old full snapshot.

A head (``Head``, one document per event and version) holds the event's
terms and counts; placements and tickets (``placements``) hold where each
registration stands. Ids are made so that a record is found by ``_id``
alone, the only lookup FerretDB v1 answers from an index:

- a head: ``<event>@<version, 12 digits>``;
- a placement: ``<event>/<registration>/<number>``;
- a ticket: ``<event>/<queue>:<number>``, which no placement id can equal
  (a placement id ends in digits after its last ``/``).

Before heads, every snapshot held the whole state (``to_document``); such a
snapshot is still read (``legacy_records``), so that an upgrade finds every
event where it left it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ilmo_capacity.domain import SeatInventory
from ilmo_capacity.placements import Counts, Place, Placement, Ticket
from ilmo_event_contracts.events import PROMOTION_CUTOFF_MINUTES
from ilmo_shared.clock import to_millisecond

# What a head document holds besides its id, version, time, changes and outbox.
COUNT_FIELDS = (
    "reserved",
    "waiting",
    "pending",
    "line_first",
    "line_next",
    "pending_first",
    "pending_next",
)


@dataclass(frozen=True)
class Head:
    """An event's seat terms and counts at one version: all a decision reads of the event."""

    event_id: str
    version: int = 0
    capacity: int | None = None
    revision: int = 0
    starts_at: datetime | None = None
    promotion_cutoff_minutes: int = PROMOTION_CUTOFF_MINUTES
    event_cancelled: bool = False
    counts: Counts = field(default_factory=Counts)
    applied: tuple[str, ...] = ()

    def terms(self) -> SeatInventory:
        """The terms as an inventory whose lists are still empty (a ledger fills them in)."""
        return SeatInventory(
            self.event_id,
            capacity=self.capacity,
            revision=self.revision,
            starts_at=self.starts_at,
            promotion_cutoff_minutes=self.promotion_cutoff_minutes,
            event_cancelled=self.event_cancelled,
        )

    def state(self) -> tuple[object, ...]:
        """All but the version and the applied messages: whether a decision changed anything."""
        return (
            self.capacity,
            self.revision,
            self.starts_at,
            self.promotion_cutoff_minutes,
            self.event_cancelled,
            self.counts,
        )


def after(inventory: SeatInventory, counts: Counts, version: int, applied: tuple[str, ...]) -> Head:
    """The head once ``inventory``'s terms and ``counts`` are stored as ``version``."""
    return Head(
        inventory.event_id,
        version=version,
        capacity=inventory.capacity,
        revision=inventory.revision,
        starts_at=inventory.starts_at,
        promotion_cutoff_minutes=inventory.promotion_cutoff_minutes,
        event_cancelled=inventory.event_cancelled,
        counts=counts,
        applied=applied,
    )


def snapshot_id(event_id: str, version: int) -> str:
    """One id per (event, version); the fixed-width version keeps it unambiguous."""
    return f"{event_id}@{version:012d}"


def placement_id(event_id: str, registration_id: str, number: int) -> str:
    return f"{event_id}/{registration_id}/{number}"


def ticket_id(event_id: str, queue: Place, number: int) -> str:
    return f"{event_id}/{queue}:{number}"


def head_document(head: Head) -> dict[str, Any]:
    counts = head.counts
    return {
        "event_id": head.event_id,
        "version": head.version,
        "capacity": head.capacity,
        "revision": head.revision,
        "starts_at": None if head.starts_at is None else to_millisecond(head.starts_at),
        "promotion_cutoff_minutes": head.promotion_cutoff_minutes,
        "event_cancelled": head.event_cancelled,
        **{name: getattr(counts, name) for name in COUNT_FIELDS},
        "applied": list(head.applied),
    }


def head_from_document(document: Mapping[str, Any]) -> Head:
    capacity = document.get("capacity")
    return Head(
        str(document["event_id"]),
        version=int(document["version"]),
        capacity=None if capacity is None else int(capacity),
        revision=int(document.get("revision", 0)),
        starts_at=document.get("starts_at"),
        promotion_cutoff_minutes=int(
            document.get("promotion_cutoff_minutes", PROMOTION_CUTOFF_MINUTES)
        ),
        event_cancelled=bool(document.get("event_cancelled", False)),
        counts=Counts(**{name: int(document[name]) for name in COUNT_FIELDS}),
        applied=tuple(str(i) for i in document.get("applied", [])),
    )


def placement_document(event_id: str, placement: Placement) -> dict[str, Any]:
    return {
        "_id": placement_id(event_id, placement.registration_id, placement.number),
        "event_id": event_id,
        "registration_id": placement.registration_id,
        "number": placement.number,
        "place": str(placement.place),
        "ticket": placement.ticket,
        "attendance_version": placement.attendance_version,
        "stored_by": list(placement.stored_by),
    }


def placement_from_document(document: Mapping[str, Any]) -> Placement:
    ticket, version = document.get("ticket"), document.get("attendance_version")
    stored_by = document.get("stored_by") or (0, 0)
    return Placement(
        str(document["registration_id"]),
        number=int(document["number"]),
        place=Place(document["place"]),
        ticket=None if ticket is None else int(ticket),
        attendance_version=None if version is None else int(version),
        stored_by=(int(stored_by[0]), int(stored_by[1])),
    )


def ticket_document(event_id: str, ticket: Ticket) -> dict[str, Any]:
    return {
        "_id": ticket_id(event_id, ticket.queue, ticket.number),
        "event_id": event_id,
        "queue": str(ticket.queue),
        "number": ticket.number,
        "registration_id": ticket.registration_id,
    }


def ticket_from_document(document: Mapping[str, Any]) -> Ticket:
    return Ticket(
        Place(document["queue"]), int(document["number"]), str(document["registration_id"])
    )


# ---------------------------------------------------------------- the full form


def to_document(inventory: SeatInventory) -> dict[str, Any]:
    """The domain state as one document: the snapshots before heads (and ``load``'s answer)."""
    return {
        "event_id": inventory.event_id,
        "capacity": inventory.capacity,
        "revision": inventory.revision,
        "holders": list(inventory.holders),
        "waiting": list(inventory.waiting),
        "pending": list(inventory.pending),
        "cancelled": sorted(inventory.cancelled),
        # Only registrations that switched attendance; a snapshot written before
        # switching existed has none, and every registration in it is at version 1.
        "versions": dict(sorted(inventory.versions.items())),
        # What the promotion cutoff needs; a snapshot written before it existed
        # has none (no start known: promotion open, as it was then).
        "starts_at": None if inventory.starts_at is None else to_millisecond(inventory.starts_at),
        "promotion_cutoff_minutes": inventory.promotion_cutoff_minutes,
        "event_cancelled": inventory.event_cancelled,
    }


def from_document(document: Mapping[str, Any]) -> SeatInventory:
    capacity = document.get("capacity")
    return SeatInventory(
        event_id=str(document["event_id"]),
        capacity=None if capacity is None else int(capacity),
        revision=int(document.get("revision", 0)),
        holders=[str(r) for r in document.get("holders", [])],
        waiting=[str(r) for r in document.get("waiting", [])],
        pending=[str(r) for r in document.get("pending", [])],
        cancelled={str(r) for r in document.get("cancelled", [])},
        versions={str(r): int(v) for r, v in (document.get("versions") or {}).items()},
        starts_at=document.get("starts_at"),
        promotion_cutoff_minutes=int(
            document.get("promotion_cutoff_minutes", PROMOTION_CUTOFF_MINUTES)
        ),
        event_cancelled=bool(document.get("event_cancelled", False)),
    )


def legacy_records(document: Mapping[str, Any]) -> tuple[Head, list[dict[str, Any]]]:
    """A whole-state snapshot as a head and the records that hold its lists.

    Every registration gets placement 1 and every queue member a ticket in
    order, so the records are the same however often this runs: storing them
    again only meets duplicate ids.
    """
    inventory = from_document(document)
    version = int(document["version"])
    event_id = inventory.event_id
    placements: dict[str, Placement] = {}
    tickets: list[Ticket] = []
    for index, registration_id in enumerate(inventory.holders):
        placements[registration_id] = Placement(
            registration_id, 1, Place.SEAT, stored_by=(version, index)
        )
    for queue, members in ((Place.LINE, inventory.waiting), (Place.PENDING, inventory.pending)):
        for number, registration_id in enumerate(members, start=1):
            placements[registration_id] = Placement(registration_id, 1, queue, number)
            tickets.append(Ticket(queue, number, registration_id))
    for registration_id in inventory.cancelled:
        placements[registration_id] = Placement(registration_id, 1, Place.CANCELLED)
    for registration_id, attendance_version in inventory.versions.items():
        placement = placements.get(registration_id, Placement(registration_id, 1))
        placements[registration_id] = Placement(
            registration_id,
            1,
            placement.place,
            placement.ticket,
            attendance_version,
            placement.stored_by,
        )
    counts = Counts(
        reserved=len(inventory.holders),
        waiting=len(inventory.waiting),
        pending=len(inventory.pending),
        line_next=len(inventory.waiting) + 1,
        pending_next=len(inventory.pending) + 1,
    )
    head = after(inventory, counts, version, tuple(str(i) for i in document.get("applied", [])))
    records = [placement_document(event_id, p) for p in placements.values()]
    records += [ticket_document(event_id, t) for t in tickets]
    return head, records

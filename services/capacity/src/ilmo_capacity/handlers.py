"""Message handlers of the capacity service: plain functions given their dependencies.

Each handler turns one incoming event into one operation on the event's seat
inventory, stored with its outgoing events in one write (see ``storage``),
then wakes the outbox relay. Only in-person registrations concern seats;
remote ones (and their cancellations) are not capacity's business.
"""

from __future__ import annotations

import structlog

from ilmo_capacity.metrics import DUPLICATE_MESSAGES, SEAT_DECISIONS
from ilmo_capacity.publication import decision_kind
from ilmo_capacity.storage import COLLECTION, Outcome, SeatInventoryStore, snapshot_id
from ilmo_event_contracts import (
    Attendance,
    Envelope,
    EventDetails,
    RegistrationAccepted,
    RegistrationCancelled,
)
from ilmo_shared.outbox import NotifyRelay

log = structlog.get_logger(__name__)


async def event_details_changed(
    store: SeatInventoryStore, notify: NotifyRelay, event: EventDetails, envelope: Envelope
) -> None:
    """``event.published`` / ``event.updated``: the in-person capacity, at a revision."""
    capacity, revision = event.in_person_capacity, event.revision
    outcome = await store.decide(
        event.event_id,
        lambda inventory: inventory.apply_details(capacity, revision),
        message_id=envelope.id,
    )
    _record(outcome, notify)
    if outcome.written:
        stored = outcome.stored.inventory
        log.info(
            "seat_capacity_set",
            event_id=event.event_id,
            revision=revision,
            capacity=capacity,
            reserved=stored.reserved,
            waitlisted=stored.waitlisted,
            decisions=len(outcome.decisions),
        )


async def registration_accepted(
    store: SeatInventoryStore, notify: NotifyRelay, event: RegistrationAccepted, envelope: Envelope
) -> None:
    """An in-person registration asks for a seat."""
    if event.attendance is not Attendance.IN_PERSON:
        return
    registration_id = str(event.registration_id)
    outcome = await store.decide(
        event.event_id,
        lambda inventory: inventory.request_seat(registration_id),
        message_id=envelope.id,
    )
    _record(outcome, notify)


async def registration_cancelled(
    store: SeatInventoryStore, notify: NotifyRelay, event: RegistrationCancelled, envelope: Envelope
) -> None:
    """An in-person registration gives its seat or its place in line back."""
    if event.attendance is not Attendance.IN_PERSON:
        return
    registration_id = str(event.registration_id)
    outcome = await store.decide(
        event.event_id,
        lambda inventory: inventory.cancel(registration_id),
        message_id=envelope.id,
    )
    _record(outcome, notify)


def _record(outcome: Outcome, notify: NotifyRelay) -> None:
    if outcome.duplicate:
        DUPLICATE_MESSAGES.inc()
    for decision in outcome.decisions:
        SEAT_DECISIONS.labels(decision_kind(decision)).inc()
    if outcome.decisions:
        notify(COLLECTION, snapshot_id(outcome.stored.inventory.event_id, outcome.stored.version))
    # Ids and counts only; per message, so below INFO.
    log.debug(
        "seat_decisions_stored" if outcome.written else "seat_message_changed_nothing",
        event_id=outcome.stored.inventory.event_id,
        version=outcome.stored.version,
        decisions=[(decision_kind(d), d.registration_id) for d in outcome.decisions],
        duplicate=outcome.duplicate,
        conflicts=outcome.conflicts,
    )

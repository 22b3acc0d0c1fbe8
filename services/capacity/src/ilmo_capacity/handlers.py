"""Message handlers of the capacity service: plain functions given their dependencies."""

from __future__ import annotations

from ilmo_capacity.storage import SeatRequestStore
from ilmo_shared.contracts import Envelope, RegistrationAccepted


async def registration_accepted(
    store: SeatRequestStore, event: RegistrationAccepted, envelope: Envelope
) -> None:
    """Note the registration; seat decisions are built on this record."""
    await store.record(event, envelope.id)

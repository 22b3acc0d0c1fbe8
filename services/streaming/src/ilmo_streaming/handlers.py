"""Message handlers of the streaming service."""

from __future__ import annotations

from ilmo_shared.contracts import Envelope, RegistrationAccepted
from ilmo_streaming.storage import ViewerStore


async def registration_accepted(
    viewers: ViewerStore, event: RegistrationAccepted, _envelope: Envelope
) -> None:
    """Enrol the registrant as a possible viewer; links are provisioned from this record."""
    await viewers.enrol(event)

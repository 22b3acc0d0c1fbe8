"""Message handlers of the notification service."""

from __future__ import annotations

from ilmo_notification.storage import ContactStore
from ilmo_shared.contracts import Envelope, RegistrationAccepted


async def registration_accepted(
    contacts: ContactStore, event: RegistrationAccepted, _envelope: Envelope
) -> None:
    """Remember how to reach the registrant; the emails themselves build on this."""
    await contacts.remember(event)

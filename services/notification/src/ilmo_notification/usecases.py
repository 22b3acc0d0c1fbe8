"""What the service does with what arrives: keep the facts a mail needs, record the mails asked for.

None of this talks to the mail server: each use case stores its facts with
inserts on unique keys, then wakes the dispatcher (``MailDispatcher.wake``),
which sends. So a message is done with as soon as its facts are stored, and a
redelivered or duplicated one finds them already there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from ilmo_event_contracts import (
    EventDetails,
    NotificationKind,
    RegistrationAccepted,
    RegistrationDetailsChanged,
    RegistrationErased,
    RegistrationExpired,
    RegistrationRepeated,
    RegistrationSubmitted,
)
from ilmo_notification.domain import ContactCorrection, MailRequest, occasion_of
from ilmo_notification.metrics import MAIL_INTENTS
from ilmo_notification.storage import NotificationStores

# Tells the dispatcher to look for due mails now.
Wake = Callable[[], None]

log = structlog.get_logger(__name__)


class ContactNotYetKeptError(RuntimeError):
    """A correction arrived before the registration it corrects; its message is retried.

    The registration's own event is behind it (being retried itself); once it
    has been kept, the correction applies.
    """


class Notifications:
    """The use cases of the messages that ask for mails or carry what a mail says."""

    def __init__(self, stores: NotificationStores, wake: Wake) -> None:
        self._stores = stores
        self._wake = wake

    async def event_details_changed(self, details: EventDetails) -> None:
        """Keep the revision (mails use the latest); mails that waited for it are due."""
        if await self._stores.event_details.remember(details):
            log.info("event_details_stored", event_id=details.event_id, revision=details.revision)
            if await self._stores.mails.wake_for_event(details.event_id):
                self._wake()

    async def registration_accepted(
        self, accepted: RegistrationAccepted, *, cause: str, correlation_id: str | None
    ) -> None:
        """Keep the contact (this service's own copy), then ask for the confirmation of receipt.

        A registrant who confirmed their address gets no receipt: the
        "confirm your address" mail was their first, and the page they
        confirmed on said the rest.
        """
        registration_id = str(accepted.registration_id)
        if await self._stores.contacts.remember(accepted):
            log.info("contact_stored", registration_id=registration_id, event_id=accepted.event_id)
        if not accepted.email_confirmed:
            receipt = MailRequest(
                registration_id,
                accepted.event_id,
                NotificationKind.REGISTRATION_RECEIVED,
                {"attendance": accepted.attendance.value},
            )
            await self.ask_for(receipt, cause=cause, correlation_id=correlation_id)
        # Mails asked for before the contact arrived (a seat decided first).
        if await self._stores.mails.wake_for_registration(registration_id):
            self._wake()

    async def registration_submitted(
        self, submitted: RegistrationSubmitted, *, cause: str, correlation_id: str | None
    ) -> None:
        """Keep the contact, then ask for the "confirm your address" mail."""
        registration_id = str(submitted.registration_id)
        if await self._stores.contacts.remember(submitted):
            log.info("contact_stored", registration_id=registration_id, event_id=submitted.event_id)
        confirm = MailRequest(
            registration_id,
            submitted.event_id,
            NotificationKind.CONFIRM_ADDRESS,
            {"expires_at": submitted.expires_at},
        )
        await self.ask_for(confirm, cause=cause, correlation_id=correlation_id)

    async def registration_repeated(
        self, repeated: RegistrationRepeated, *, cause: str, correlation_id: str | None
    ) -> None:
        """Write to the address again: the confirmation while pending, else "already registered".

        One mail per repeat (its ``occasion``); the registration service lets
        at most one repeat per interval through, which bounds what an
        address can be sent.
        """
        if repeated.awaiting_confirmation:
            kind = NotificationKind.CONFIRM_ADDRESS
            details = {"expires_at": repeated.expires_at, "repeat": True}
        else:
            kind, details = NotificationKind.ALREADY_REGISTERED, {}
        request = MailRequest(
            str(repeated.registration_id),
            repeated.event_id,
            kind,
            details,
            occasion_of(repeated.repeated_at),
        )
        await self.ask_for(request, cause=cause, correlation_id=correlation_id)

    async def registration_details_changed(self, changed: RegistrationDetailsChanged) -> None:
        """Keep the registrant's corrected names and language: later mails use them.

        Only a correction newer than the copy changes it, so repeats and late
        arrivals do nothing; an erased contact stays erased. A correction of
        a contact not kept yet raises ``ContactNotYetKeptError``, so that it
        is retried after the registration arrives.
        """
        registration_id = str(changed.registration_id)
        outcome = await self._stores.contacts.correct(changed)
        log.info(
            "contact_corrected",
            registration_id=registration_id,
            details_version=changed.details_version,
            outcome=outcome.value,
        )
        if outcome is ContactCorrection.NOT_KEPT:
            raise ContactNotYetKeptError(registration_id)

    async def registration_expired(self, expired: RegistrationExpired) -> None:
        """Forget the contact and the mails of a registration nobody confirmed in time."""
        registration_id = str(expired.registration_id)
        await self._stores.contacts.forget(registration_id)
        removed = await self._stores.mails.forget(registration_id)
        log.info("expired_registration_forgotten", registration_id=registration_id, mails=removed)

    async def ask_for(
        self, request: MailRequest, *, cause: str, correlation_id: str | None
    ) -> None:
        """Record that a mail is to be sent (once per registration and kind, whatever repeats).

        ``cause`` is the id of the message that asked for it; its
        ``correlation_id`` goes with the mail into its logs and its
        ``notification.*`` event.
        """
        if await self._stores.contacts.is_erased(request.registration_id):
            # Asked for by a message that arrived after the erasure: never sent.
            log.debug(
                "mail_for_erased_registration_dropped",
                registration_id=request.registration_id,
                kind=request.kind.value,
                envelope_id=cause,
            )
            return
        recorded = await self._stores.mails.record_intent(
            request, cause=cause, correlation_id=correlation_id
        )
        MAIL_INTENTS.labels(request.kind.value, "recorded" if recorded else "duplicate").inc()
        log.debug(
            "mail_intent_recorded" if recorded else "mail_intent_already_recorded",
            registration_id=request.registration_id,
            kind=request.kind.value,
            envelope_id=cause,
        )
        if recorded:
            self._wake()

    async def registration_erased(self, erased: RegistrationErased, now: datetime) -> None:
        """Erase this service's copies: the contact goes, mails keep only counts and states.

        The contact's tombstone is written first, so a mail asked for from
        now on is dropped (``ask_for``) and a late ``registration.accepted``
        stores nothing; then the registration's mails are scrubbed and the
        open ones closed unsent.
        """
        registration_id = str(erased.registration_id)
        await self._stores.contacts.erase(registration_id, erased.event_id, now)
        mails = await self._stores.mails.erase_for(registration_id, now)
        log.info(
            "registration_data_erased",
            registration_id=registration_id,
            event_id=erased.event_id,
            mails=mails,
        )

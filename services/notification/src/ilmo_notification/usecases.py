"""What the service does with what arrives: keep the facts a mail needs, record the mails asked for.

None of this talks to the mail server: each use case stores its facts with
inserts on unique keys, then wakes the dispatcher (``MailDispatcher.wake``),
which sends. So a message is done with as soon as its facts are stored, and a
redelivered or duplicated one finds them already there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog

from ilmo_event_contracts import (
    Audience,
    EventDetails,
    MessageRequested,
    NotificationKind,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    RegistrationDetailsChanged,
    RegistrationErased,
    RegistrationExpired,
    RegistrationManageLinkRequested,
    RegistrationRepeated,
    RegistrationSubmitted,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
    WaitlistLeft,
)
from ilmo_event_contracts.events import RegistrationEvent
from ilmo_notification import broadcasting
from ilmo_notification.broadcasting import Broadcast, BroadcastState, Place, StreamLink
from ilmo_notification.domain import (
    OPEN_STATES,
    ContactCorrection,
    MailRequest,
    MailState,
    mail_id,
    occasion_of,
)
from ilmo_notification.metrics import BROADCASTS, MAIL_INTENTS
from ilmo_notification.storage import NotificationStores
from ilmo_shared.clock import Clock, utc_now

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

    async def keep_contact(self, fact: RegistrationAccepted | RegistrationSubmitted) -> bool:
        """Keep how to reach the registrant (this service's own copy); True if kept just now.

        A contact kept just now was not erased: an erasure leaves a tombstone
        under the same ``_id``, which the insert would have found. Callers
        pass that on (``contact_kept``) and spare a read per mail asked for.
        """
        kept = await self._stores.contacts.remember(fact)
        if kept:
            log.info(
                "contact_stored", registration_id=str(fact.registration_id), event_id=fact.event_id
            )
        return kept

    async def registration_accepted(
        self,
        accepted: RegistrationAccepted,
        *,
        cause: str,
        correlation_id: str | None,
        contact_kept: bool | None = None,
    ) -> None:
        """Keep the contact (unless the caller did), then ask for the confirmation of receipt.

        A registrant who confirmed their address gets no receipt: the
        "confirm your address" mail was their first, and the page they
        confirmed on said the rest. ``contact_kept``: what ``keep_contact``
        answered, when the caller kept it first.
        """
        registration_id = str(accepted.registration_id)
        if contact_kept is None:
            contact_kept = await self.keep_contact(accepted)
        if not accepted.email_confirmed:
            receipt = MailRequest(
                registration_id,
                accepted.event_id,
                NotificationKind.REGISTRATION_RECEIVED,
                {"attendance": accepted.attendance.value},
            )
            await self.ask_for(
                receipt, cause=cause, correlation_id=correlation_id, not_erased=contact_kept
            )
        # Mails asked for before the contact arrived (a seat decided first).
        if await self._stores.mails.wake_for_registration(registration_id):
            self._wake()

    async def registration_submitted(
        self, submitted: RegistrationSubmitted, *, cause: str, correlation_id: str | None
    ) -> None:
        """Keep the contact, then ask for the "confirm your address" mail."""
        kept = await self.keep_contact(submitted)
        confirm = MailRequest(
            str(submitted.registration_id),
            submitted.event_id,
            NotificationKind.CONFIRM_ADDRESS,
            {"expires_at": submitted.expires_at},
        )
        await self.ask_for(confirm, cause=cause, correlation_id=correlation_id, not_erased=kept)

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

    async def manage_link_requested(
        self, requested: RegistrationManageLinkRequested, *, cause: str, correlation_id: str | None
    ) -> None:
        """Mail the registration's manage link (and its confirmation link while pending).

        One mail per request (its ``occasion``, the request's time), so a
        redelivered request sends nothing more; the registration service lets
        at most one request per registration and interval through.
        """
        details: dict[str, Any] = {"awaiting_confirmation": requested.awaiting_confirmation}
        if requested.awaiting_confirmation:
            details["expires_at"] = requested.expires_at
        if requested.language is not None:
            details["language"] = requested.language.value
        request = MailRequest(
            str(requested.registration_id),
            requested.event_id,
            NotificationKind.MANAGE_LINK,
            details,
            occasion_of(requested.requested_at),
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
        self,
        request: MailRequest,
        *,
        cause: str,
        correlation_id: str | None,
        not_erased: bool = False,
    ) -> None:
        """Record that a mail is to be sent (once per registration and kind, whatever repeats).

        ``cause`` is the id of the message that asked for it; its
        ``correlation_id`` goes with the mail into its logs and its
        ``notification.*`` event. ``not_erased``: the caller has just kept
        the registration's contact, so the check for its tombstone is spared.
        """
        if not not_erased and await self._stores.contacts.is_erased(request.registration_id):
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


class Broadcasts:
    """The use cases that keep the roster and the schedule: who hears what, and when.

    Every step is safe to repeat: roster changes are versioned transitions
    (``broadcasting``), schedule entries are keyed by their broadcast, and a
    broadcast that already happened is never scheduled again.
    """

    def __init__(self, stores: NotificationStores, wake: Wake, clock: Clock = utc_now) -> None:
        self._stores = stores
        self._roster = stores.roster
        self._mails = stores.mails
        self._schedule = stores.schedule
        self._event_details = stores.event_details
        self._wake = wake
        self._clock = clock

    # ------------------------------------------------------------ the roster

    async def registration_accepted(
        self, event: RegistrationAccepted, *, contact_kept: bool = False
    ) -> None:
        """The member counts from now on, unless erased already (a late redelivery).

        ``contact_kept``: the contact was kept just now (``Notifications.keep_contact``),
        so it has no tombstone and is not read again.
        """
        rid = str(event.registration_id)
        if not contact_kept and await self._stores.contacts.is_erased(rid):
            return
        await self._roster.change(
            event.event_id,
            rid,
            lambda m: broadcasting.accepted(m, rid, event.attendance, event.registered_at),
        )

    async def attendance_changed(self, event: RegistrationAttendanceChanged) -> None:
        rid = str(event.registration_id)
        await self._roster.change(
            event.event_id,
            rid,
            lambda m: broadcasting.attendance_changed(
                m, rid, event.attendance, event.attendance_version
            ),
        )

    async def seat_reserved(self, event: SeatReserved) -> None:
        await self._placed(event, Place.SEAT, event.attendance_version, event.reserved_at)

    async def seat_waitlisted(self, event: SeatWaitlisted) -> None:
        await self._placed(event, Place.WAITING_LIST, event.attendance_version, event.waitlisted_at)

    async def seat_released(self, event: SeatReleased) -> None:
        await self._placed(
            event, None, event.attendance_version, event.released_at, taking_away=Place.SEAT
        )

    async def waitlist_left(self, event: WaitlistLeft) -> None:
        await self._placed(
            event, None, event.attendance_version, event.left_at, taking_away=Place.WAITING_LIST
        )

    async def _placed(
        self,
        event: RegistrationEvent,
        place: Place | None,
        version: int,
        at: datetime,
        *,
        taking_away: Place | None = None,
    ) -> None:
        rid = str(event.registration_id)
        await self._roster.change(
            event.event_id,
            rid,
            lambda m: broadcasting.placed(m, rid, place, version, at, taking_away=taking_away),
        )

    async def link_provisioned(self, event: StreamLinkProvisioned) -> None:
        rid = str(event.registration_id)
        link = StreamLink(event.url, event.valid_from, event.valid_until)
        await self._roster.change(event.event_id, rid, lambda m: broadcasting.linked(m, rid, link))

    async def registration_cancelled(self, event: RegistrationCancelled) -> None:
        rid = str(event.registration_id)
        await self._roster.change(event.event_id, rid, lambda m: broadcasting.cancelled(m, rid))

    async def registration_gone(self, event: RegistrationErased | RegistrationExpired) -> None:
        """Erased or expired: the member goes from the roster (and from every audience)."""
        await self._roster.change(event.event_id, str(event.registration_id), lambda _m: None)

    # ------------------------------------------------------------ the schedule

    async def event_details_changed(self, details: EventDetails) -> None:
        """Reschedule the event's reminders and thank-you; a change notice if one is due.

        Called after the revision was kept. Only the event's latest revision
        plans anything: a late or repeated older one changes nothing.
        """
        latest, previous = await self._event_details.latest_two(details.event_id)
        if latest is None or latest.revision != details.revision:
            return
        if latest.cancelled_at is not None:
            await self.event_cancelled(latest)
            return
        now = self._clock()
        await self._plan_timed(latest, now)
        notice = broadcasting.change_notice(previous, latest, now)
        if (
            notice is not None
            and await self._schedule.state_of(notice.key) is None
            and await self._schedule.add(notice)
        ):
            log.info(
                "change_notice_scheduled",
                event_id=latest.event_id,
                revision=latest.revision,
                changes=notice.details["changes"],
            )
        self._wake()

    async def _plan_timed(self, event: EventDetails, now: datetime) -> None:
        """Reminders and the thank-you at the times the event says; gone ones off the schedule."""
        planned = broadcasting.timed_broadcasts(event)
        for broadcast in planned:
            state = await self._schedule.state_of(broadcast.key)
            if state is BroadcastState.EXPANDING:
                continue  # being sent: the scheduler finishes it
            existing = await self._schedule.entry(broadcast.key)
            unmoved = existing is not None and existing.due_at == broadcast.due_at
            if (unmoved and state is None) or broadcasting.worth_scheduling(broadcast, now, state):
                await self._schedule.put(broadcast)
            elif existing is not None:
                await self._schedule.remove(broadcast.key)
        keys = {broadcast.key for broadcast in planned}
        for scheduled in await self._schedule.of_event(event.event_id):
            timed = scheduled.kind in (NotificationKind.REMINDER, NotificationKind.THANK_YOU)
            if (
                timed
                and scheduled.key not in keys
                and await self._schedule.state_of(scheduled.key) is not BroadcastState.EXPANDING
            ):
                await self._schedule.remove(scheduled.key)

    async def event_cancelled(self, event: EventDetails) -> None:
        """Drop what was still to come about the event; tell everyone active, now."""
        now = self._clock()
        for scheduled in await self._schedule.of_event(event.event_id):
            if scheduled.kind not in broadcasting.DROPPED_BY_CANCELLATION:
                continue
            if await self._schedule.state_of(scheduled.key) is BroadcastState.EXPANDING:
                continue
            await self._schedule.finish(scheduled, BroadcastState.DROPPED)
            BROADCASTS.labels(scheduled.kind.value, BroadcastState.DROPPED.value).inc()
        notice = broadcasting.cancellation_notice(event, now)
        if await self._schedule.state_of(notice.key) is None and await self._schedule.add(notice):
            log.info("cancellation_notice_scheduled", event_id=event.event_id)
        self._wake()

    async def message_requested(self, message: MessageRequested) -> None:
        """An organiser's message: one broadcast per ``message_id``, however often it is sent."""
        title, body = message.title, message.body
        broadcast = Broadcast(
            message.event_id,
            NotificationKind.ORGANISER_MESSAGE,
            str(message.message_id),
            message.audience,
            self._clock(),
            {
                "message_id": str(message.message_id),
                "title": {"fi": title.fi, "sv": title.sv or title.fi, "en": title.en or title.fi},
                "body": {"fi": body.fi, "sv": body.sv or body.fi, "en": body.en or body.fi},
            },
        )
        if await self._schedule.state_of(broadcast.key) is None and await self._schedule.add(
            broadcast
        ):
            log.info(
                "organiser_message_scheduled",
                event_id=message.event_id,
                message_id=str(message.message_id),
                audience=message.audience.value,
            )
        self._wake()

    async def audience_size(self, event_id: str, audience: Audience) -> int:
        """How many a message to ``audience`` would reach now."""
        members = await self._roster.members(event_id)
        return len(broadcasting.recipients(members, audience))

    # ------------------------------------------------------------ what the console reads

    async def _delivery(self, record: Mapping[str, Any]) -> Delivery:
        """How the mails of an expanded broadcast are doing (their states, read by ``_id``).

        Once every mail is sent (none open, none failed, which an operator
        may replay) the counts are final: they are kept in the record, so
        the console's schedule reads the states of mails in flight only.
        """
        settled = record.get("delivery")
        if settled:
            return Delivery(**settled)
        if "recipients" not in record:
            record = await self._schedule.record(str(record["_id"])) or record
        kind = NotificationKind(record["kind"])
        occasion = str(record.get("occasion", ""))
        ids = [mail_id(rid, kind, occasion) for rid in record.get("recipients") or []]
        states: Counter[MailState] = Counter((await self._mails.states(ids)).values())
        delivery = Delivery(
            recipients=len(ids),
            sent=states[MailState.SENT],
            failed=states[MailState.FAILED],
            pending=sum(states[state] for state in OPEN_STATES),
            skipped=states[MailState.SKIPPED],
        )
        if not (delivery.pending or delivery.failed):
            await self._schedule.settle(str(record["_id"]), asdict(delivery))
        return delivery

    async def message_progress(self, message_id: str) -> MessageProgress | None:
        """Where an organiser's message is; None when it has not arrived (yet)."""
        key = broadcasting.broadcast_key("", NotificationKind.ORGANISER_MESSAGE, message_id)
        record = await self._schedule.record(key)
        if record is not None and record.get("state") != BroadcastState.EXPANDING.value:
            delivery = await self._delivery(record)
            state = "sending" if delivery.pending else "done"
            return MessageProgress(
                str(record["event_id"]), Audience(record["audience"]), state, delivery
            )
        nothing_yet = Delivery(0, 0, 0, 0)
        scheduled = await self._schedule.entry(key)
        if scheduled is not None:
            return MessageProgress(scheduled.event_id, scheduled.audience, "waiting", nothing_yet)
        if record is not None:
            return MessageProgress(
                str(record["event_id"]), Audience(record["audience"]), "waiting", nothing_yet
            )
        return None

    async def broadcast_mail_ids(self, registration_id: str) -> list[str]:
        """The ids the registration's mails from its event's broadcasts would have.

        For the list of a registration's mails, which reads by ``_id``: its
        event comes from its contact, the occasions from the event's
        broadcast records (a few per event).
        """
        contact = (await self._stores.contacts.of([registration_id])).get(registration_id)
        if contact is None:
            return []
        records = await self._schedule.records_of_event(contact.event_id)
        return [
            mail_id(registration_id, NotificationKind(r["kind"]), str(r.get("occasion", "")))
            for r in records
            if r.get("state") in (BroadcastState.DONE.value, BroadcastState.EXPANDING.value)
        ]

    async def schedule_of(self, event_id: str) -> list[ScheduleItem]:
        """The event's broadcasts: those still to come, then what became of the others."""
        items = [
            ScheduleItem(b.key, b.kind, b.due_at, BroadcastState.SCHEDULED, b.audience, None)
            for b in await self._schedule.of_event(event_id)
        ]
        scheduled = {item.key for item in items}
        for record in await self._schedule.records_of_event(event_id):
            if record["_id"] in scheduled:
                continue
            state = BroadcastState(record["state"])
            delivery = None
            if state is BroadcastState.DONE:
                delivery = await self._delivery(record)
            items.append(
                ScheduleItem(
                    str(record["_id"]),
                    NotificationKind(record["kind"]),
                    record["due_at"],
                    BroadcastState.SCHEDULED if state is BroadcastState.EXPANDING else state,
                    Audience(record["audience"]),
                    delivery,
                )
            )
        return sorted(items, key=lambda item: (item.due_at, item.key))


@dataclass(frozen=True)
class Delivery:
    """Counts of a broadcast's mails."""

    recipients: int
    sent: int
    failed: int
    pending: int
    # Not sent because the registrant cancelled (or was erased) before their copy went out.
    skipped: int = 0


@dataclass(frozen=True)
class MessageProgress:
    event_id: str
    audience: Audience
    # waiting (not expanded yet), sending (mails open), done.
    state: str
    delivery: Delivery


@dataclass(frozen=True)
class ScheduleItem:
    key: str
    kind: NotificationKind
    due_at: datetime
    state: BroadcastState
    audience: Audience
    # None until the broadcast was expanded.
    delivery: Delivery | None

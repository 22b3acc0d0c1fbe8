"""What the registration service does, whoever asks: the JSON API and the manage pages.

Each use case reads through the stores, decides with the rules (``catalogue``,
``domain``), writes through the stores (which wake the outbox relay for the
events they record) and counts what happened. It answers with what it
stored or found, or raises ``domain.Refused``: the adapters turn a refusal
into problem details (``api``) or an HTML page (``manage``). A write that
keeps losing to other writers raises ``ConcurrentChangeError``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter

from ilmo_event_contracts import (
    Attendance,
    Audience,
    ErasureReason,
    Language,
    LocalizedText,
    MessageRequested,
    RegistrationAttendanceChanged,
    RegistrationManageLinkRequested,
)
from ilmo_registration.catalogue import (
    EventSpec,
    generated_event_id,
    is_cancelled,
    is_event_id,
    registration_closes,
    shown_in_zone,
    violations,
)
from ilmo_registration.domain import (
    Cancellation,
    Confirmation,
    ConfirmationExpired,
    ConfirmationPolicy,
    Details,
    DetailsChanges,
    Erased,
    Erasure,
    EventCancellation,
    EventExists,
    EventIsCancelled,
    EventNotPublished,
    EventStarted,
    InvalidEvent,
    LinkRequest,
    NoFreeEventId,
    NotFound,
    NotSwitchable,
    Registrant,
    RegistrationClosed,
    RegistrationWindow,
    Repeat,
    SeatOutlook,
    Standing,
    Status,
    Switch,
    accept,
    correction_refusal,
    decide_cancellation,
    decide_confirmation,
    decide_correction,
    decide_erasure,
    decide_link_request,
    decide_repeat,
    decide_switch,
    is_registration_id,
    normalise_email,
    registration_window,
    retention_due,
    seat_outlook,
    submit,
)
from ilmo_registration.listing import ListingPage, ListingQuery, ListingRow, everything, select
from ilmo_registration.privacy import (
    PrivacyNotice,
    consent_for,
    notice,
    require_current,
    shown,
)
from ilmo_registration.security import (
    ManageLinks,
    manage_token_matches,
    new_manage_token,
    token_digest,
)
from ilmo_registration.storage import (
    ATTEMPTS,
    NEEDS_ERASED,
    PERSONAL_DATA_ERASED,
    EventStore,
    Holder,
    MessageStore,
    PrivacyNoticeStore,
    RegistrationStore,
    StoredEvent,
    StoredMessage,
    StoredRegistration,
)
from ilmo_registration.storage.idempotency import IdempotencyStore
from ilmo_shared.clock import Clock, to_millisecond, utc_now
from ilmo_shared.storage import ConcurrentChangeError

REGISTRATIONS = Counter(
    "ilmo_registrations_accepted_total", "Registrations accepted and stored.", ["attendance"]
)
SUBMISSIONS = Counter(
    "ilmo_registrations_submitted_total",
    "Registrations stored pending confirmation of the address.",
    ["attendance"],
)
CONFIRMATIONS = Counter(
    "ilmo_registrations_confirmed_total", "Confirmation links followed, by outcome.", ["outcome"]
)
REPEATS = Counter(
    "ilmo_registrations_repeated_total",
    "Registrations of an address already registered or pending, by what they led to "
    "(notify: the address is written to; quiet: it was, within the repeat interval).",
    ["decision"],
)
LINK_REQUESTS = Counter(
    "ilmo_manage_link_requests_total",
    "Requests for a registration's manage link, by what they led to (send: mailed; quiet: "
    "mailed within the link interval already; none: no live registration of the address).",
    ["decision"],
)
EXPIRIES = Counter(
    "ilmo_registrations_expired_total", "Unconfirmed registrations removed when their time ran out."
)
REFUSALS = Counter(
    "ilmo_registrations_refused_total",
    "Registrations refused for a reason other than invalid input.",
    ["reason"],
)
CANCELLATIONS = Counter("ilmo_registrations_cancelled_total", "Registrations cancelled.")
SWITCHES = Counter(
    "ilmo_registrations_attendance_switched_total",
    "Switches of attendance recorded, by the attendance switched to.",
    ["attendance"],
)
CORRECTIONS = Counter(
    "ilmo_registrations_corrected_total",
    "Registrants' corrections of their details, by what they changed (shared: names, "
    "organisation or language, announced; needs: only needs).",
    ["changed"],
)
CONSENTS_WITHDRAWN = Counter(
    "ilmo_needs_consents_withdrawn_total", "Consents to process needs withdrawn (needs erased)."
)
EVENTS_CANCELLED = Counter("ilmo_events_cancelled_total", "Events cancelled by an organiser.")
MESSAGES = Counter(
    "ilmo_organiser_messages_total", "Messages to registrants requested by organisers."
)
ERASURES = Counter(
    "ilmo_registrations_erased_total", "Registrations whose personal data was erased.", ["reason"]
)

# A new event without an id of its own gets a generated one; this many are tried.
GENERATED_ID_ATTEMPTS = 5
# An erasure that lost to a concurrent change is decided again this often.
ERASURE_ATTEMPTS = 5


@dataclass(frozen=True)
class Identity:
    """The id and manage token a registration must get: fixed before it is stored."""

    registration_id: str
    manage_token: str


@dataclass(frozen=True)
class Receipt:
    """A registration just taken, and the manage token that is shown only this once.

    For a repeat registration both are fresh and random and lead nowhere:
    the answer looks the same as for a new one.
    """

    registration_id: str
    manage_token: str
    status: Status


@dataclass(frozen=True)
class LinkedRegistration:
    """What a manage link leads to: the registration, its event, and what cancelling,
    switching to the other attendance and correcting one's details would do now."""

    registration: StoredRegistration
    event: StoredEvent
    cancellation: Cancellation
    switch: Switch
    correctable: bool


@dataclass(frozen=True)
class EventOutlook:
    """A published event as its public page shows it: the registration window and seats."""

    event: StoredEvent
    window: RegistrationWindow
    seats: SeatOutlook
    over: bool


@dataclass(frozen=True)
class SweepResult:
    """What one retention sweep erased: events swept, registrations' needs and whole records."""

    events: int = 0
    needs_erased: int = 0
    registrations_erased: int = 0


@dataclass(frozen=True)
class UseCases:
    """The service's use cases over its stores; built once in ``app.build_app``."""

    events: EventStore
    registrations: RegistrationStore
    notices: PrivacyNoticeStore
    manage_links: ManageLinks
    clock: Clock = utc_now
    confirmations: ConfirmationPolicy = field(default_factory=ConfirmationPolicy)
    messages: MessageStore | None = None
    # Claims of Idempotency-Keys, which an erasure removes (``keyed_registration``).
    idempotency: IdempotencyStore | None = None

    def now(self) -> datetime:
        """The time, as precise as it is stored."""
        return to_millisecond(self.clock())

    # --------------------------------------------------------------- catalogue

    async def create_event(self, spec: EventSpec, event_id: str | None = None) -> StoredEvent:
        """Add an event to the catalogue and publish it; without an id, one is generated."""
        _require_coherent(spec)
        now = self.now()
        if event_id is not None:
            return await self.events.create(event_id, spec, now)
        for _ in range(GENERATED_ID_ATTEMPTS):
            generated = generated_event_id(spec.title.fi, secrets.token_hex(4))
            try:
                return await self.events.create(generated, spec, now)
            except EventExists:
                continue
        raise NoFreeEventId

    async def change_event(
        self, event_id: str, change: Callable[[EventSpec], EventSpec]
    ) -> StoredEvent:
        """Change an event as ``change`` says; ``event.updated`` only if something changed.

        ``change`` may be applied more than once (again to what won a
        concurrent change); the result must be coherent as a whole event.
        A cancelled event is final: EventIsCancelled.
        """

        def coherent_change(spec: EventSpec) -> EventSpec:
            if is_cancelled(spec):
                raise EventIsCancelled
            changed = change(spec)
            _require_coherent(changed)
            return changed

        if not is_event_id(event_id):
            raise NotFound
        outcome = await self.events.change(event_id, coherent_change, self.now())
        if outcome is None:
            raise NotFound
        stored, _changed = outcome
        return stored

    async def cancel_event(self, event_id: str, note: LocalizedText | None) -> StoredEvent:
        """Cancel a published event, telling everyone through ``event.cancelled``.

        Asking again answers the event as the first cancellation left it (the
        note given then stays); a draft is refused (EventNotPublished).
        """
        if not is_event_id(event_id):
            raise NotFound
        outcome = await self.events.cancel(event_id, note, self.now())
        if outcome is None:
            raise NotFound
        stored, decision = outcome
        if decision is EventCancellation.DRAFT:
            raise EventNotPublished
        if decision is EventCancellation.CANCEL:
            EVENTS_CANCELLED.inc()
        return stored

    # ---------------------------------------------------------------- messages

    async def send_message(
        self,
        event_id: str,
        message_id: uuid.UUID,
        audience: Audience,
        title: LocalizedText,
        body: LocalizedText,
    ) -> tuple[StoredMessage, bool]:
        """Ask for a message to the event's ``audience``: the message, and whether it is new.

        ``message_id`` was chosen when the organiser previewed the message,
        so sending it twice stores (and announces) one message. An id already
        used for another event's message is NotFound here.
        """
        await self._event(event_id)
        fact = MessageRequested(
            message_id=message_id,
            event_id=event_id,
            audience=audience,
            title=title,
            body=body,
            requested_at=self.now(),
        )
        stored, new = await self._message_store().add(fact)
        if stored.event_id != event_id:
            raise NotFound
        if new:
            MESSAGES.inc()
        return stored, new

    async def message(self, event_id: str, message_id: str) -> StoredMessage:
        """One of the event's messages; NotFound for another event's or an unknown id."""
        stored = await self._message_store().get(message_id)
        if stored is None or stored.event_id != event_id:
            raise NotFound
        return stored

    async def event_messages(self, event_id: str) -> list[StoredMessage]:
        """The event's messages, newest first."""
        await self._event(event_id)
        return await self._message_store().for_event(event_id)

    def _message_store(self) -> MessageStore:
        if self.messages is None:
            raise RuntimeError("this service was built without its message store")
        return self.messages

    async def list_events(self, *, admin: bool) -> list[StoredEvent]:
        """Published events, soonest first; an administrator sees every event."""
        return await self.events.all(published_only=not admin)

    async def show_event(self, event_id: str, *, admin: bool) -> StoredEvent:
        """A published event; an administrator may see unpublished ones too.

        The public is answered from a recent read (``EventStore.recent``), an
        administrator from the database.
        """
        if not is_event_id(event_id):
            raise NotFound
        stored = await (self.events.get(event_id) if admin else self.events.recent(event_id))
        if stored is None or not (stored.spec.published or admin):
            raise NotFound
        return stored

    async def upcoming_events(self) -> list[StoredEvent]:
        """Published events not yet over, soonest first: the public list of events."""
        now = self.now()
        return [
            stored for stored in await self.list_events(admin=False) if stored.spec.ends_at > now
        ]

    async def event_outlook(self, event_id: str, *, admin: bool = False) -> EventOutlook:
        """A published event with what registering for it looks like now (NotFound otherwise).

        An administrator sees a draft too, as it would look published.
        """
        stored = await self.show_event(event_id, admin=admin)
        now = self.now()
        spec = stored.spec
        window = registration_window(spec.registration_opens_at, spec.registration_closes_at, now)
        holding = await self.registrations.on_site_holding(event_id)
        return EventOutlook(
            event=stored,
            window=window,
            seats=seat_outlook(spec.in_person_capacity, holding),
            over=now >= spec.ends_at,
        )

    async def privacy_notice(self, event_id: str, *, admin: bool) -> PrivacyNotice:
        """The notice in force for a published event (any event for an administrator)."""
        await self.show_event(event_id, admin=admin)
        if admin:
            return await self.notices.for_event(event_id)
        return await self.notices.recent(event_id)

    async def put_privacy_notice(self, event_id: str, text: dict[Language, str]) -> PrivacyNotice:
        """Put a new notice in force for the event; ValueError for a missing language.

        Registrations already taken keep the version they were shown; a
        registration sent with the old version from now on is refused
        (``PrivacyNoticeChanged``), so its client shows the new one.
        """
        if not is_event_id(event_id) or await self.events.get(event_id) is None:
            raise NotFound
        new = notice(text)
        await self.notices.put_in_force(event_id, new, self.now())
        return new

    async def list_registrations(self, event_id: str) -> list[StoredRegistration]:
        """An event's registrations, oldest first (for administrators)."""
        await self._event(event_id)
        return await self.registrations.for_event(event_id)

    async def registrations_page(self, event_id: str, query: ListingQuery) -> ListingPage:
        """The page of the event's registrations ``query`` asks for (``listing``)."""
        await self._event(event_id)
        return select(await self._listing_rows(event_id), query)

    async def selected_registrations(
        self, event_id: str, query: ListingQuery, *, paged: bool
    ) -> list[StoredRegistration]:
        """The registrations ``query`` selects, in its order: one page, or all of them.

        A page reads its 50 registrations by ``_id``; all of them are read
        with the event's registrations at once.
        """
        await self._event(event_id)
        rows = await self._listing_rows(event_id)
        if paged:
            chosen = select(rows, query).rows
            found = [await self.registrations.get(row.registration_id) for row in chosen]
            return [registration for registration in found if registration is not None]
        order = {row.registration_id: n for n, row in enumerate(everything(rows, query))}
        stored = await self.registrations.for_event(event_id)
        return sorted((r for r in stored if r.id in order), key=lambda r: order[r.id])

    async def registration_rows(self, event_id: str) -> list[ListingRow]:
        """Every row of the event's listing, in no order (the dashboard counts and draws them)."""
        await self._event(event_id)
        return await self._listing_rows(event_id)

    async def _listing_rows(self, event_id: str) -> list[ListingRow]:
        """The event's rows from the read model, built first if it never was."""
        listing = self.registrations.listing
        if listing is None:
            return await self.registrations.listing_rows(event_id)
        rows = await listing.rows(event_id)
        if rows is None:
            rows = await self.registrations.rebuild_listing(event_id)
        return rows

    async def _event(self, event_id: str) -> StoredEvent:
        stored = await self.events.get(event_id) if is_event_id(event_id) else None
        if stored is None:
            raise NotFound
        return stored

    async def registration(self, registration_id: str) -> StoredRegistration:
        """A registration by its id, for organisers (no token); NotFound if none or expired."""
        found = (
            await self.registrations.get(registration_id)
            if is_registration_id(registration_id)
            else None
        )
        if found is None:
            raise NotFound
        return found

    async def cancel_on_behalf(self, registration_id: str) -> StoredRegistration:
        """Cancel as an organiser asked, exactly as the registrant's own cancellation.

        The same ``registration.cancelled`` is recorded, so capacity frees the
        seat and notification sends the person the same cancellation mail.
        """
        registration = await self.registration(registration_id)
        if registration.erased:
            raise Erased
        await self.cancel(registration)
        return await self.registrations.get(registration.id) or registration

    # ----------------------------------------------------------- registrations

    async def register(
        self,
        event_id: str,
        registrant: Registrant,
        notice_version: str,
        *,
        identity: Identity | None = None,
    ) -> Receipt:
        """Take a registration for a published event whose registration is open.

        ``notice_version`` is the privacy notice the registrant was shown: it
        must be the one in force (``PrivacyNoticeChanged`` otherwise), and is
        recorded with the language and time. Stored pending confirmation with
        its ``registration.submitted`` event (the event asks for confirmed
        addresses), or accepted at once with ``registration.accepted``. One
        per address and event: a repeat stores nothing and answers the same
        as a new registration (``repeated``).

        With an ``identity`` (an Idempotency-Key's claim fixed it) the
        registration gets that id and token, and every answer carries them,
        a repeat's too. Finding the address held by that very id means an
        earlier attempt under the key stored it: that is the answer, and
        nobody is told about a repeat.

        The event and the notice are recent reads (``EventStore.recent``): a
        change made by another replica applies here within their bound. The
        window is checked against the clock, so registration closes on time
        whatever was read; a deadline moved, or a cancellation made, on
        another replica is seen at most that much later.
        """
        event = await self.events.recent(event_id) if is_event_id(event_id) else None
        if event is None or not event.spec.published:
            raise NotFound
        if is_cancelled(event.spec):
            REFUSALS.labels("event_cancelled").inc()
            raise EventIsCancelled
        now = self.now()
        _require_open(event.spec, now)
        current = await self.notices.recent(event_id)
        require_current(notice_version, current)
        confirming = event.spec.email_confirmation
        status = Status.PENDING_CONFIRMATION if confirming else Status.ACCEPTED
        if identity is None:
            token, digest = new_manage_token()
            registration_id = uuid.uuid4()
        else:
            token, digest = identity.manage_token, token_digest(identity.manage_token)
            registration_id = uuid.UUID(identity.registration_id)
        fact = (
            submit(event_id, registrant, now, self.confirmations.expires_at(now), registration_id)
            if confirming
            else accept(event_id, registrant, now, registration_id)
        )
        for _ in range(ATTEMPTS):
            holder = await self.registrations.add(
                fact,
                needs=registrant.needs,
                token_digest=digest,
                notice_shown=shown(current, registrant.language, now),
                needs_consent=consent_for(registrant.needs, now),
            )
            if holder is None:
                (SUBMISSIONS if confirming else REGISTRATIONS).labels(
                    registrant.attendance.value
                ).inc()
                return Receipt(str(registration_id), token, status)
            if identity is not None and holder.id == identity.registration_id:
                return Receipt(identity.registration_id, token, status)  # stored by an earlier try
            if await self.repeated(holder, now):
                if identity is not None:
                    return Receipt(identity.registration_id, token, status)
                return Receipt(str(uuid.uuid4()), new_manage_token()[0], status)
        raise ConcurrentChangeError

    async def repeated(self, holder: Holder, now: datetime) -> bool:
        """Deal with a registration of an address ``holder`` holds; False: store the new one.

        An expired holder is removed (its address is free again); otherwise
        the address is written to, at most once per repeat interval. The
        asker never learns which of these happened.
        """
        decision = decide_repeat(
            holder.standing,
            holder.expires_at,
            holder.repeat_notified_at,
            now,
            self.confirmations.repeat_interval,
        )
        if decision is Repeat.REPLACE:
            if holder.standing is Standing.PENDING and await self.registrations.expire(holder, now):
                EXPIRIES.inc()
            return False
        if decision is Repeat.NOTIFY and not await self.registrations.notify_repeat(holder, now):
            decision = Repeat.QUIET  # a concurrent repeat told the address
        REPEATS.labels(decision.value).inc()
        return True

    def confirmation_link_matches(self, registration_id: str, token: str) -> bool:
        """Whether a confirmation link is right, from the id alone (no read)."""
        return is_registration_id(registration_id) and self.manage_links.confirms(
            registration_id, token
        )

    async def confirm(self, registration_id: str, token: str) -> Confirmation:
        """Follow a confirmation link: CONFIRM when this accepted it, DONE if it was before.

        NotFound for a wrong link (checked from the id alone, before any
        read); ConfirmationExpired when its time ran out (it is then removed
        at once, if the sweep has not yet); RegistrationClosed when
        registration closed first. Those two store nothing.
        """
        if not self.confirmation_link_matches(registration_id, token):
            raise NotFound
        for _ in range(ATTEMPTS):
            decision, registration = await self._confirmation(registration_id)
            if registration is None:
                CONFIRMATIONS.labels(decision.value).inc()
                return decision
            now = self.now()
            accepted = accept(
                registration.event_id,
                registration.registrant,
                now,
                uuid.UUID(registration.id),
                email_confirmed=True,
            )
            if await self.registrations.confirm(accepted):
                CONFIRMATIONS.labels(decision.value).inc()
                REGISTRATIONS.labels(registration.registrant.attendance.value).inc()
                return decision
        raise ConcurrentChangeError

    async def _confirmation(
        self, registration_id: str
    ) -> tuple[Confirmation, StoredRegistration | None]:
        """What confirming does now, with the pending registration it would accept.

        One read of the registration (where it stands and what it is), and a
        recent read of its event (``EventStore.recent``, as for registering).
        """
        found = await self.registrations.standing_of(registration_id)
        event = await self.events.recent(found[0].event_id) if found is not None else None
        if found is None or event is None:
            raise NotFound
        holder, registration = found
        now = self.now()
        closes_at = registration_closes(event.spec)
        decision = decide_confirmation(holder.standing, holder.expires_at, closes_at, now)
        if decision is Confirmation.EXPIRED:
            if holder.standing is Standing.PENDING and await self.registrations.expire(holder, now):
                EXPIRIES.inc()
            CONFIRMATIONS.labels(decision.value).inc()
            raise ConfirmationExpired
        if decision is Confirmation.CLOSED:
            CONFIRMATIONS.labels(decision.value).inc()
            raise RegistrationClosed(closed_at=_in_zone(closes_at, event.spec))
        if decision is Confirmation.DONE:
            return decision, None
        if registration is None:
            raise NotFound
        return decision, registration

    async def sweep_expired(self, limit: int = 500) -> int:
        """Remove the pending registrations whose time ran out, with their personal data."""
        now = self.now()
        removed = 0
        for holder in await self.registrations.expired_pending(now, limit):
            if await self.registrations.expire(holder, now):
                removed += 1
        EXPIRIES.inc(removed)
        return removed

    async def own(self, registration_id: str, token: str) -> StoredRegistration:
        """The registration ``token`` is the manage token or the link token of.

        NotFound for anything else: a wrong token and an unknown id are the
        same answer, found out in the same time (both checks always run,
        each in constant time).
        """
        registration = (
            await self.registrations.get(registration_id)
            if is_registration_id(registration_id)
            else None
        )
        digest = registration.token_digest if registration is not None else None
        random_token = manage_token_matches(token, digest)
        link_token = self.manage_links.matches(registration_id, token)
        if registration is not None and registration.erased:
            # The token's digest was erased with the rest, so the manage token
            # cannot be checked any more: any token gets Erased. It tells only
            # that this (random, unguessable) id was erased, nothing personal.
            raise Erased
        if registration is None or not (random_token or link_token):
            raise NotFound
        return registration

    async def cancel_own(self, registration_id: str, token: str) -> StoredRegistration:
        """Cancel one's own registration (see ``own`` and ``cancel``); it as it is now."""
        registration = await self.own(registration_id, token)
        await self.cancel(registration)
        return await self.registrations.get(registration.id) or registration

    async def switch_attendance(
        self, registration_id: str, token: str, attendance: Attendance
    ) -> StoredRegistration:
        """Switch one's own registration to ``attendance``; the registration as it is now.

        ``token`` is the manage token or the manage link's token, as for
        ``own``: the JSON API and the manage page's form both call this.
        Switching to the attendance the registration has changes nothing and
        is no error (a retried request is harmless). Otherwise one
        conditional write stores the next attendance version with
        ``registration.attendance_changed``; capacity and streaming do the
        rest (a seat asked for or given back, a stream link).

        Raises NotFound (wrong token or id), Erased, NotSwitchable (cancelled
        or not confirmed), RegistrationClosed (to on site after registration
        closed) or EventStarted (to remote once the event has started).
        """
        return await self._switch(await self.own(registration_id, token), attendance)

    async def switch_on_behalf(
        self, registration_id: str, attendance: Attendance
    ) -> StoredRegistration:
        """Switch a registration's attendance as an organiser asked, as if its registrant had."""
        return await self._switch(await self.registration(registration_id), attendance)

    async def _switch(
        self, registration: StoredRegistration, attendance: Attendance
    ) -> StoredRegistration:
        for _ in range(ATTEMPTS):
            event = await self.events.get(registration.event_id)
            if event is None:
                raise NotFound
            now = self.now()
            closes_at = registration_closes(event.spec)
            decision = decide_switch(
                registration.state, attendance, closes_at, event.spec.starts_at, now
            )
            match decision:
                case Switch.UNCHANGED:
                    return registration
                case Switch.ERASED:
                    raise Erased
                case Switch.CANCELLED | Switch.PENDING:
                    raise NotSwitchable(decision)
                case Switch.REGISTRATION_CLOSED:
                    raise RegistrationClosed(closed_at=_in_zone(closes_at, event.spec))
                case Switch.EVENT_STARTED:
                    raise EventStarted("switched to remote")
            changed = RegistrationAttendanceChanged(
                registration_id=uuid.UUID(registration.id),
                event_id=registration.event_id,
                attendance=attendance,
                attendance_version=registration.state.attendance_version + 1,
                changed_at=now,
            )
            if await self.registrations.switch_attendance(registration, changed):
                SWITCHES.labels(attendance.value).inc()
                return await self.registrations.get(registration.id) or registration
            # Changed since it was read (a status report, another switch): decide again.
            current = await self.registrations.get(registration.id)
            if current is None:
                raise NotFound
            registration = current
        raise ConcurrentChangeError

    async def linked(self, registration_id: str, token: str) -> StoredRegistration:
        """The registration ``token`` is the link token of (the manage link in the emails).

        The token is checked first, from the id alone: a wrong one never
        reaches the database, so nothing tells whether the id exists.
        """
        if not is_registration_id(registration_id) or not self.manage_links.matches(
            registration_id, token
        ):
            raise NotFound
        registration = await self.registrations.get(registration_id)
        if registration is None:
            raise NotFound
        if registration.erased:
            raise Erased
        return registration

    async def follow_link(self, registration_id: str, token: str) -> LinkedRegistration:
        """What the manage page shows: the linked registration, its event, and what
        cancelling would do now (the event a recent read: cancelling decides again)."""
        registration = await self.linked(registration_id, token)
        event = await self.events.recent(registration.event_id)
        if event is None:
            raise NotFound
        now = self.now()
        cancellation = decide_cancellation(registration.state.cancelled, event.spec.starts_at, now)
        other = (
            Attendance.REMOTE
            if registration.registrant.attendance is Attendance.IN_PERSON
            else Attendance.IN_PERSON
        )
        switch = decide_switch(
            registration.state, other, event.spec.registration_closes_at, event.spec.starts_at, now
        )
        correctable = correction_refusal(registration.state, event.spec.ends_at, now) is None
        return LinkedRegistration(registration, event, cancellation, switch, correctable)

    async def update_details(
        self, registration_id: str, token: str, changes: DetailsChanges
    ) -> StoredRegistration:
        """Correct one's own details (GDPR Art. 16); the registration as it is now.

        Authorised as ``own``; refused as ``domain.decide_correction`` says
        (Erased, Cancelled, EventEnded, NeedsWithoutConsent), storing
        nothing. The new details and, if names, organisation or language
        changed, ``registration.details_changed`` are one conditional write;
        one that lost to a concurrent change is decided again from what won.
        A correction that changes nothing stores and announces nothing.
        """
        registration = await self.own(registration_id, token)
        event = await self.events.get(registration.event_id)
        if event is None:
            raise NotFound
        for _ in range(ATTEMPTS):
            now = self.now()
            current = stored_details(registration.registrant)
            correction = decide_correction(
                registration.state, current, changes, event.spec.ends_at, now
            )
            if not correction.anything:
                return registration
            if await self.registrations.correct(registration, correction, now):
                CORRECTIONS.labels("shared" if correction.shared else "needs").inc()
                return await self.registrations.get(registration.id) or registration
            again = await self.registrations.get(registration.id)
            if again is None:
                raise NotFound
            registration = again
        raise ConcurrentChangeError(registration.id)

    async def withdraw_needs_consent(self, registration: StoredRegistration) -> StoredRegistration:
        """Withdraw the consent to process needs: the needs are erased at once.

        Harmless when there is no consent to withdraw; answers the
        registration as it is now.
        """
        if await self.registrations.withdraw_needs_consent(registration.id, self.now()):
            CONSENTS_WITHDRAWN.inc()
        return await self.registrations.get(registration.id) or registration

    async def cancel(self, registration: StoredRegistration) -> None:
        """Cancel as the registrant asked; NotFound if the event is gone, EventStarted.

        A registration not yet cancelled is cancelled with one conditional
        write that records ``registration.cancelled``; a repeat changes
        nothing and is no error, even once the event has started.
        """
        event = await self.events.get(registration.event_id)
        if event is None:
            raise NotFound
        now = self.now()
        decision = decide_cancellation(registration.state.cancelled, event.spec.starts_at, now)
        if decision is Cancellation.EVENT_STARTED:
            raise EventStarted
        if decision is Cancellation.CANCEL and await self.registrations.cancel(registration, now):
            CANCELLATIONS.inc()

    # --------------------------------------------------------------- lost links

    async def request_manage_link(
        self, event_id: str, email: str, language: Language | None = None
    ) -> None:
        """Mail the manage link of the registration ``email`` holds for the event, if any.

        The answer is the same whether or not there is one, and so is the
        work up to the decision: the event, then the holder of the address
        (``domain.decide_link_request``). A live registration gets
        ``registration.manage_link_requested`` in one conditional write, at
        most once per link interval; notification mails the link (in
        ``language``, if given). NotFound only for an event that is not
        published, which the public may know anyway.
        """
        event = await self.events.recent(event_id) if is_event_id(event_id) else None
        if event is None or not event.spec.published:
            raise NotFound
        now = self.now()
        holder = await self.registrations.holder_of_address(event_id, normalise_email(email))
        if holder is None:
            LINK_REQUESTS.labels(LinkRequest.NONE.value).inc()
            return
        decision = decide_link_request(
            holder.standing,
            holder.expires_at,
            holder.link_requested_at,
            now,
            self.confirmations.link_interval,
        )
        if decision is LinkRequest.SEND:
            requested = link_requested(holder, language, now)
            if not await self.registrations.record_link_request(holder, requested):
                decision = LinkRequest.QUIET  # a concurrent request asked first
        LINK_REQUESTS.labels(decision.value).inc()

    # ----------------------------------------------------------------- erasure

    async def erase(
        self, registration_id: str, reason: ErasureReason = ErasureReason.REQUEST
    ) -> StoredRegistration:
        """Erase a registration's personal data (GDPR Art. 17 on request); the tombstone.

        NotFound for an unknown id. An active registration of an event not
        yet over is cancelled in the same write (``domain.decide_erasure``).
        Erasing again changes and announces nothing and answers the same.
        """
        registration = (
            await self.registrations.get(registration_id)
            if is_registration_id(registration_id)
            else None
        )
        if registration is None:
            raise NotFound
        event = await self.events.get(registration.event_id)
        if event is None:
            raise NotFound
        await self._erase(registration, event.spec.ends_at, reason)
        return await self.registrations.get(registration.id) or registration

    async def sweep_retention(self) -> SweepResult:
        """Erase what retention says is due: needs of ended events, registrations of expired ones.

        Reads the (small) catalogue, then only the registrations of events
        with something due, and marks each event when done, so a finished
        event is not read again (FerretDB's SQLite backend filters anything
        but ``_id`` by reading every document). An event whose sweep failed
        half-way is not marked and is taken up again by the next sweep; what
        was erased stays erased.
        """
        events = needs = erased = 0
        for view in await self.events.retention_views():
            due = retention_due(
                view.ends_at,
                view.retention_days,
                self.now(),
                needs_erased=view.needs_erased,
                personal_data_erased=view.personal_data_erased,
            )
            if not due.anything:
                continue
            events += 1
            for registration in await self.registrations.for_event(view.event_id):
                if due.personal_data:
                    erased += await self._erase(registration, view.ends_at, ErasureReason.RETENTION)
                elif registration.registrant.needs is not None:
                    needs += await self.registrations.erase_needs(registration.id)
            await self.events.mark_erased(view.event_id, NEEDS_ERASED, self.now())
            if due.personal_data:
                await self.events.mark_erased(view.event_id, PERSONAL_DATA_ERASED, self.now())
        return SweepResult(events, needs, erased)

    async def _erase(
        self, registration: StoredRegistration, event_ends_at: datetime, reason: ErasureReason
    ) -> bool:
        """Erase one registration as ``decide_erasure`` says; False if it was erased already.

        A write that lost to a concurrent change (a cancellation between the
        read and the write) is decided again from what is stored now.
        """
        for _ in range(ERASURE_ATTEMPTS):
            now = self.now()
            decision = decide_erasure(registration.state, event_ends_at, now)
            if decision is Erasure.ALREADY_ERASED:
                return False
            cancel = decision is Erasure.CANCEL_AND_ERASE
            if await self.registrations.erase(registration, now, reason, cancel=cancel):
                if self.idempotency is not None:
                    # Nobody gets the erased registration's token again, key or not.
                    await self.idempotency.forget(registration.id)
                ERASURES.labels(reason.value).inc()
                if cancel:
                    CANCELLATIONS.inc()
                return True
            current = await self.registrations.get(registration.id)
            if current is None:
                return False
            registration = current
        raise ConcurrentChangeError(registration.id)


def stored_details(registrant: Registrant) -> Details:
    """What of a registrant the registrant may correct, as stored."""
    return Details(
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        organisation=registrant.organisation,
        language=registrant.language,
        needs=registrant.needs,
    )


def link_requested(
    holder: Holder, language: Language | None, now: datetime
) -> RegistrationManageLinkRequested:
    """The event that asks notification to mail the holder's manage link."""
    pending = holder.standing is Standing.PENDING
    return RegistrationManageLinkRequested(
        registration_id=uuid.UUID(holder.id),
        event_id=holder.event_id,
        awaiting_confirmation=pending,
        expires_at=holder.expires_at if pending else None,
        language=language,
        requested_at=now,
    )


def _in_zone(moment: datetime, spec: EventSpec) -> datetime:
    """``moment`` in the event's own zone, as refusals show times."""
    return shown_in_zone(
        spec.model_copy(update={"registration_closes_at": moment})
    ).registration_closes_at


def _require_coherent(spec: EventSpec) -> None:
    found = violations(spec)
    if found:
        raise InvalidEvent(found)


def _require_open(spec: EventSpec, now: datetime) -> None:
    """RegistrationClosed (counted) unless registration is open at ``now``."""
    shown = shown_in_zone(spec)
    window = registration_window(shown.registration_opens_at, shown.registration_closes_at, now)
    if window is RegistrationWindow.OPEN:
        return
    REFUSALS.labels(window.value).inc()
    if window is RegistrationWindow.NOT_YET_OPEN:
        raise RegistrationClosed(opens_at=shown.registration_opens_at)
    raise RegistrationClosed(closed_at=shown.registration_closes_at)

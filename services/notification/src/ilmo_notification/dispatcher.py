"""The mail dispatcher: sends the mails that were asked for, one attempt at a time.

The use cases only record intents (see ``usecases``); this background worker
finds due mails, and for each one whose contact and event details are known:
renders it, claims the attempt (an insert, so one dispatcher of several makes
it), marks it ``sending``, runs the SMTP transaction, then records ``sent``
with ``notification.sent`` in one write. A mail whose contact or event details
have not arrived waits (it is never failed for that) and is woken when they
come.

Failures follow ``domain.after_failure``: exponential backoff per mail, and
after the budget ``failed`` with ``notification.failed``. When the server
cannot be reached at all the pass stops and the whole dispatcher pauses with
its own backoff (new intents do not cut the pause short), so an SMTP outage
costs one probing attempt per pause rather than a storm of connections.

A mail found in ``sending`` once its lease is over belonged to a process that
died mid-attempt: the server may have taken it. It is sent again with the
same Message-ID, and counted in ``ilmo_mail_possible_duplicates_total``.

Mails of one registration due together go out in reading order (received,
waiting list, seat, stream link, cancellation) over one connection; mails of
different registrations go out concurrently over up to ``concurrency``
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from pymongo.errors import ConnectionFailure

from ilmo_event_contracts import EventDetails, NotificationKind
from ilmo_event_contracts.integration import MailFailure
from ilmo_notification.domain import (
    CLOSED_STATES,
    FIRST_MAILS,
    Claim,
    Contact,
    FailureKind,
    Mail,
    MailRetryPolicy,
    MailState,
    Park,
    after_failure,
    kind_rank,
    mail_id,
    superseded_by,
    superseding_ids,
    waiting_delay,
    waits_for_receipt,
)
from ilmo_notification.mailer import SendError, SmtpMailer, SmtpSession
from ilmo_notification.metrics import (
    DISPATCHER_PAUSED,
    MAIL_ATTEMPT_FAILURES,
    MAILS_FAILED,
    MAILS_SENT,
    MAILS_SKIPPED,
    POSSIBLE_DUPLICATES,
)
from ilmo_notification.rendering import MailRenderer, RenderError
from ilmo_notification.storage import NotificationStores
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.logging import correlation_scope

log = structlog.get_logger(__name__)

Jitter = Callable[[], float]


def _jitter() -> float:
    return random.uniform(0.8, 1.0)  # noqa: S311 - spreading retries, not a secret


@dataclass
class PassResult:
    """What one pass over the due mails did."""

    due: int = 0
    progressed: int = 0
    sent: int = 0
    unreachable: bool = False
    full: bool = False


@dataclass
class _Ready:
    mail: Mail
    contact: Contact
    event: EventDetails


@dataclass
class _Pass:
    groups: asyncio.Queue[list[_Ready]] = field(default_factory=asyncio.Queue)
    result: PassResult = field(default_factory=PassResult)


class MailDispatcher:
    """A ``runtime.Worker``: started after the consumers, stopped before the relay's last flush."""

    def __init__(
        self,
        stores: NotificationStores,
        renderer: MailRenderer,
        mailer: SmtpMailer,
        *,
        policy: MailRetryPolicy,
        concurrency: int = 4,
        poll_seconds: float = 5.0,
        lease_seconds: float = 60.0,
        batch_size: int = 200,
        clock: Clock = utc_now,
        jitter: Jitter = _jitter,
    ) -> None:
        self._mails = stores.mails
        self._attempts = stores.attempts
        self._contacts = stores.contacts
        self._event_details = stores.event_details
        self._renderer = renderer
        self._mailer = mailer
        self._policy = policy
        self._concurrency = concurrency
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._batch_size = batch_size
        self._clock = clock
        self._jitter = jitter
        self._look_now = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._unreachable_in_a_row = 0
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ life

    def wake(self) -> None:
        """A new intent (or a contact or event details) arrived: look now."""
        self._look_now.set()

    def start(self) -> None:
        self._stopping = False
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name="mail-dispatcher")

    async def stop(self) -> None:
        """Finish the mails in flight (no new ones are started), then return."""
        if self._task is None:
            return
        self._stopping = True
        self._stopped.set()
        self._look_now.set()
        task, self._task = self._task, None
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        DISPATCHER_PAUSED.set(0)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                result = await self.dispatch_due()
            except Exception:
                log.warning("mail_dispatch_pass_failed", exc_info=True)
                result = PassResult()
            if self._stopping:
                return
            if result.unreachable:
                await self._pause()
                continue
            if result.full and result.progressed:
                continue  # a backlog: no sleeping
            await self._idle(result)

    async def _pause(self) -> None:
        """The server could not be reached: wait, growing the wait while it stays so.

        Only stopping ends the pause early; new intents wait for it.
        """
        self._unreachable_in_a_row += 1
        seconds = self._policy.delay(self._unreachable_in_a_row, self._jitter())
        DISPATCHER_PAUSED.set(1)
        log.warning("smtp_unreachable_pausing", seconds=round(seconds, 2))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)
        DISPATCHER_PAUSED.set(0)

    async def _idle(self, result: PassResult) -> None:
        timeout = self._poll
        if result.progressed or not result.due:
            try:
                next_due = await self._mails.next_due_at()
            except Exception:
                next_due = None
            if next_due is not None:
                seconds = (next_due - self._clock()).total_seconds()
                timeout = min(self._poll, max(seconds, 0.05))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._look_now.wait(), timeout=timeout)
        self._look_now.clear()

    # ------------------------------------------------------------ one pass

    async def dispatch_due(self) -> PassResult:
        """Send what is due now; returns what happened (also the way tests drive it)."""
        self._look_now.clear()
        mails = await self._mails.due(self._clock(), self._batch_size)
        work = _Pass()
        work.result.due = len(mails)
        work.result.full = len(mails) >= self._batch_size
        if not mails:
            return work.result

        contacts = await self._contacts.of(m.registration_id for m in mails)
        events: dict[str, EventDetails | None] = {}
        for event_id in sorted({m.event_id for m in mails}):
            events[event_id] = await self._event_details.latest(event_id)
        receipts = {
            m.registration_id: mail_id(m.registration_id, NotificationKind.REGISTRATION_RECEIVED)
            for m in mails
        }
        confirmations = {
            m.registration_id: mail_id(m.registration_id, NotificationKind.CONFIRM_ADDRESS)
            for m in mails
        }
        superseding = {m.id: superseding_ids(m) for m in mails}
        due_ids = {m.id for m in mails}
        # Only a mail that may wait for the receipt (one not due in this very
        # pass) asks about it, and about the confirmation only while the
        # receipt is not done with: once it is, nothing waits whatever the
        # confirmation's state (``waits_for_receipt``).
        asking = {
            m.registration_id
            for m in mails
            if m.kind not in FIRST_MAILS and receipts[m.registration_id] not in due_ids
        }
        known = await self._mails.states(
            [
                *(receipts[registration_id] for registration_id in asking),
                *(later for ids in superseding.values() for later in ids.values()),
            ]
        )
        known.update(
            await self._mails.states(
                confirmations[registration_id]
                for registration_id in asking
                if known.get(receipts[registration_id]) not in CLOSED_STATES
            )
        )

        groups: dict[str, list[_Ready]] = {}
        for mail in sorted(mails, key=lambda m: (m.registration_id, kind_rank(m.kind))):
            recorded_later = {
                kind for kind, later_id in superseding[mail.id].items() if later_id in known
            }
            skipped_for = superseded_by(mail.kind, recorded_later, mail.state)
            if skipped_for is not None:
                if not await self._mails.mark_skipped(mail, superseded_by=skipped_for):
                    continue  # not as its copy said: decided again next pass
                MAILS_SKIPPED.labels(mail.kind.value).inc()
                log.info(
                    "mail_skipped",
                    mail_id=mail.id,
                    kind=mail.kind.value,
                    superseded_by=skipped_for.value,
                )
                work.result.progressed += 1
                continue
            contact = contacts.get(mail.registration_id)
            event = events.get(mail.event_id)
            receipt = receipts[mail.registration_id]
            if contact is None or event is None:
                await self._wait(mail, "contact" if contact is None else "event_details")
                continue
            confirmation = known.get(confirmations[mail.registration_id])
            if receipt not in due_ids and waits_for_receipt(
                mail.kind, known.get(receipt), confirmation
            ):
                await self._wait(mail, NotificationKind.REGISTRATION_RECEIVED.value)
                continue
            groups.setdefault(mail.registration_id, []).append(_Ready(mail, contact, event))

        for group in groups.values():
            work.groups.put_nowait(group)
        # After the server could not be reached, one connection probes it first.
        workers = min(1 if self._unreachable_in_a_row else self._concurrency, len(groups))
        if workers:
            # Every worker finishes its mail in flight before the pass ends (or fails).
            ends = await asyncio.gather(
                *(self._worker(work) for _ in range(workers)), return_exceptions=True
            )
            for end in ends:
                if isinstance(end, BaseException):
                    raise end
        if work.result.sent or (work.result.progressed and not work.result.unreachable):
            self._unreachable_in_a_row = 0
        await self._mails.drop_ended()
        return work.result

    async def _wait(self, mail: Mail, waiting_for: str) -> None:
        """Not sendable yet; woken when what it waits for arrives, else looked at later."""
        await self._mails.mark_waiting(
            mail, waiting_for=waiting_for, delay=waiting_delay(mail.waiting_checks)
        )
        log.debug("mail_waiting", mail_id=mail.id, kind=mail.kind.value, waiting_for=waiting_for)

    async def _worker(self, work: _Pass) -> None:
        async with self._mailer.session() as session:
            while not (self._stopping or work.result.unreachable):
                try:
                    group = work.groups.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for ready in group:
                    if self._stopping or work.result.unreachable:
                        return
                    sent = await self._deliver(session, ready, work.result)
                    if ready.mail.kind is NotificationKind.REGISTRATION_RECEIVED and not sent:
                        break  # the rest wait until the receipt is done with

    # ------------------------------------------------------------ one mail

    async def _deliver(self, session: SmtpSession, ready: _Ready, result: PassResult) -> bool:
        """One attempt at one mail; True if the server took it.

        A fault in this one attempt must not stop the other mails of the pass,
        so it ends the attempt only (``_interrupted``); a database that cannot
        be reached ends the pass, leaving every mail due.
        """
        # Under the correlation id of the message that asked for the mail.
        with correlation_scope(ready.mail.correlation_id):
            try:
                return await self._attempt(session, ready, result)
            except ConnectionFailure:
                raise
            except Exception as error:
                await self._interrupted(ready.mail, error)
                result.progressed += 1
                return False

    async def _attempt(self, session: SmtpSession, ready: _Ready, result: PassResult) -> bool:
        mail = ready.mail
        bound = log.bind(mail_id=mail.id, kind=mail.kind.value, event_id=mail.event_id)
        try:
            composed = self._renderer.compose(
                mail.request, ready.contact, ready.event, now=self._clock()
            )
        except RenderError as error:
            MAIL_ATTEMPT_FAILURES.labels(mail.kind.value, FailureKind.RENDER.value).inc()
            bound.error("mail_render_failed", reason=str(error))
            park = Park(f"{FailureKind.RENDER.value}: {error}", FailureKind.RENDER)
            await self._park(mail, mail.attempts, park)
            result.progressed += 1
            return False

        attempt = await self._claim(mail)
        if attempt is None:
            bound.debug("mail_attempt_taken_elsewhere")
            return False
        possible_duplicate = mail.state is MailState.SENDING
        if not await self._mails.mark_sending(mail, attempt, lease=self._lease):
            bound.debug("mail_moved_on_since_read")
            return False
        if possible_duplicate:
            POSSIBLE_DUPLICATES.labels(mail.kind.value).inc()
            bound.warning("mail_resent_after_unknown_outcome", attempt=attempt)
        result.progressed += 1

        try:
            await session.send(self._renderer.sender, composed.recipient, composed.data)
        except SendError as failure:
            await self._failed(mail, attempt, failure, bound)
            if failure.kind is FailureKind.CONNECTION:
                result.unreachable = True
            return False
        await self._record_sent(mail, composed.message_id, attempt)
        MAILS_SENT.labels(mail.kind.value).inc()
        result.sent += 1
        bound.info("mail_sent", attempt=attempt, language=ready.contact.language.value)
        return True

    async def _interrupted(self, mail: Mail, error: Exception) -> None:
        """An attempt broke off on a fault of this service: a failed attempt like any other.

        It counts against the mail's budget and backs off, so a mail that
        keeps breaking moves down the due list and ends ``failed`` instead of
        being read first by every pass. Only the fault's type is logged: its
        message may quote personal data.
        """
        bound = log.bind(mail_id=mail.id, kind=mail.kind.value, event_id=mail.event_id)
        bound.error("mail_attempt_interrupted", error=type(error).__name__)
        failure = SendError(FailureKind.INTERNAL, type(error).__name__)
        await self._failed(mail, mail.attempts + 1, failure, bound)

    async def _claim(self, mail: Mail) -> int | None:
        """The attempt number this process makes, or None if another dispatcher is on it."""
        attempt = mail.attempts + 1
        for tried in range(5):
            claim = await self._attempts.claim(mail, attempt, lease=self._lease)
            if claim is Claim.CLAIMED:
                return attempt
            # The mail was read from its copy in ``open_mails``: before
            # deciding on someone else's claim, make sure it is still so.
            if tried == 0 and await self._mails.refresh(mail) != mail:
                return None
            if claim is Claim.TAKEN:
                # Looked at again once that attempt's lease is surely over.
                await self._mails.postpone(mail.id, self._clock() + self._lease)
                return None
            # Claimed by a dispatcher that died before marking it: that attempt
            # never reached the server; count it and take the next.
            await self._mails.mark_attempt_lost(mail, attempt)
            attempt += 1
        return None

    async def _failed(
        self,
        mail: Mail,
        attempt: int,
        failure: SendError,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> None:
        MAIL_ATTEMPT_FAILURES.labels(mail.kind.value, failure.kind.value).inc()
        decision = after_failure(
            attempt - mail.budget_from, failure.kind, failure.detail, self._policy, self._jitter()
        )
        if isinstance(decision, Park):
            bound.warning("mail_failed", attempt=attempt, reason=decision.reason)
            await self._park(mail, attempt, decision)
            return
        bound.info(
            "mail_attempt_failed",
            attempt=attempt,
            failure=failure.kind.value,
            detail=failure.detail,
            retry_in=round(decision.seconds, 2),
        )
        await self._mails.mark_retry(
            mail,
            attempt=attempt,
            delay=decision.seconds,
            reason=f"{failure.kind.value}: {failure.detail}",
        )

    async def _park(self, mail: Mail, attempt: int, park: Park) -> None:
        if not await self._mails.mark_failed(
            mail, attempt=attempt, reason=park.reason, failure=MailFailure(park.failure.value)
        ):
            return  # it was closed meanwhile (an attempt interrupted after the fact)
        MAILS_FAILED.labels(mail.kind.value).inc()
        await self._closed(mail)

    async def _closed(self, mail: Mail) -> None:
        """A receipt is done with: the registration's other mails may go now."""
        if mail.kind is not NotificationKind.REGISTRATION_RECEIVED:
            return
        try:
            if await self._mails.wake_for_registration(mail.registration_id):
                self.wake()
        except Exception:
            # They look again by themselves a little later.
            log.warning("mail_wake_failed", mail_id=mail.id, exc_info=True)

    async def _record_sent(self, mail: Mail, message_id: str, attempt: int) -> None:
        """Record ``sent``; a storage outage here is waited out, as the mail is already out.

        Until the lease is over nobody sends this mail again, so the write is
        retried for half the lease: a database restart (seconds) must not
        turn into a second copy. Only a crash of this process between the
        server's "250 OK" and this write still does (same Message-ID).
        """
        deadline = time.monotonic() + self._lease.total_seconds() / 2
        for attempt_to_write in itertools.count():
            try:
                await self._mails.mark_sent(mail, message_id, attempt=attempt)
            except Exception:
                if time.monotonic() >= deadline:
                    # It stays ``sending``: resent after the lease, counted as a
                    # possible duplicate. Better than losing the record silently.
                    log.error("mail_sent_not_recorded", mail_id=mail.id, exc_info=True)
                    return
                await asyncio.sleep(min(0.2 * 2**attempt_to_write, 2.0))
            else:
                await self._closed(mail)
                return

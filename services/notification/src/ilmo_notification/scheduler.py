"""The broadcast scheduler: turns each due broadcast into one recorded mail per recipient.

A ``runtime.Worker`` beside the mail dispatcher. It sleeps until the
earliest ``due_at`` on the schedule (at most ``poll_seconds``; anything
newly scheduled wakes it), then for each due broadcast:

1. records it as ``expanding`` (``broadcasts``), unless it already happened;
2. a reminder whose event has started by now is ``missed`` instead;
3. reads the event's roster (256 ``_id`` lookups) and picks the audience,
   among those accepted by the due time;
4. records one ``MailRequest`` per recipient, mail id
   ``<registration>:<kind>:<occasion>``: an insert, so a pass that dies
   midway and is repeated records each person's mail once;
5. records the broadcast ``done`` with its recipients, then deletes the
   schedule entry, and wakes the dispatcher, which sends.

Nothing lives only in memory: a process killed at any point leaves the entry
on the schedule (deleted last), and the next process expands it again.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ilmo_notification import broadcasting
from ilmo_notification.broadcasting import Broadcast, BroadcastState, Member
from ilmo_notification.domain import MailRequest
from ilmo_notification.metrics import (
    BROADCAST_RECIPIENTS,
    BROADCASTS,
    MAIL_INTENTS,
    SCHEDULE_LAG,
)
from ilmo_notification.storage import NotificationStores
from ilmo_notification.usecases import Wake
from ilmo_shared.clock import Clock, utc_now

log = structlog.get_logger(__name__)

# Mail intents recorded at once while expanding a broadcast.
_INSERTS_AT_ONCE = 32


class BroadcastScheduler:
    """A ``runtime.Worker``: started after the consumers, stopped before the relay's last flush."""

    def __init__(
        self,
        stores: NotificationStores,
        *,
        wake_dispatcher: Wake,
        poll_seconds: float = 15.0,
        clock: Clock = utc_now,
    ) -> None:
        self._stores = stores
        self._wake_dispatcher = wake_dispatcher
        self._poll = poll_seconds
        self._clock = clock
        self._look_now = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was scheduled (or the clock moved, in tests): look now."""
        self._look_now.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="broadcast-scheduler")

    async def stop(self) -> None:
        """Finish the broadcast being expanded, then return."""
        if self._task is None:
            return
        self._stopping = True
        self._look_now.set()
        task, self._task = self._task, None
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.run_due()
            except Exception:
                log.warning("broadcast_pass_failed", exc_info=True)
            if self._stopping:
                return
            await self._idle()

    async def _idle(self) -> None:
        timeout = self._poll
        try:
            next_due = await self._stores.schedule.next_due_at()
        except Exception:
            next_due = None
        if next_due is not None:
            seconds = (next_due - self._clock()).total_seconds()
            timeout = min(self._poll, max(seconds, 0.05))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._look_now.wait(), timeout=timeout)
        self._look_now.clear()

    async def run_due(self) -> int:
        """Expand every broadcast due now; how many (also how tests drive it)."""
        self._look_now.clear()
        due = await self._stores.schedule.due(self._clock())
        for broadcast in due:
            if self._stopping:
                break
            await self.expand(broadcast)
        return len(due)

    async def expand(self, broadcast: Broadcast) -> None:
        schedule = self._stores.schedule
        # Read again: a new revision may have moved it (or taken it off) since the due list.
        current = await schedule.entry(broadcast.key)
        if current is None or current.due_at > self._clock():
            return
        broadcast = current
        state = await schedule.begin(broadcast)
        if state in broadcasting.FINAL_STATES:
            await schedule.remove(broadcast.key)  # a repeat scheduled it after it happened
            return
        now = self._clock()
        bound = log.bind(broadcast=broadcast.key, kind=broadcast.kind.value)
        event = await self._stores.event_details.latest(broadcast.event_id)
        if broadcasting.missed(broadcast.kind, event, now):
            await schedule.finish(broadcast, BroadcastState.MISSED)
            BROADCASTS.labels(broadcast.kind.value, BroadcastState.MISSED.value).inc()
            bound.warning("reminder_missed", due_at=broadcast.due_at.isoformat())
            return
        members = await self._stores.roster.members(broadcast.event_id)
        chosen = broadcasting.recipients(members, broadcast.audience, accepted_by=broadcast.due_at)
        recorded = 0
        for start in range(0, len(chosen), _INSERTS_AT_ONCE):
            batch = chosen[start : start + _INSERTS_AT_ONCE]
            # Every insert of the batch ends before a failure is raised: none is left running.
            results = await asyncio.gather(
                *(self._record(broadcast, m) for m in batch), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            recorded += sum(1 for result in results if result is True)
        await schedule.finish(
            broadcast, BroadcastState.DONE, [member.registration_id for member in chosen]
        )
        BROADCASTS.labels(broadcast.kind.value, BroadcastState.DONE.value).inc()
        BROADCAST_RECIPIENTS.labels(broadcast.kind.value).inc(recorded)
        SCHEDULE_LAG.observe(max((now - broadcast.due_at).total_seconds(), 0.0))
        bound.info("broadcast_expanded", recipients=len(chosen), recorded=recorded)
        if recorded:
            self._wake_dispatcher()

    async def _record(self, broadcast: Broadcast, member: Member) -> bool:
        request = MailRequest(
            member.registration_id,
            broadcast.event_id,
            broadcast.kind,
            {**broadcast.details, **broadcasting.member_details(member)},
            broadcast.occasion,
        )
        recorded = await self._stores.mails.record_intent(
            request, cause=f"broadcast:{broadcast.key}"
        )
        MAIL_INTENTS.labels(broadcast.kind.value, "recorded" if recorded else "duplicate").inc()
        return recorded

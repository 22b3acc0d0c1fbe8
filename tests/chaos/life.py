"""The event's life in the chaos run: a change of time and organiser messages under faults.

While the load runs (once half the people have confirmed their address,
with switches and cancellations still to come, and faults while they last),
the organiser moves the event three minutes later over the API and sends a
message to everyone over the API (``PUT`` under its id, sent twice: the same
``message_id`` again).
After the run has settled, a second message goes to everyone: by then the
set of active registrants is known from outside, so that message has an
exact list of intended recipients.

Checked from outside (the SMTP server, notification's operations API):

- the change: at most one change notice per registrant, for the revision
  the change made, only to stored registrations; the schedule's reminders
  moved with the start;
- the message sent during the load: each recipient notification counted
  got it exactly once, none failed or is left, except those who cancelled
  before their copy went out (skipped: at most as many as cancelled); only
  stored registrations;
- the message sent after the run: exactly once to every active registrant
  (seat, waiting list, remote), none to the cancelled or unconfirmed;
- reminders: the chaos event has the default ones (a day and half an hour
  before), due before anyone registered, before and after the move, so
  none of them may come (a late reminder is one nobody should get); and
  one two minutes before the start, after the end of any run that keeps to
  its time: it must be in the schedule, moved with the start. Should a run
  last that long, its mails are checked as once each.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from ilmo_event_contracts import LocalizedText
from ilmo_event_contracts.events import DEFAULT_REMINDERS, Audience, Reminder
from tests.support.development import DEVELOPMENT
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually

# Mail kinds sent once per occasion (a reminder's offset, a revision, a message).
OCCASIONAL_KINDS = ("reminder", "event_changed", "organiser_message")
RETRYABLE = (409, 502, 503, 504)
# The defaults, past before anyone registers, and one due after the run.
LATE_REMINDER = Reminder(minutes_before=2, audience=Audience.ALL)
CHAOS_REMINDERS = (*DEFAULT_REMINDERS, LATE_REMINDER)
MOVED_BY = timedelta(minutes=3)
ACTIVE = ("seat_reserved", "waitlisted", "remote")


class Mail(Protocol):
    """What the checks read of a received mail (``tests.support.smtp.ReceivedMail``)."""

    @property
    def registration_id(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...


def occasion_of(mail: Mail) -> str:
    """The occasion in the Message-ID (``<rid>.<kind>.<occasion>@…``), empty if none."""
    message_id = (mail.message_id or "").strip()
    prefix = f"<{mail.registration_id}.{mail.kind}."
    if not message_id.startswith(prefix) or "@" not in message_id:
        return ""
    return message_id[len(prefix) : message_id.index("@")]


def message_text(text: str) -> LocalizedText:
    return LocalizedText(fi=f"{text} (fi)", sv=f"{text} (sv)", en=f"{text} (en)")


@dataclass
class EventLife:
    """The organiser's part of the run: the move and the messages, and what came of them."""

    registration_url: str
    notification_operations_url: str
    infrastructure: IsolatedInfrastructure
    event: dict[str, Any]
    # Set as the run goes.
    moved_to: datetime | None = None
    revision: int | None = None
    move_detail: str = ""
    during_load: str | None = None  # the message id of the message sent during the load
    after_run: str | None = None  # the one sent after the run settled
    requested_at: dict[str, float] = field(default_factory=dict)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    async def during(self, ready: Callable[[], bool]) -> None:
        """Once ``ready()`` (half the people confirmed): move the event, message everyone twice."""

        async def ready_now() -> bool:
            return ready()

        await eventually(ready_now, what="half the people confirmed", timeout=3600, interval=0.2)
        await self.move()
        message_id = str(uuid.uuid4())
        self.during_load = message_id
        await self.send(message_id, "Muutos ohjelmaan")
        # The organiser presses send again: the same message, one mail each.
        await self.send(message_id, "Muutos ohjelmaan")

    async def move(self) -> None:
        """The event three minutes later (stream links stay open: the start is still near)."""
        starts = datetime.fromisoformat(self.event["starts_at"]) + MOVED_BY
        ends = datetime.fromisoformat(self.event["ends_at"]) + MOVED_BY
        body = {"starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
        async with httpx.AsyncClient(base_url=self.registration_url, timeout=15) as client:
            for attempt in range(60):
                try:
                    answer = await client.patch(
                        f"/api/v1/events/{self.event_id}", json=body, headers=DEVELOPMENT
                    )
                except httpx.HTTPError as error:
                    self.move_detail = type(error).__name__
                    await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
                    continue
                if answer.status_code == 200:
                    self.moved_to, self.revision = starts, int(answer.json()["revision"])
                    self.move_detail = ""
                    print(f"event moved to {starts.isoformat()} (revision {self.revision})")
                    return
                self.move_detail = f"{answer.status_code} {answer.text[:200]}"
                if answer.status_code not in RETRYABLE and answer.status_code < 500:
                    break
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        self.problems.append(f"the event could not be moved: {self.move_detail}")

    async def send(self, message_id: str, title: str) -> None:
        """The organiser's message over the API (``PUT`` under its id), retried under faults.

        A retry after a lost answer is the same ``PUT``: the registration
        service stores and announces the message once (201, then 200).
        """
        body = {
            "audience": Audience.ALL.value,
            "title": message_text(title).model_dump(),
            "body": message_text(f"{title}: lue lisää tapahtuman sivulta.").model_dump(),
        }
        self.requested_at.setdefault(message_id, time.monotonic())
        path = f"/api/v1/events/{self.event_id}/messages/{message_id}"
        detail = ""
        async with httpx.AsyncClient(base_url=self.registration_url, timeout=15) as client:
            for attempt in range(60):
                try:
                    answer = await client.put(path, json=body, headers=DEVELOPMENT)
                except httpx.HTTPError as error:
                    detail = type(error).__name__
                    await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
                    continue
                if answer.status_code in (200, 201):
                    print(f"organiser message {message_id} sent ({answer.status_code})")
                    return
                detail = f"{answer.status_code} {answer.text[:200]}"
                if answer.status_code not in RETRYABLE and answer.status_code < 500:
                    break
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        self.problems.append(f"message {message_id} could not be sent: {detail}")

    async def after(self, timeout: float = 300.0) -> None:
        """Once the run has settled: the second message, until notification has sent it all."""
        message_id = str(uuid.uuid4())
        self.after_run = message_id
        await self.send(message_id, "Kiitos ilmoittautumisesta")
        await self.await_done(message_id, timeout)

    async def await_done(self, message_id: str, timeout: float) -> None:
        """Until notification says the message is done (or ``timeout``: then a problem)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(
            base_url=self.notification_operations_url, headers=DEVELOPMENT, timeout=15
        ) as client:
            while time.monotonic() < deadline:
                with suppress(httpx.HTTPError, ValueError, KeyError):
                    answer = await client.get(f"/api/v1/messages/{message_id}")
                    if answer.status_code == 200:
                        self.progress[message_id] = dict(answer.json())
                        if answer.json()["state"] == "done":
                            return
                await asyncio.sleep(0.5)
        self.problems.append(f"message {message_id} not done after {timeout:.0f}s")

    async def observe(self) -> None:
        """What notification says at the end: each message's progress, the schedule."""
        async with httpx.AsyncClient(
            base_url=self.notification_operations_url, headers=DEVELOPMENT, timeout=15
        ) as client:
            for message_id in (self.during_load, self.after_run):
                if message_id is None:
                    continue
                with suppress(httpx.HTTPError, ValueError, KeyError):
                    answer = await client.get(f"/api/v1/messages/{message_id}")
                    if answer.status_code == 200:
                        self.progress[message_id] = dict(answer.json())
            with suppress(httpx.HTTPError, ValueError, KeyError):
                answer = await client.get(f"/api/v1/events/{self.event_id}/schedule")
                if answer.status_code == 200:
                    self.schedule = list(answer.json()["items"])


def check_life(
    life: EventLife,
    mails: Sequence[Mail],
    registrations: Sequence[dict[str, Any]],
    figures: Counter[str],
    violations: list[str],
) -> None:
    """Every invariant of the move and the messages (see the module's docstring)."""
    violations += life.problems
    status_of = {str(r["id"]): str(r["status"]) for r in registrations}
    by_kind: defaultdict[str, list[Mail]] = defaultdict(list)
    for mail in mails:
        if mail.kind in OCCASIONAL_KINDS:
            by_kind[str(mail.kind)].append(mail)
            if str(mail.registration_id) not in status_of:
                violations.append(f"{mail.kind} mail to {mail.registration_id}, not registered")

    # Reminders: the defaults were due before anyone registered; the last one
    # comes only if the run outlasted it, then once each.
    reminders = by_kind["reminder"]
    figures["reminder mails"] = len(reminders)
    last = f"m{LATE_REMINDER.minutes_before}"
    for mail in reminders:
        if occasion_of(mail) != last:
            violations.append(
                f"late reminder {occasion_of(mail)} to {mail.registration_id}: it was due "
                "before anyone registered"
            )
    check_once_each(reminders, "reminder", figures, violations)
    check_schedule(life, figures, violations)

    # The change of time.
    changes = by_kind["event_changed"]
    figures["change notices"] = len(changes)
    for mail in changes:
        if life.revision is not None and occasion_of(mail) != f"r{life.revision}":
            violations.append(
                f"change notice {occasion_of(mail)} to {mail.registration_id}: the only change "
                f"made revision {life.revision}"
            )
    check_once_each(changes, "change notice", figures, violations)

    # The message sent during the load: once to each recipient notification counted.
    if life.during_load is not None:
        during = [m for m in by_kind["organiser_message"] if occasion_of(m) == life.during_load]
        check_once_each(during, "message during the load", figures, violations)
        figures["message during the load: recipients mailed"] = len(
            {m.registration_id for m in during}
        )
        cancelled = sum(status == "cancelled" for status in status_of.values())
        check_progress(
            life,
            life.during_load,
            len({m.registration_id for m in during}),
            violations,
            figures,
            may_cancel=cancelled,
        )

    # The message sent after the run: exactly the active registrants.
    if life.after_run is not None:
        after = [m for m in by_kind["organiser_message"] if occasion_of(m) == life.after_run]
        check_once_each(after, "message after the run", figures, violations)
        mailed = {str(m.registration_id) for m in after}
        active = {rid for rid, status in status_of.items() if status in ACTIVE}
        figures["message after the run: active registrants / mailed"] = len(active)
        for rid in sorted(active - mailed):
            figures["messages missing"] += 1
            violations.append(f"missing message after the run for {rid} ({status_of[rid]})")
        for rid in sorted(mailed - active):
            figures["messages to the cancelled or unconfirmed"] += 1
            violations.append(f"message after the run to {rid}, which is {status_of.get(rid)}")
        check_progress(life, life.after_run, len(active), violations, figures)

    unknown = {occasion_of(m) for m in by_kind["organiser_message"]} - {
        life.during_load,
        life.after_run,
    }
    for occasion in sorted(unknown):
        violations.append(f"organiser message mails for a message nobody sent: {occasion}")


def check_once_each(
    mails: Sequence[Mail], what: str, figures: Counter[str], violations: list[str]
) -> None:
    """No registrant got the same occasion twice under two Message-IDs.

    The same Message-ID twice is a resend after a crash (see
    ``run.check_emails``, which counts those against the crashes).
    """
    ids: defaultdict[tuple[str | None, str], set[str | None]] = defaultdict(set)
    for mail in mails:
        ids[(mail.registration_id, occasion_of(mail))].add(mail.message_id)
    for (rid, occasion), message_ids in sorted(ids.items(), key=str):
        if len(message_ids) > 1:
            figures[f"{what}: duplicated"] += len(message_ids) - 1
            violations.append(f"{what} {occasion} to {rid} under {len(message_ids)} Message-IDs")


def check_progress(
    life: EventLife,
    message_id: str,
    mailed: int,
    violations: list[str],
    figures: Counter[str],
    *,
    may_cancel: int = 0,
) -> None:
    """Notification's account of a message: done, none failed, as many sent as arrived.

    A recipient who cancels before their copy goes out gets none (the mail is
    skipped, and counted neither sent nor failed nor pending): at most
    ``may_cancel`` of them, those who cancelled after the message was asked for.
    """
    progress = life.progress.get(message_id)
    if progress is None:
        violations.append(f"notification never reported on message {message_id}")
        return
    state, recipients = progress.get("state"), int(progress.get("recipients", -1))
    sent, failed = int(progress.get("sent", -1)), int(progress.get("failed", -1))
    pending = int(progress.get("pending", -1))
    skipped = recipients - sent - failed - pending
    figures["messages skipped (the recipient cancelled meanwhile)"] += max(0, skipped)
    if (state, failed, pending) != ("done", 0, 0) or not 0 <= skipped <= may_cancel:
        violations.append(
            f"message {message_id}: {state}, {recipients} recipients, {sent} sent, "
            f"{failed} failed, {pending} pending ({may_cancel} cancelled since it was asked for)"
        )
    if sent != mailed:
        violations.append(
            f"message {message_id}: notification counts {sent} sent, {mailed} registrants got it"
        )


def check_schedule(life: EventLife, figures: Counter[str], violations: list[str]) -> None:
    """The reminders moved with the start: each listed is due its minutes before the new start.

    Whether a reminder already past is listed (as missed) is the schedule's
    choice; one listed at its time before the move is a violation.
    """
    if life.moved_to is None:
        return
    reminders = [item for item in life.schedule if item.get("kind") == "reminder"]
    figures["reminders in the schedule"] = len(reminders)
    expected = {life.moved_to - timedelta(minutes=r.minutes_before) for r in CHAOS_REMINDERS}
    last_due = life.moved_to - timedelta(minutes=LATE_REMINDER.minutes_before)
    if not any(datetime.fromisoformat(str(item["due_at"])) == last_due for item in reminders):
        violations.append(
            f"the schedule has no reminder due {last_due.isoformat()}, "
            f"{LATE_REMINDER.minutes_before} min before the new start"
        )
    for item in reminders:
        due = datetime.fromisoformat(str(item["due_at"]))
        if due not in expected:
            violations.append(
                f"reminder {item.get('key')} due {due.isoformat()}: not moved with the start "
                f"(expected one of {sorted(d.isoformat() for d in expected)})"
            )

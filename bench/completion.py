"""When is a registration done? Observed from outside only: the broker and the SMTP server.

A registration is *complete* when every effect it is owed has been seen:

- in person, with a seat: ``seat.reserved`` on ``ilmo.events``, and the
  ``registration_received`` and ``seat_confirmed`` mails at the SMTP server;
- in person, on the waiting list: ``seat.waitlisted`` and
  ``stream.link.provisioned``, and the ``registration_received``,
  ``waitlisted`` and ``stream_link`` mails;
- remote: ``stream.link.provisioned``, and the ``registration_received`` and
  ``stream_link`` mails.

For an event that asks registrants to confirm their address (the
default), the first mail is ``confirm_address`` instead of
``registration_received``, and the registration is accepted only once the
benchmark, as the person, followed its link (``bench.confirm``).

(The mail kinds per status are notification's: ``services/notification``.)
Its completion time is the arrival time of the last of those facts, so the
time from POST to complete is that minus the POST's send time.

``CompletionTracker`` is pure bookkeeping (unit-tested); ``EventObserver`` is
the AMQP side: a private queue bound with ``#`` to ``ilmo.events`` in the
run's vhost, i.e. an integrating system's view, which also counts every
message the pipeline publishes there.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

EVENTS_EXCHANGE = "ilmo.events"

ACCEPTED = "registration.accepted"
SEAT_RESERVED = "seat.reserved"
SEAT_WAITLISTED = "seat.waitlisted"
LINK_PROVISIONED = "stream.link.provisioned"

RECEIVED = "registration_received"
CONFIRM_ADDRESS = "confirm_address"
SEAT_CONFIRMED = "seat_confirmed"
WAITLISTED = "waitlisted"
STREAM_LINK = "stream_link"

IN_PERSON = "in_person"
REMOTE = "remote"


def requirements(
    attendance: str, seat: str | None, first_mail: str = RECEIVED
) -> tuple[set[str], set[str]] | None:
    """(event types, mail kinds) a registration is owed; None while it is not yet knowable.

    An in-person registration's needs depend on its seat decision, so they
    are unknown until ``seat.reserved`` or ``seat.waitlisted`` was seen.
    ``first_mail``: ``confirm_address`` when the event asks for confirmation.
    """
    if attendance == REMOTE:
        return {ACCEPTED, LINK_PROVISIONED}, {first_mail, STREAM_LINK}
    if seat == SEAT_RESERVED:
        return {ACCEPTED, SEAT_RESERVED}, {first_mail, SEAT_CONFIRMED}
    if seat == SEAT_WAITLISTED:
        return (
            {ACCEPTED, SEAT_WAITLISTED, LINK_PROVISIONED},
            {first_mail, WAITLISTED, STREAM_LINK},
        )
    return None


@dataclass
class Progress:
    """What has been seen of one registration: first arrival time of each fact."""

    attendance: str | None = None
    seat: str | None = None
    events: dict[str, float] = field(default_factory=dict)
    mails: dict[str, float] = field(default_factory=dict)
    completed_at: float | None = None


class CompletionTracker:
    """Collects arrivals (in any order, repeats allowed) and completes registrations.

    Mails arrive in the SMTP server's thread and messages in the event loop's:
    every update takes the tracker's lock.
    """

    def __init__(self, first_mail: str = RECEIVED) -> None:
        self.first_mail = first_mail
        self._lock = threading.Lock()
        self.registrations: dict[str, Progress] = {}
        self.messages: Counter[str] = Counter()
        self.mails: Counter[str] = Counter()
        self.first_message_at: float | None = None
        self.last_message_at: float | None = None
        self.last_completion_at: float | None = None
        self.completed = 0

    def _progress(self, registration_id: str) -> Progress:
        progress = self.registrations.get(registration_id)
        if progress is None:
            progress = self.registrations[registration_id] = Progress()
        return progress

    def on_message(
        self,
        at: float,
        routing_key: str,
        registration_id: str | None,
        attendance: str | None = None,
    ) -> None:
        """One message seen on ``ilmo.events`` at ``at`` (seconds since the epoch)."""
        with self._lock:
            self._message(at, routing_key, registration_id, attendance)

    def _message(
        self, at: float, routing_key: str, registration_id: str | None, attendance: str | None
    ) -> None:
        self.messages[routing_key] += 1
        if self.first_message_at is None or at < self.first_message_at:
            self.first_message_at = at
        if self.last_message_at is None or at > self.last_message_at:
            self.last_message_at = at
        if registration_id is None:
            return
        progress = self._progress(registration_id)
        progress.events.setdefault(routing_key, at)
        if routing_key == ACCEPTED and attendance is not None:
            progress.attendance = attendance
        if routing_key in (SEAT_RESERVED, SEAT_WAITLISTED) and progress.seat is None:
            progress.seat = routing_key  # the first decision; promotions come later
        self._check(progress)

    def on_mail(self, at: float, registration_id: str | None, kind: str | None) -> None:
        """One mail taken by the SMTP server at ``at``."""
        with self._lock:
            self._mail(at, registration_id, kind)

    def _mail(self, at: float, registration_id: str | None, kind: str | None) -> None:
        self.mails[kind or "?"] += 1
        if registration_id is None or kind is None:
            return
        progress = self._progress(registration_id)
        progress.mails.setdefault(kind, at)
        self._check(progress)

    def _check(self, progress: Progress) -> None:
        if progress.completed_at is not None or progress.attendance is None:
            return
        needs = requirements(progress.attendance, progress.seat, self.first_mail)
        if needs is None:
            return
        events, mails = needs
        if not (events <= progress.events.keys() and mails <= progress.mails.keys()):
            return
        progress.completed_at = max(
            [progress.events[e] for e in events] + [progress.mails[m] for m in mails]
        )
        self.completed += 1
        if self.last_completion_at is None or progress.completed_at > self.last_completion_at:
            self.last_completion_at = progress.completed_at

    def completed_at(self, registration_id: str) -> float | None:
        progress = self.registrations.get(registration_id)
        return None if progress is None else progress.completed_at

    def stages(self, sent_at: dict[str, float]) -> dict[str, list[float]]:
        """Per fact (``event:<type>`` / ``mail:<kind>``), seconds from each POST to its arrival.

        The breakdown of the time to complete: which effect comes late.
        Seat decisions are grouped as ``event:seat decision``.
        """
        stages: dict[str, list[float]] = {}
        with self._lock:
            for registration_id, sent in sent_at.items():
                progress = self.registrations.get(registration_id)
                if progress is None:
                    continue
                for event, at in progress.events.items():
                    name = "seat decision" if event in (SEAT_RESERVED, SEAT_WAITLISTED) else event
                    stages.setdefault(f"event:{name}", []).append(at - sent)
                for kind, at in progress.mails.items():
                    stages.setdefault(f"mail:{kind}", []).append(at - sent)
        return stages

    def missing(self, registration_id: str) -> list[str]:
        """What a registration still waits for (for the report of incomplete ones)."""
        progress = self.registrations.get(registration_id)
        if progress is None or progress.attendance is None:
            return [ACCEPTED]
        needs = requirements(progress.attendance, progress.seat, self.first_mail)
        if needs is None:
            return ["seat decision"]
        events, mails = needs
        return sorted(events - progress.events.keys()) + sorted(
            f"mail:{m}" for m in mails - progress.mails.keys()
        )


def parse_message(body: bytes) -> tuple[str | None, str | None]:
    """(registration_id, attendance) from an event body; Nones for other events."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    registration_id = data.get("registration_id")
    attendance = data.get("attendance")
    return (
        str(registration_id) if registration_id is not None else None,
        str(attendance) if attendance is not None else None,
    )


class EventObserver:
    """A private, exclusive queue bound with ``#`` to ``ilmo.events``; feeds a tracker.

    Consumed without acknowledgements (``no_ack``), so observing costs the
    broker one more queue to route to and little else. The arrival time is
    when the message reached this process.
    """

    def __init__(self, on_message: Callable[[float, str, str | None, str | None], None]) -> None:
        self._on_message = on_message
        self._connection: AbstractRobustConnection | None = None
        self.queue_name = f"bench.observer.{uuid.uuid4().hex[:8]}"

    async def start(self, amqp_url: str) -> None:
        """Bind and consume; the exchange is declared as the services declare it."""
        self._connection = await aio_pika.connect_robust(amqp_url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=2000)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(self.queue_name, exclusive=True)
        await queue.bind(exchange, "#")

        async def record(message: AbstractIncomingMessage) -> None:
            at = time.time()
            registration_id, attendance = parse_message(message.body)
            self._on_message(at, str(message.routing_key or ""), registration_id, attendance)

        await queue.consume(record, no_ack=True)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

"""Chaos run: registrations and cancellations under SIGKILLed services, then invariants.

Run as ``uv run python -m tests.chaos.run --seed 7 --registrations 2000
--concurrency 16 --faults 30`` (``make test-chaos``; ``make test`` runs a short
one). It is a program, not a pytest module: it owns and kills a broker and a
database, which a test session sharing them must not see.

What it does:

1. Starts its own RabbitMQ node and FerretDB server (``infrastructure.py``),
   an SMTP server, the four services as processes, and an external
   subscriber (its own quorum queue bound to ``ilmo.events`` with ``#``)
   recording every integration event it sees. Every invariant it checks
   (one id per logical event, every fact announced) holds for the
   integration events alone; it also checks that none of them carries a
   registrant's name or email address.
2. Creates one event starting in a few minutes (stream links in their window)
   that asks registrants to confirm their address, drives N registrations
   over HTTP at concurrency C with a retrying client, then confirms each
   address as its person would: from the "confirm your address" mail that
   reached the SMTP server, opening the link and pressing the page's button
   (the manage link that leads to is the person's from then on); then about
   a fifth of the confirmed switch attendance once or twice (on site <->
   remote, each switch answered before the next), and then about 10 % of the
   confirmed ones cancel. Every attempt of a person's POST carries the
   same ``Idempotency-Key``, so a retry after an ambiguous failure gets the
   first answer back: the 202's id must be the stored registration's, and
   its token must open it ("token unknown" is a violation). A person is
   still identified by their address: exactly one registration is stored
   per address.
3. Meanwhile a seeded fault injector, one fault at a time, SIGKILLs (or, one
   time in four, SIGTERMs) a random service, or SIGKILLs the RabbitMQ node or
   the FerretDB server, and restarts it after 1-3 s; or restarts a service
   while the broker or the database is down (it must wait for it, not exit);
   or kills every process and starts them all again in a random order.
   With ``--replicas 2`` every service runs as two processes on one
   database and vhost (leases on, ``ILMO_REPLICA_LEASES``), the load and the
   people's links go to either registration replica, and a service fault
   hits one replica while the other goes on.
   After each fault it waits until every service is ready and records how
   long that took and what the slowest service waited for last.
4. Waits until the observable outcomes stop changing with no work
   outstanding (a run fails only when nothing progresses for ``--stall``
   seconds while work is outstanding), then checks invariants from outside
   (HTTP, AMQP, SMTP), prints a summary and exits non-zero on any
   violation. One thing it reads behind the services' backs: the events
   they stored and have not published yet (``Outboxes``). Such an event
   is invisible from outside until it goes out, so a run must not settle
   while one waits, and one left at the end is a violation of its own,
   not a mail or a status its consumers seem to have missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import httpx
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from examples.subscriber import Reading, Subscription
from ilmo_shared.storage import OUTBOX_FIELD, Document
from tests.chaos.infrastructure import ChaosInfrastructure
from tests.chaos.life import CHAOS_REMINDERS, OCCASIONAL_KINDS, EventLife, check_life
from tests.support.amqp import declare_integration_exchange
from tests.support.confirmation import confirmation_link_in, follow_confirmation
from tests.support.infrastructure import IsolatedInfrastructure, first_node
from tests.support.polling import eventually
from tests.support.processes import SERVICES, ServiceProcess, running_services
from tests.support.registration import ADMIN, event_payload
from tests.support.smtp import SmtpTestServer

FINAL = ("seat_reserved", "waitlisted", "remote", "cancelled")
# Waiting for a person, not for the system: no work outstanding.
PENDING = "pending_confirmation"
# Kinds a repeat registration may send again: one mail per repeat (its own
# Message-ID), announced on ilmo.internal only.
REPEATABLE_KINDS = ("confirm_address", "already_registered")
MANAGE_REDIRECT = re.compile(r"manage/([0-9a-f-]{36})\?token=([A-Za-z0-9_-]+)")
STREAM_URL = "https://stream.example.fi/live/chaos"
LINK = re.compile(r"https?://[^\s\"'<>]+/watch/[A-Za-z0-9_-]+")
RETRYABLE = (502, 503, 504)
MAIL_CONCURRENCY = 4  # notification's ILMO_MAIL_CONCURRENCY default: mails in flight at once
# Notification mail states that mean "will still be sent": not settled while any remain.
IN_FLIGHT = ("pending", "sending", "waiting")


# ------------------------------------------------------------------ observer


@dataclass
class Subscriber:
    """An integrating system's own durable queue on ``ilmo.events`` (integration events)."""

    messages: list[tuple[str | None, str, str, dict[str, Any]]] = field(default_factory=list)
    subscription: Subscription | None = None

    def record(self, message: AbstractIncomingMessage) -> None:
        try:
            data = json.loads(message.body)
        except ValueError:
            data = {}
        digest = hashlib.sha256(message.body).hexdigest()
        self.messages.append((message.message_id, str(message.routing_key or ""), digest, data))

    @property
    def listening(self) -> bool:
        """Subscribed right now: what is published reaches it, or waits in its queue for it."""
        return self.subscription is not None and self.subscription.consuming


async def subscribe(
    infrastructure: IsolatedInfrastructure, subscriber: Subscriber
) -> asyncio.Task[None]:
    """The outside system: an integrator user, which may bind its own queues to ilmo.events.

    It stays subscribed as the example integrators copy does
    (``examples.subscriber.Subscription``): plain connections, each one
    declaring, binding and consuming afresh, with a backoff between attempts;
    not ``connect_robust``, which after a broker kill sometimes came back
    without its consumer. It logs each loss and new subscription on stderr.
    Returns once it has subscribed, with the task that keeps it so.
    """
    # The operator declares the exchange (as the services do when they start); an
    # integrator may only look it up.
    # One node of a cluster (the first): an outside system connects where it
    # chooses; when that node is killed it reconnects once the node is back,
    # and its quorum queue, replicated on the others, keeps what arrives meanwhile.
    await declare_integration_exchange(first_node(infrastructure.amqp_url))
    queue_name = infrastructure.integrator_queue("chaos", "subscriber")

    async def declare(channel: AbstractChannel) -> Reading:
        exchange = await channel.get_exchange("ilmo.events")
        # As an integrating system would: a quorum queue survives a broker crash.
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, "#")
        return Reading(queue)

    async def deliver(message: AbstractIncomingMessage) -> None:
        subscriber.record(message)
        await message.ack()

    url = first_node(infrastructure.integrator("chaos"))
    subscription = Subscription(url, declare, deliver, prefetch=100)
    subscriber.subscription = subscription
    task = asyncio.create_task(subscription.run())

    async def subscribed() -> bool:
        if task.done():
            task.result()  # raises why it stopped
        return subscription.subscribed > 0

    await eventually(subscribed, what="the outside subscriber's first subscription")
    return task


def log_subscriber_to_stderr() -> None:
    """The subscriber's losses and new subscriptions, on stderr, apart from the summary."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("subscriber: %(asctime)s %(message)s"))
    subscriber_log = logging.getLogger("examples.subscriber")
    subscriber_log.addHandler(handler)
    subscriber_log.setLevel(logging.INFO)
    subscriber_log.propagate = False


# ------------------------------------------------------------------ load


@dataclass
class Outcome:
    """What the client knows about one attempted registration."""

    email: str
    attendance: str
    registration_id: str | None = None
    token: str | None = None
    # Sent with every attempt of the POST, so a retry gets the first answer back.
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    # What the 202 answered: the registration's own id and token, retries or not.
    receipt_id: str | None = None
    receipt_token: str | None = None
    result: str = "pending"  # accepted (a 202) | gave-up | rejected
    attempts: int = 0
    detail: str = ""
    # Confirmed from the mail: registration_id and token are then the manage link's.
    confirmed: bool = False
    confirm_detail: str = ""
    cancel_requested: bool = False
    cancelled: bool = False
    # Switches of attendance: how many were planned, the attendance version each
    # one answered (2, 3, ...), and why the last one failed, if it did.
    switches_planned: int = 0
    switched_versions: list[int] = field(default_factory=list)
    switch_detail: str = ""

    @property
    def current_attendance(self) -> str:
        """The attendance after the switches that were answered."""
        return attendance_at(self.attendance, 1 + len(self.switched_versions))


def _in_progress(answer: httpx.Response) -> bool:
    """A 409 saying a request under the same Idempotency-Key is still being processed."""
    if answer.status_code != 409:
        return False
    with contextlib.suppress(ValueError):
        return bool(answer.json().get("type") == "/problems/request-in-progress")
    return False


def attendance_at(initial: str, version: int) -> str:
    """The attendance at ``version`` of a registration that started as ``initial``.

    Every switch goes to the other attendance, so odd versions are the
    initial one and even versions the other.
    """
    other = "remote" if initial == "in_person" else "in_person"
    return initial if version % 2 == 1 else other


@dataclass
class Load:
    # Each request goes to one of these, at random: replicas behind a load balancer.
    registration_urls: tuple[str, ...]
    event_id: str
    concurrency: int
    jitter: random.Random
    smtp: SmtpTestServer
    mail_wait: float = 600.0
    outcomes: list[Outcome] = field(default_factory=list)
    retries: int = 0
    confirm_seconds: list[float] = field(default_factory=list)

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> tuple[httpx.Response | None, bool]:
        """One attempt: (response, ambiguous); ambiguous means "may have been stored"."""
        try:
            return await client.request(method, self.replica_url(path), **kwargs), False
        except httpx.HTTPError:
            return None, True

    def replica_url(self, url: str) -> str:
        """``url`` (a path, or a link to the first replica) at a registration replica."""
        first, *others = self.registration_urls
        chosen = self.jitter.choice(self.registration_urls) if others else first
        return chosen + url.removeprefix(first)

    async def backoff(self, attempt: int) -> None:
        self.retries += 1
        await asyncio.sleep(min(0.1 * 2**attempt, 3.0) * (0.5 + self.jitter.random()))

    async def privacy_notice_version(self) -> str:
        """The version of the event's privacy notice, which every person is shown first."""
        async with httpx.AsyncClient(timeout=15) as client:
            for attempt in range(10):
                answer, _ = await self._send(
                    client, "GET", f"/api/v1/events/{self.event_id}/privacy-notice"
                )
                if answer is not None and answer.status_code == 200:
                    return str(answer.json()["version"])
                await self.backoff(attempt)
        raise RuntimeError("the event's privacy notice could not be read")

    async def register(
        self, client: httpx.AsyncClient, outcome: Outcome, body: dict[str, Any]
    ) -> None:
        for attempt in range(40):
            outcome.attempts += 1
            answer, _ = await self._send(
                client,
                "POST",
                f"/api/v1/events/{self.event_id}/registrations",
                json=body,
                headers={"Idempotency-Key": outcome.idempotency_key},
            )
            if answer is not None and _in_progress(answer):
                # An earlier attempt under the key still runs (or died): wait, ask again.
                await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 3.0))
                self.retries += 1
                continue
            if answer is None or answer.status_code in RETRYABLE or answer.status_code >= 500:
                if answer is not None and answer.status_code >= 500:
                    outcome.detail = f"last {answer.status_code}"
                await self.backoff(attempt)
                continue
            if answer.status_code == 202:
                # The same key on every attempt: after an ambiguous one, the answer
                # is still the registration's own id and token (checked in check()).
                receipt = answer.json()
                outcome.registration_id = outcome.receipt_id = str(receipt["id"])
                outcome.token = outcome.receipt_token = str(receipt["manage_token"])
                outcome.result = "accepted"
                return
            outcome.result = "rejected"
            outcome.detail = f"{answer.status_code} {answer.text[:200]}"
            return
        outcome.result = "gave-up"

    def confirmation_link_for(self, email: str) -> str | None:
        """The link of a "confirm your address" mail that reached ``email``, if one has."""
        for mail in self.smtp.matching(kind="confirm_address"):
            if email.lower() in (r.lower() for r in mail.recipients):
                return confirmation_link_in(mail.text())
        return None

    async def confirm(
        self,
        client: httpx.AsyncClient,
        outcome: Outcome,
        gate: asyncio.Semaphore,
        deadline: float | None,
    ) -> None:
        """Confirm as the person would, from their mail; until ``deadline`` for it to come.

        Waiting for the mail takes no place at the gate; the requests do.
        """
        link = self.confirmation_link_for(outcome.email)
        while link is None and deadline is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # until the mail is there (SMTP has no callback)
            link = self.confirmation_link_for(outcome.email)
        if link is None:
            outcome.confirm_detail = "no confirmation mail" if deadline is not None else ""
            return
        async with gate:
            await self._confirm_from(client, outcome, link)

    async def _confirm_from(self, client: httpx.AsyncClient, outcome: Outcome, link: str) -> None:
        started = time.monotonic()
        for attempt in range(40):
            try:
                answer = await follow_confirmation(client, self.replica_url(link))
            except (httpx.HTTPError, AssertionError) as error:  # a service down, a 503 page
                outcome.confirm_detail = f"confirm: {type(error).__name__}"
                await self.backoff(attempt)
                continue
            if answer.status_code in RETRYABLE or answer.status_code >= 500:
                outcome.confirm_detail = f"confirm {answer.status_code}"
                await self.backoff(attempt)
                continue
            found = MANAGE_REDIRECT.search(answer.headers.get("location", ""))
            if answer.status_code == 303 and found:
                outcome.registration_id, outcome.token = found.group(1), found.group(2)
                outcome.confirmed, outcome.confirm_detail = True, ""
                self.confirm_seconds.append(time.monotonic() - started)
                return
            outcome.confirm_detail = f"confirm {answer.status_code} {answer.text[:100]}"
            return

    async def cancel(self, client: httpx.AsyncClient, outcome: Outcome) -> None:
        outcome.cancel_requested = True
        headers = {"Authorization": f"Bearer {outcome.token}"}
        for attempt in range(40):
            answer, _ = await self._send(
                client,
                "DELETE",
                f"/api/v1/registrations/{outcome.registration_id}",
                headers=headers,
            )
            if answer is not None and answer.status_code in (200, 204):
                outcome.cancelled = True
                return
            if answer is not None and answer.status_code < 500:
                outcome.detail = f"cancel {answer.status_code} {answer.text[:200]}"
                return
            await self.backoff(attempt)

    async def switch(self, client: httpx.AsyncClient, outcome: Outcome) -> None:
        """Switch to the other attendance, retrying as a mobile client would.

        A retry after an ambiguous attempt asks for the same attendance,
        which the service answers as done if the first attempt was stored.
        """
        wanted = "remote" if outcome.current_attendance == "in_person" else "in_person"
        headers = {"Authorization": f"Bearer {outcome.token}"}
        for attempt in range(40):
            answer, _ = await self._send(
                client,
                "PUT",
                f"/api/v1/registrations/{outcome.registration_id}/attendance",
                json={"attendance": wanted},
                headers=headers,
            )
            if answer is not None and answer.status_code == 200:
                version = int(answer.json()["attendance_version"])
                if answer.json()["attendance"] != wanted:
                    outcome.switch_detail = f"switch to {wanted} answered {answer.text[:200]}"
                    return
                outcome.switched_versions.append(version)
                return
            if answer is not None and answer.status_code < 500:
                outcome.switch_detail = f"switch {answer.status_code} {answer.text[:200]}"
                return
            await self.backoff(attempt)
        outcome.switch_detail = "switch: gave up"

    async def run(self, count: int, plan: random.Random, spread: float) -> None:
        """Register ``count`` people, their starts spread over ``spread`` seconds, then cancel."""
        notice_version = await self.privacy_notice_version()
        people = []
        for n in range(count):
            attendance = "in_person" if plan.random() < 0.6 else "remote"
            body: dict[str, Any] = {
                "first_name": f"Kaaos{n}",
                "last_name": "Testinen",
                "email": f"chaos{n}.{uuid.uuid4().hex[:6]}@example.fi",
                "organisation": "Kunta",
                "attendance": attendance,
                "language": plan.choice(("fi", "sv", "en")),
                "privacy_notice_version": notice_version,
            }
            self.outcomes.append(Outcome(email=body["email"], attendance=attendance))
            people.append(body)
        gate = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=15) as client:

            async def one(outcome: Outcome, body: dict[str, Any], at: float) -> None:
                await asyncio.sleep(at)
                async with gate:
                    await self.register(client, outcome, body)

            await asyncio.gather(
                *(
                    one(o, b, n * spread / count)
                    for n, (o, b) in enumerate(zip(self.outcomes, people, strict=True))
                )
            )

            # People confirm from their mails: those answered 202 wait for theirs; a
            # person who gave up confirms only if a mail came anyway.
            deadline = time.monotonic() + self.mail_wait
            accepted = [o for o in self.outcomes if o.result == "accepted"]
            others = [o for o in self.outcomes if o.result != "accepted"]
            await asyncio.gather(*(self.confirm(client, o, gate, deadline) for o in accepted))
            await asyncio.gather(*(self.confirm(client, o, gate, None) for o in others))
            confirmed = [o for o in self.outcomes if o.confirmed]
            for outcome in plan.sample(confirmed, len(confirmed) // 5):
                outcome.switches_planned = plan.choice((1, 2))

            async def switch_all(outcome: Outcome) -> None:
                for _ in range(outcome.switches_planned):
                    async with gate:
                        await self.switch(client, outcome)
                    if outcome.switch_detail:
                        return

            await asyncio.gather(*(switch_all(o) for o in confirmed if o.switches_planned))
            leaving = plan.sample(confirmed, len(confirmed) // 10)

            async def leave(outcome: Outcome) -> None:
                async with gate:
                    await self.cancel(client, outcome)

            await asyncio.gather(*(leave(o) for o in leaving))


# ------------------------------------------------------------------ faults


BROKER, DATABASE = "rabbitmq", "ferretdb"
SERVERS = (BROKER, DATABASE)
# Kinds of fault besides killing one service or one server.
SERVICE_DURING_OUTAGE = "service-during-outage"  # a service (re)starts while a server is down
EVERYTHING = "everything"  # every process is killed, then all start at once in a random order


@dataclass(frozen=True)
class Fault:
    """One fault: a kind, and the service and server it hits where the kind has them."""

    kind: str
    service: str | None = None
    server: str | None = None

    def __str__(self) -> str:
        if self.kind == SERVICE_DURING_OUTAGE:
            return f"{self.service} restarted while {self.server} is down"
        if self.kind == EVERYTHING:
            return "everything killed, restarted in a random order"
        return str(self.service or self.server)


def fault_plan(rng: random.Random, faults: int, processes: Sequence[str]) -> list[Fault]:
    """Which fault comes when: every kind at least once, then at random.

    ``processes`` are the service processes a service fault may hit.
    """

    def service() -> Fault:
        return Fault("service", service=rng.choice(processes))

    def server(name: str) -> Fault:
        return Fault("server", server=name)

    def during_outage(name: str) -> Fault:
        return Fault(SERVICE_DURING_OUTAGE, service=rng.choice(processes), server=name)

    def everything() -> Fault:
        return Fault(EVERYTHING)

    every_kind = [
        service(),
        server(BROKER),
        server(DATABASE),
        during_outage(BROKER),
        during_outage(DATABASE),
        everything(),
    ]
    plan = every_kind[:faults]
    # Mostly single services, as before; the heavier kinds now and then.
    makers: list[Callable[[], Fault]] = [
        service,
        service,
        service,
        service,
        partial(server, BROKER),
        partial(server, DATABASE),
        partial(during_outage, BROKER),
        partial(during_outage, DATABASE),
        everything,
    ]
    plan += [rng.choice(makers)() for _ in range(faults - len(plan))]
    rng.shuffle(plan)
    return plan


@dataclass
class Recovery:
    """How long until every service was ready again, and what the slowest last waited for."""

    seconds: float
    slowest: str
    waited_for: str
    # When the servers hit by the fault answered again, seconds after the fault.
    servers_answered: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        servers = "".join(
            f"{name} answered after {seconds:.1f}s, "
            for name, seconds in sorted(self.servers_answered.items())
        )
        return (
            f"{servers}all services ready after {self.seconds:.1f}s "
            f"(last: {self.slowest}, which waited for {self.waited_for})"
        )


@dataclass
class FaultInjector:
    """Injects one fault at a time, restarts what it hit, and waits until every service is ready."""

    services: dict[str, ServiceProcess]
    infrastructure: ChaosInfrastructure
    rng: random.Random
    faults: int
    injected: Counter[str] = field(default_factory=Counter)
    # SIGKILLs per process, whatever fault they were part of.
    killed: Counter[str] = field(default_factory=Counter)
    recovery: defaultdict[str, list[Recovery]] = field(default_factory=lambda: defaultdict(list))
    log: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Monotonic time at which each server last answered again after a start.
    answered_at: dict[str, float] = field(default_factory=dict)

    async def run(self, started: float) -> None:
        for fault in fault_plan(self.rng, self.faults, list(self.services)):
            await asyncio.sleep(self.rng.uniform(0.3, 1.5))
            down_for = self.rng.uniform(1.0, 3.0)
            hit_at = time.monotonic()
            self.answered_at.clear()
            what = await self._inject(fault, down_for)
            recovery = await asyncio.to_thread(self._await_all_ready, hit_at)
            recovery.servers_answered = {name: at - hit_at for name, at in self.answered_at.items()}
            self.recovery[fault.server or fault.kind].append(recovery)
            self.log.append(
                f"t={hit_at - started:6.1f}s {what}, down for {down_for:.1f}s, {recovery}"
            )
            print(f"fault {len(self.log)}/{self.faults}: {self.log[-1]}", flush=True)

    async def _inject(self, fault: Fault, down_for: float) -> str:
        """Cause the fault and undo it; returns what was done, for the log."""
        if fault.kind == EVERYTHING:
            return await self._everything(down_for)
        if fault.kind == SERVICE_DURING_OUTAGE:
            assert fault.service is not None
            assert fault.server is not None
            return await self._service_during_outage(fault.service, fault.server, down_for)
        target = fault.service or fault.server
        assert target is not None
        # A quarter of the service faults are a graceful stop (SIGTERM), as
        # in a rolling deployment: in-flight work must be finished or redelivered.
        graceful = target in self.services and self.rng.random() < 0.25
        signal_name = "SIGTERM" if graceful else "SIGKILL"
        await asyncio.to_thread(self._stop if graceful else self._kill, target)
        hit = self._broker_name() if target == BROKER else target
        self.injected[f"{signal_name.lower()} {target}"] += 1
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self._start, target)
        return f"{signal_name} {hit}"

    async def _service_during_outage(self, service: str, server: str, down_for: float) -> str:
        """Kill a server, then a service; the service starts again while the server is down.

        It must stay up, answer ``/health/live`` and say in ``/health/ready``
        that it waits for that server; then the server comes back.
        """
        await asyncio.to_thread(self._kill, server)
        hit = self._broker_name() if server == BROKER else server
        await asyncio.to_thread(self._kill, service)
        self.injected[f"{service} restarted while {server} down"] += 1
        await asyncio.to_thread(self._start, service)
        if server == BROKER and self.clustered:
            # Another node answers: the service must come up there while its
            # node is still down, not wait for it.
            ready = await asyncio.to_thread(self._await_ready, self.services[service])
            if not ready:
                self.problems.append(
                    f"{service}, started while {hit} was down, did not become ready on "
                    f"another node: {self.services[service].log()[-800:]}"
                )
            await asyncio.sleep(down_for)
            await asyncio.to_thread(self._start, server)
            return f"SIGKILL {hit} and {service}, {service} ready on another node meanwhile"
        waiting = await asyncio.to_thread(self._await_waiting, self.services[service], server)
        if not waiting:
            self.problems.append(
                f"{service}, started while {server} was down, did not wait for it: "
                f"{self.services[service].log()[-800:]}"
            )
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self._start, server)
        return f"SIGKILL {server} and {service}, {service} started during the outage"

    async def _everything(self, down_for: float) -> str:
        """SIGKILL every service and both servers, then start all of them in a random order.

        In a cluster "the broker" is one node: the others stay up (never two down at once).
        """
        everyone = [*self.services, *SERVERS]
        for target in self.rng.sample(everyone, len(everyone)):
            await asyncio.to_thread(self._kill, target)
        self.injected["everything killed and restarted"] += 1
        await asyncio.sleep(down_for)
        order = self.rng.sample(everyone, len(everyone))
        for target in order:
            await asyncio.to_thread(self._start, target)
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))
        return f"SIGKILL everything, restarted as {', '.join(order)}"

    @property
    def clustered(self) -> bool:
        return self.infrastructure.broker.nodes > 1

    def _broker_name(self) -> str:
        """``rabbitmq``, or in a cluster the node the last broker fault killed."""
        broker = self.infrastructure.broker
        return f"{BROKER} {broker.killed_node()}" if self.clustered else BROKER

    def _kill(self, target: str) -> None:
        self.killed[target] += 1
        if target == BROKER:
            self.infrastructure.broker.kill()
        elif target == DATABASE:
            self.infrastructure.database.kill()
        else:
            process = self.services[target].process
            assert process is not None
            process.kill()
            process.wait()

    def _stop(self, target: str) -> None:
        exit_code = self.services[target].stop()
        # 0 after a graceful shutdown of both listeners; -SIGTERM when the
        # signal came before the process had set its handlers (still importing,
        # nothing to lose); -9 means it was still running when
        # ServiceProcess.stop gave up and killed it.
        if exit_code not in (0, -signal.SIGTERM):
            self.problems.append(f"{target} did not stop gracefully on SIGTERM: {exit_code}")

    def _start(self, target: str) -> None:
        if target == BROKER:
            self.infrastructure.broker.start()  # returns once the node runs and listens
            self.answered_at[BROKER] = time.monotonic()
        elif target == DATABASE:
            self.infrastructure.database.start()
            self.infrastructure.database.await_answer()
            self.answered_at[DATABASE] = time.monotonic()
        else:
            self.services[target].start()

    @staticmethod
    def _await_ready(service: ServiceProcess, timeout: float = 90.0) -> bool:
        """Until ``service`` answers ready (200); False if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process is None or service.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if service.readiness()[0] == 200:
                    return True
            time.sleep(0.1)
        return False

    @staticmethod
    def _await_waiting(service: ServiceProcess, server: str, timeout: float = 30.0) -> bool:
        """Until ``service`` answers 503 naming the ``server`` it waits for; False if never."""
        dependency = "broker" if server == BROKER else "database"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process is None or service.process.poll() is not None:
                return False
            try:
                status, body = service.readiness()
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if status == 503 and body.get("checks", {}).get(dependency) == "failing":
                return True
            time.sleep(0.1)
        return False

    def _await_all_ready(self, since: float, timeout: float = 300.0) -> Recovery:
        """Until every service answers ready; the slowest, and what it said last before."""
        pending = dict(self.services)
        last: dict[str, str] = {}
        slowest = ""
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for name, service in list(pending.items()):
                if service.process is None or service.process.poll() is not None:
                    self.problems.append(f"{name} exited while recovering: {service.log()[-800:]}")
                    service.start()
                    continue
                try:
                    status, body = service.readiness()
                except (httpx.HTTPError, ValueError):
                    last[name] = "its process to answer HTTP"
                    continue
                if status == 200:
                    del pending[name]
                    slowest = name
                else:
                    checks = body.get("checks", {})
                    failing = [d for d, state in sorted(checks.items()) if state != "ok"]
                    last[name] = " and ".join(failing) or "its queues and consumers to start"
            time.sleep(0.1)
        if pending:
            self.problems.append(f"not ready {timeout:.0f}s after a fault: {sorted(pending)}")
            slowest = ",".join(sorted(pending))
        return Recovery(time.monotonic() - since, slowest, last.get(slowest, "nothing"))


# ------------------------------------------------------------------ observation


async def get_json(client: httpx.AsyncClient, url: str, **kwargs: Any) -> Any:
    for attempt in range(30):
        try:
            answer = await client.get(url, **kwargs)
            if answer.status_code == 200:
                return answer.json()
            if answer.status_code < 500 and answer.status_code != 404:
                raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError:
            pass
        await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
    raise RuntimeError(f"GET {url}: no answer")


@dataclass
class Outboxes:
    """The events the services stored and have not published yet, read from their databases.

    Every collection of a service's database is looked at, so a new outbox
    needs no change here; on FerretDB each count reads its collection, which
    a run of this size does not notice.
    """

    client: AsyncMongoClient[Document]
    databases: tuple[str, ...]

    @classmethod
    def of(cls, infrastructure: IsolatedInfrastructure) -> Outboxes:
        return cls(
            AsyncMongoClient(infrastructure.mongodb_url),
            tuple(infrastructure.database_name(name) for name in SERVICES),
        )

    async def unpublished(self) -> int:
        """Documents holding outbox entries, over every service."""
        holding = 0
        for name in self.databases:
            database = self.client[name]
            for collection in await database.list_collection_names():
                holding += await database[collection].count_documents(
                    {f"{OUTBOX_FIELD}.0": {"$exists": True}}
                )
        return holding

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Snapshot:
    registrations: list[dict[str, Any]]
    seats: dict[str, Any]
    links: dict[str, Any]
    mails: int
    messages: int
    mail_states: dict[str, int]
    # Documents with events stored and not published yet (``Outboxes``).
    unpublished: int = 0

    @property
    def mails_in_flight(self) -> int:
        """Mails notification still means to send (pending or in an attempt)."""
        return sum(n for state, n in self.mail_states.items() if state in IN_FLIGHT)

    @property
    def outstanding(self) -> int:
        """Work the system still has to do: registrations not final, mails, links, events."""
        undecided = sum(r["status"] not in (*FINAL, PENDING) for r in self.registrations)
        links = int(self.links.get("pending", 0))
        return undecided + self.mails_in_flight + links + self.unpublished

    def key(self) -> Any:
        return (
            tuple(
                sorted(
                    (r["id"], r["status"], r["stream_link_provisioned"]) for r in self.registrations
                )
            ),
            json.dumps(self.seats, sort_keys=True),
            json.dumps({k: v for k, v in self.links.items()}, sort_keys=True),
            self.mails,
            self.messages,
            json.dumps(self.mail_states, sort_keys=True),
            self.unpublished,
        )


async def snapshot(
    services: dict[str, ServiceProcess],
    event_id: str,
    smtp: SmtpTestServer,
    subscriber: Subscriber,
    outboxes: Outboxes,
) -> Snapshot:
    async with httpx.AsyncClient(timeout=15) as client:
        registrations = await get_json(
            client,
            f"{services['registration'].url}/api/v1/events/{event_id}/registrations",
            headers=ADMIN,
        )
        seats = await get_json(
            client,
            f"{services['capacity'].operations_url}/api/v1/events/{event_id}/seats",
            headers=ADMIN,
        )
        links = await get_json(
            client,
            f"{services['streaming'].operations_url}/api/v1/events/{event_id}/stream-links",
            headers=ADMIN,
        )
        summary = await get_json(
            client,
            f"{services['notification'].operations_url}/api/v1/mails/summary",
            headers=ADMIN,
        )
    mail_states: Counter[str] = Counter()
    for states in dict(summary.get("kinds", {})).values():
        mail_states.update({str(k): int(v) for k, v in dict(states).items()})
    return Snapshot(
        list(registrations),
        dict(seats),
        dict(links),
        len(smtp.received),
        len(subscriber.messages),
        dict(mail_states),
        await outboxes.unpublished(),
    )


async def settle(
    services: dict[str, ServiceProcess],
    event_id: str,
    smtp: SmtpTestServer,
    subscriber: Subscriber,
    outboxes: Outboxes,
    quiet: float,
    stall: float,
) -> tuple[Snapshot, float, bool]:
    """Until nothing changes for ``quiet`` seconds with no work outstanding.

    Judged by progress, not by a deadline: a slower machine or a larger run
    takes longer, and that is no failure. It is one when nothing observable
    has changed for ``stall`` seconds while work is still outstanding
    (registrations not final, mails to send, links to provision), since then
    nothing will. ``stall`` must exceed the longest wait built into the
    system (the last retry delay of a failed handler, 5 minutes).
    """
    started = time.monotonic()
    last = await snapshot(services, event_id, smtp, subscriber, outboxes)
    changed_at = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        now = await snapshot(services, event_id, smtp, subscriber, outboxes)
        if now.key() != last.key():
            last, changed_at = now, time.monotonic()
            continue
        unchanged = time.monotonic() - changed_at
        # A subscriber that is reconnecting has events still to come.
        waiting = bool(now.outstanding) or not subscriber.listening
        if not waiting and unchanged >= quiet:
            return now, changed_at - started, True
        if waiting and unchanged >= stall:
            return now, time.monotonic() - started, False


# ------------------------------------------------------------------ invariants


# Mails and events that answer one attendance version of a registration.
VERSIONED_MAIL_KINDS = ("seat_confirmed", "waitlisted", "stream_link")
VERSIONED_EVENTS = (
    "seat.reserved",
    "seat.waitlisted",
    "seat.released",
    "waitlist.left",
    "stream.link.provisioned",
    "registration.attendance_changed",
)


def expected_kinds(status: str, attendance: str) -> set[str]:
    kinds = {"confirm_address"}
    if status == "seat_reserved":
        kinds.add("seat_confirmed")
    elif status == "waitlisted":
        kinds |= {"waitlisted", "stream_link"}
    elif status == "remote":
        kinds.add("stream_link")
    elif status == "cancelled":
        kinds.add("cancellation_confirmed")
    return kinds


def check(
    load: Load,
    final: Snapshot,
    smtp: SmtpTestServer,
    subscriber: Subscriber,
    capacity: int,
    allowed_resends: int = 0,
) -> tuple[dict[str, int], list[str]]:
    """Every invariant, from outside; ``allowed_resends``: see the email check."""
    violations: list[str] = []
    figures: Counter[str] = Counter()
    by_email: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in final.registrations:
        by_email[row["email"].lower()].append(row)

    # 1. every address answered 202 is stored exactly once, confirmed, and final.
    stored: list[tuple[Outcome, dict[str, Any]]] = []
    for outcome in load.outcomes:
        rows = by_email.get(outcome.email.lower(), [])
        if len(rows) > 1:
            figures["doubled"] += len(rows) - 1
            violations.append(f"doubled: {len(rows)} registrations stored for one address")
        if outcome.result != "accepted":
            continue
        if not rows:
            figures["lost"] += 1
            violations.append(f"lost: 202 for an address with no registration ({outcome.email})")
            continue
        row = rows[0]
        stored.append((outcome, row))
        if outcome.receipt_id != row["id"]:
            figures["token unknown"] += 1
            violations.append(
                f"token unknown: the 202 for {row['id']} answered another id, "
                "although every attempt carried the same Idempotency-Key"
            )
        if not outcome.confirmed:
            figures["not confirmed"] += 1
            violations.append(f"not confirmed: {row['id']} ({outcome.confirm_detail})")
        elif outcome.registration_id != row["id"]:
            violations.append(f"the confirmation of {outcome.email} led to another registration")
        if row["status"] not in FINAL:
            figures["stuck"] += 1
            violations.append(f"stuck: {row['id']} ({row['attendance']}) is {row['status']}")
        if outcome.cancelled and row["status"] != "cancelled":
            figures["cancel not applied"] += 1
            violations.append(f"cancel lost: {row['id']} is {row['status']} after a 2xx DELETE")
        check_switches(outcome, row, figures, violations)
        if outcome.cancel_requested and not outcome.cancelled:
            # Every cancellation is asked for before the event starts; any
            # answer but a 2xx (or giving up through the faults) is a fault.
            figures["cancel refused"] += 1
            violations.append(f"cancel refused: {row['id']} ({outcome.detail or 'gave up'})")
    figures["stored without 202"] = len(final.registrations) - len(stored)
    figures["left unconfirmed without 202"] = sum(
        r["status"] == PENDING for r in final.registrations
    ) - sum(row["status"] == PENDING for _o, row in stored)

    # 2. seats.
    seats = final.seats
    reserved, waiting = int(seats.get("reserved", 0)), int(seats.get("waitlisted", 0))
    figures["oversold"] = max(0, reserved - capacity)
    if reserved > capacity:
        violations.append(f"oversold: {reserved} reserved of {capacity}")
    if waiting > 0 and reserved < capacity:
        violations.append(
            f"free seat while waiting: {reserved}/{capacity} reserved, {waiting} waiting"
        )
    statuses = Counter(r["status"] for r in final.registrations)
    if statuses["seat_reserved"] != reserved or statuses["waitlisted"] != waiting:
        violations.append(
            f"registration and capacity disagree: registration says {statuses['seat_reserved']} "
            f"reserved / {statuses['waitlisted']} waiting, capacity {reserved} / {waiting}"
        )

    # Seat holders and those waiting are exactly the active in-person registrations.
    for row in final.registrations:
        on_site = row["status"] in ("seat_reserved", "waitlisted")
        if on_site and row["attendance"] != "in_person":
            violations.append(f"seat or place for {row['id']}, which is {row['attendance']}")
        if row["status"] == "remote" and row["attendance"] != "remote":
            violations.append(f"{row['id']} shows remote but is {row['attendance']}")

    # 3. exactly one email per (registration, kind, cause).
    mails = smtp.received
    check_emails(mails, stored, allowed_resends, figures, violations)
    check_switch_mails(mails, stored, figures, violations)

    # 4. stream links. Registration freezes a cancelled registration (its
    # stream_link_provisioned stays as it was), so only the live rows are compared,
    # and the links themselves are probed below (probe_links).
    links = final.links
    live_with_link = [
        r
        for r in final.registrations
        if r["stream_link_provisioned"] and r["status"] != "cancelled"
    ]
    if int(links.get("provisioned", 0)) != len(live_with_link):
        violations.append(
            f"stream links: streaming counts {links.get('provisioned')} provisioned, "
            f"registration shows {len(live_with_link)} live registrations with a link"
        )
    if int(links.get("pending", 0)):
        violations.append(f"stream links: {links.get('pending')} still pending")
    for row in final.registrations:
        if row["status"] in ("remote", "waitlisted") and not row["stream_link_provisioned"]:
            violations.append(f"stream link missing for {row['id']} ({row['status']})")
    if int(links.get("revoked", 0)) > statuses["cancelled"]:
        violations.append(
            f"stream links: {links.get('revoked')} revoked but {statuses['cancelled']} cancelled"
        )

    # 5. the external subscriber: every fact announced, and nothing personal.
    check_subscriber(subscriber, stored, mails, figures, violations)
    check_no_personal_data(subscriber, load.outcomes, figures, violations)
    figures["stored"] = len(stored)
    return dict(figures), violations


def check_switches(
    outcome: Outcome, row: dict[str, Any], figures: Counter[str], violations: list[str]
) -> None:
    """Every switch asked for was answered, and the registration shows the last one."""
    figures["switches made"] += len(outcome.switched_versions)
    if outcome.switches_planned:
        figures["registrations that switched"] += 1
    if outcome.switch_detail:
        figures["switch refused"] += 1
        violations.append(f"switch refused: {row['id']} ({outcome.switch_detail})")
    expected_versions = list(range(2, 2 + len(outcome.switched_versions)))
    if outcome.switched_versions != expected_versions:
        violations.append(
            f"switches of {row['id']} answered versions {outcome.switched_versions}, "
            f"expected {expected_versions}"
        )
    version = int(row.get("attendance_version", 1))
    if (row["attendance"], version) != (outcome.current_attendance, 1 + len(expected_versions)):
        figures["switch not applied"] += 1
        violations.append(
            f"switch lost: {row['id']} is {row['attendance']} (version {version}), the client "
            f"switched to {outcome.current_attendance} (version {1 + len(expected_versions)})"
        )


def mail_cause(mail: Mail) -> str:
    """The cause in a mail's Message-ID (``<rid>.<kind>.<cause>@…``), empty if it has none."""
    found = re.match(
        rf"<{re.escape(str(mail.registration_id))}\.{re.escape(str(mail.kind))}\.([^@>]+)@",
        (mail.message_id or "").strip(),
    )
    return found.group(1) if found else ""


def mail_version(mail: Mail) -> int:
    """The attendance version a seat, waiting-list or stream-link mail answers."""
    cause = mail_cause(mail)
    return int(cause[1:]) if cause.startswith("v") and cause[1:].isdigit() else 1


def check_switch_mails(
    mails: Sequence[Mail],
    stored: list[tuple[Outcome, dict[str, Any]]],
    figures: Counter[str],
    violations: list[str],
) -> None:
    """Each switch's mails fit it, and the last switch of a live registration was mailed.

    A seat or waiting-list mail for a switch went to someone who switched on
    site then; no mail answers a version the registration never had. A live registration whose
    last choice was a switch got its mail: the stream link (remote), the
    seat or the waiting-list place (on site).
    """
    by_registration: defaultdict[str | None, list[Mail]] = defaultdict(list)
    for mail in mails:
        if mail.kind in VERSIONED_MAIL_KINDS:
            by_registration[mail.registration_id].append(mail)
    for outcome, row in stored:
        version = int(row.get("attendance_version", 1))
        answered = {(m.kind, mail_version(m)) for m in by_registration.get(row["id"], [])}
        for kind, answered_version in sorted(answered, key=str):
            if answered_version == 1:
                continue
            at_version = attendance_at(outcome.attendance, answered_version)
            # A stream link may also answer an on-site version: a waiting-list
            # place of that version gives one to a registrant who had none yet.
            fits = kind == "stream_link" or at_version == "in_person"
            if answered_version > version or not fits:
                figures["mails not fitting a switch"] += 1
                violations.append(
                    f"{kind} mail for version {answered_version} of {row['id']}, which was "
                    f"{at_version} then and is at version {version}"
                )
        if version == 1 or row["status"] == "cancelled":
            continue
        wanted = {
            "remote": "stream_link",
            "seat_reserved": "seat_confirmed",
            "waitlisted": "waitlisted",
        }.get(row["status"])
        if wanted is not None and (wanted, version) not in answered:
            figures["missing mails for the last switch"] += 1
            violations.append(
                f"missing email: {wanted} for the last switch (version {version}) of {row['id']}"
            )


class Mail(Protocol):
    """What the checks read of a received mail (``tests.support.smtp.ReceivedMail``)."""

    @property
    def registration_id(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...


def check_emails(
    mails: Sequence[Mail],
    stored: list[tuple[Outcome, dict[str, Any]]],
    allowed_resends: int,
    figures: Counter[str],
    violations: list[str],
) -> None:
    """One email per (registration, kind): none missing, none doubled.

    SMTP has no exactly-once: a crash of notification between the server's
    "250 OK" and recording it leaves the mail "sending", and it is resent
    after its lease with the same Message-ID (mail clients show it once).
    Each crash can catch at most ILMO_MAIL_CONCURRENCY mails in that window,
    so such resends are counted, and are violations only beyond
    ``allowed_resends``. A second mail with another Message-ID always is.
    """
    groups: defaultdict[tuple[str | None, str | None], list[str | None]] = defaultdict(list)
    for mail in mails:
        groups[(mail.registration_id, mail_key(mail))].append(mail.message_id)
    present = {(mail.registration_id, mail.kind) for mail in mails}
    figures["repeat mails (one per repeat)"] = len(
        {(m.registration_id, mail_key(m)) for m in mails if m.kind in REPEATABLE_KINDS}
    ) - len({(m.registration_id, m.kind) for m in mails if m.kind in REPEATABLE_KINDS})
    resends: list[str] = []
    for (rid, kind), ids in groups.items():
        if len(ids) > 1:
            same_id = len(set(ids)) == 1
            line = f"duplicate email: {kind} x{len(ids)} for {rid} (same Message-ID: {same_id})"
            if same_id:
                figures["duplicate emails (same Message-ID, resend)"] += len(ids) - 1
                resends.append(line)
            else:
                figures["duplicate emails"] += len(ids) - 1
                violations.append(line)
    if len(resends) > allowed_resends:
        unexplained = "more resends than notification crashes explain"
        violations += [f"{line}: {unexplained}" for line in resends]
    for _outcome, row in stored:
        for kind in sorted(expected_kinds(row["status"], row["attendance"])):
            if (row["id"], kind) not in present:
                figures["missing emails"] += 1
                violations.append(f"missing email: {kind} for {row['id']} ({row['status']})")


def mail_key(mail: Mail) -> str | None:
    """A mail's kind and cause: one per repeat, one per attendance version (seat, link)."""
    if mail.kind in REPEATABLE_KINDS:
        return f"{mail.kind} {(mail.message_id or '').strip()}"
    if mail.kind in VERSIONED_MAIL_KINDS and mail_version(mail) > 1:
        return f"{mail.kind} v{mail_version(mail)}"
    if mail.kind in OCCASIONAL_KINDS:
        return f"{mail.kind} {mail_cause(mail)}"
    return mail.kind


def logical_key(routing_key: str, data: dict[str, Any]) -> tuple[str, str, str] | None:
    """One logical event per registration, type and cause: each must have one id.

    The cause is the attendance version for seat and stream-link events and
    switches, the mail kind (and the version it answers) for notification.*.
    """
    if "registration_id" not in data:
        return None  # event.* messages: about the event, not a registration
    rid = str(data["registration_id"])
    if routing_key in VERSIONED_EVENTS:
        return (routing_key, rid, f"v{data.get('attendance_version') or 1}")
    kind = str(data.get("kind", ""))
    if kind in VERSIONED_MAIL_KINDS:
        return (routing_key, rid, f"{kind} v{data.get('attendance_version') or 1}")
    return (routing_key, rid, kind)


# Fields an integration event never has: a test of the contracts checks the
# models; this checks what actually came over the wire.
PERSONAL_FIELDS = {"first_name", "last_name", "email", "organisation", "needs", "url", "reason"}
REGISTRANT_NAMES = ("Kaaos", "Testinen")  # the load's first names start so; all last names


def check_no_personal_data(
    subscriber: Subscriber,
    outcomes: Sequence[Outcome],
    figures: Counter[str],
    violations: list[str],
) -> None:
    """No message on ``ilmo.events`` carries a registrant's name, email address or link."""
    emails = {outcome.email.lower() for outcome in outcomes}
    for message_id, routing_key, _digest, data in subscriber.messages:
        text = json.dumps(data, ensure_ascii=False).lower()
        fields = set(data) & PERSONAL_FIELDS if isinstance(data, dict) else set()
        leaked = sorted(fields) + [n for n in REGISTRANT_NAMES if n.lower() in text]
        if "@" in text and any(email in text for email in emails):
            leaked.append("an email address")
        if leaked:
            figures["integration events with personal data"] += 1
            violations.append(f"subscriber: {routing_key} {message_id} carried {', '.join(leaked)}")


def check_subscription(
    subscriber: Subscriber,
    subscribing: asyncio.Task[None],
    figures: dict[str, int],
    violations: list[str],
) -> None:
    """The subscriber kept subscribing: it never gave up, and it came back after every loss."""
    subscription = subscriber.subscription
    assert subscription is not None
    figures["subscriber connections lost"] = subscription.lost
    figures["subscriber subscribed again"] = subscription.subscribed - 1
    if subscribing.done():
        violations.append(f"subscriber stopped: {subscribing.exception()!r}")
    elif not subscriber.listening:
        violations.append("subscriber not subscribed at the end of the run")


def check_subscriber(
    subscriber: Subscriber,
    stored: list[tuple[Outcome, dict[str, Any]]],
    mails: list[Any],
    figures: Counter[str],
    violations: list[str],
) -> None:
    """Ids are unique per logical event, and every logical event reached the subscriber."""
    bodies: defaultdict[str | None, set[str]] = defaultdict(set)
    ids: defaultdict[tuple[str, str, str], set[str | None]] = defaultdict(set)
    for message_id, routing_key, digest, data in subscriber.messages:
        bodies[message_id].add(digest)
        key = logical_key(routing_key, data) if isinstance(data, dict) else None
        if key is not None:
            ids[key].add(message_id)
    if None in bodies:
        violations.append("subscriber: a message without message_id")
    for message_id, digests in bodies.items():
        if len(digests) > 1:
            violations.append(
                f"subscriber: id {message_id} carried {len(digests)} different events"
            )
    # notification.sent says a mail's kind but not its occasion: a registrant's
    # two organiser messages are two such events, one logical event each.
    occasions = Counter(
        (str(m.registration_id), str(m.kind))
        for m in {(m.registration_id, m.kind, mail_cause(m)): m for m in mails}.values()
        if m.kind in OCCASIONAL_KINDS
    )
    for (routing_key, registration_id, kind), message_ids in ids.items():
        allowed = 1
        if routing_key == "notification.sent" and kind in OCCASIONAL_KINDS:
            allowed = max(1, occasions[(registration_id, kind)])
        if len(message_ids) > allowed:
            figures["events duplicated"] += len(message_ids) - allowed
            violations.append(
                f"subscriber: {routing_key}{f' ({kind})' if kind else ''} for {registration_id} "
                f"published as {len(message_ids)} different events"
            )
    figures["redelivered to subscriber"] = len(subscriber.messages) - len(bodies)
    figures["logical events seen"] = len(ids)

    def seen(routing_key: str, registration_id: str, kind: str = "") -> bool:
        return (routing_key, registration_id, kind) in ids

    def seen_any(routing_key: str, registration_id: str) -> bool:
        return any(key[:2] == (routing_key, registration_id) for key in ids)

    expected: list[tuple[str, str, str]] = []
    for _outcome, row in stored:
        rid, status = str(row["id"]), row["status"]
        version = f"v{row.get('attendance_version') or 1}"
        expected.append(("registration.accepted", rid, ""))
        expected += [
            ("registration.attendance_changed", rid, f"v{n}")
            for n in range(2, int(version[1:]) + 1)
        ]
        if status == "seat_reserved":
            expected.append(("seat.reserved", rid, version))
        if status == "waitlisted":
            expected.append(("seat.waitlisted", rid, version))
        if row["stream_link_provisioned"] and not seen_any("stream.link.provisioned", rid):
            figures["events unseen"] += 1
            violations.append(f"subscriber never saw stream.link.provisioned for {rid}")
        if status == "remote" and version != "v1":
            expected.append(("stream.link.provisioned", rid, version))
        if status == "cancelled":
            expected.append(("registration.cancelled", rid, ""))
            # What a cancellation undoes depends on what came before it.
            if seen("seat.reserved", rid, version):
                expected.append(("seat.released", rid, version))
            elif seen("seat.waitlisted", rid, version):
                expected.append(("waitlist.left", rid, version))
            if seen_any("stream.link.provisioned", rid):
                expected.append(("stream.link.revoked", rid, ""))
    for m in mails:
        if m.kind in REPEATABLE_KINDS:
            continue  # announced on ilmo.internal only
        cause = f" v{mail_version(m)}" if m.kind in VERSIONED_MAIL_KINDS else ""
        expected.append(("notification.sent", str(m.registration_id), f"{m.kind}{cause}"))
    for routing_key, rid, kind in expected:
        if not seen(routing_key, rid, kind):
            figures["events unseen"] += 1
            violations.append(
                f"subscriber never saw {routing_key}{f' ({kind})' if kind else ''} for {rid}"
            )
    figures["logical events expected"] = len(expected)


async def lease_figures(services: dict[str, ServiceProcess], figures: dict[str, int]) -> None:
    """Lease waits and take-overs, summed over every process since its last start."""
    names = {"ilmo_lease_waits": "lease waits", "ilmo_leases_taken_over": "leases taken over"}
    async with httpx.AsyncClient(timeout=15) as client:
        for service in services.values():
            answer = await client.get(f"{service.operations_url}/metrics", headers=ADMIN)
            answer.raise_for_status()
            for family in text_string_to_metric_families(answer.text):
                if family.name in names:
                    figure = names[family.name]
                    # A counter's family has `_total` and `_created` (a timestamp) samples.
                    totals = [x.value for x in family.samples if x.name.endswith("_total")]
                    count = int(sum(totals))
                    figures[figure] = figures.get(figure, 0) + count


async def probe_receipts(
    load: Load, final: Snapshot, figures: dict[str, int], violations: list[str]
) -> None:
    """Every 202's manage token opens its registration: the client kept a working token."""
    live = {r["id"] for r in final.registrations}
    async with httpx.AsyncClient(timeout=15) as client:
        for outcome in load.outcomes:
            if outcome.receipt_id not in live or outcome.receipt_token is None:
                continue
            answer = await client.get(
                load.replica_url(f"/api/v1/registrations/{outcome.receipt_id}"),
                headers={"Authorization": f"Bearer {outcome.receipt_token}"},
            )
            probed = f"receipt tokens probed {answer.status_code}"
            figures[probed] = figures.get(probed, 0) + 1
            if answer.status_code != 200:
                violations.append(
                    f"the 202's token for {outcome.receipt_id} answers {answer.status_code}"
                )


async def probe_links(
    final: Snapshot, smtp: SmtpTestServer, figures: dict[str, int], violations: list[str]
) -> None:
    """Open every emailed stream link: 302 for live registrants, 410 for cancelled ones."""
    status_of = {r["id"]: r["status"] for r in final.registrations}
    async with httpx.AsyncClient(timeout=15) as browser:
        for mail in smtp.matching(kind="stream_link"):
            found = LINK.findall(mail.text())
            if not found:
                violations.append(f"stream_link email without a link for {mail.registration_id}")
                continue
            status = status_of.get(str(mail.registration_id))
            answer = await browser.get(str(found[0]), follow_redirects=False)
            want = 410 if status == "cancelled" else 302
            figures[f"links probed {answer.status_code}"] = (
                figures.get(f"links probed {answer.status_code}", 0) + 1
            )
            if answer.status_code != want:
                figures["active links for cancelled" if want == 410 else "broken links"] = (
                    figures.get("active links for cancelled" if want == 410 else "broken links", 0)
                    + 1
                )
                violations.append(
                    f"stream link of {mail.registration_id} ({status}) answers "
                    f"{answer.status_code}, expected {want}"
                )


# ------------------------------------------------------------------ main


def chaos_event(capacity: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    # Late enough that every cancellation (the last step of the load, after
    # faults and confirmations) comes before the start, soon enough that the
    # personal stream links are already open (30 minutes before). Promotion
    # runs until the start (cutoff 0), so every freed seat goes to the line.
    starts = now + timedelta(minutes=25)
    return event_payload(
        now=now,
        id=f"chaos-{uuid.uuid4().hex[:8]}",
        email_confirmation=True,
        in_person_capacity=capacity,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=3)).isoformat(),
        registration_opens_at=(now - timedelta(days=1)).isoformat(),
        registration_closes_at=(starts + timedelta(hours=1)).isoformat(),
        stream_url=STREAM_URL,
        agenda=[],
        promotion_cutoff_minutes=0,
        reminders=[reminder.model_dump(mode="json") for reminder in CHAOS_REMINDERS],
    )


async def chaos(arguments: argparse.Namespace) -> int:
    owned = ChaosInfrastructure.create(arguments.cluster)
    broker = (
        f"a {arguments.cluster}-node RabbitMQ cluster" if arguments.cluster else "a RabbitMQ node"
    )
    print(f"starting {broker} and a FerretDB server of this run's own in {owned.root}")
    keep = arguments.keep
    try:
        await asyncio.to_thread(owned.start)
        return await chaos_on(owned, arguments)
    except BaseException:
        keep = True  # a run that broke keeps its logs, for whoever reads the error
        raise
    finally:
        await asyncio.to_thread(owned.remove, keep)
        if keep:
            print(f"kept the broker's and database's files in {owned.root}")


async def chaos_on(owned: ChaosInfrastructure, arguments: argparse.Namespace) -> int:
    plan = random.Random(arguments.seed)
    faults_rng = random.Random(arguments.seed + 1)
    jitter = random.Random(arguments.seed + 2)
    capacity = max(1, arguments.registrations // 5)
    infrastructure = owned.for_services()
    smtp = SmtpTestServer()
    smtp.up()
    subscriber = Subscriber()
    subscribing = await subscribe(infrastructure, subscriber)
    outboxes = Outboxes.of(infrastructure)
    try:
        with running_services(
            infrastructure,
            extra_environment={
                "ILMO_SMTP_HOST": smtp.host,
                "ILMO_SMTP_PORT": str(smtp.port),
                "ILMO_SMTP_TLS": "none",  # the test server is plain SMTP
            },
            replicas=arguments.replicas,
        ) as services:
            event = chaos_event(capacity)
            async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
                created = await api.post("/api/v1/events", json=event, headers=ADMIN)
                if created.status_code != 201:
                    print(f"could not create the event: {created.status_code} {created.text}")
                    return 2
            registration = tuple(s.url for s in services.values() if s.name == "registration")
            load = Load(registration, event["id"], arguments.concurrency, jitter, smtp)
            injector = FaultInjector(services, owned, faults_rng, arguments.faults)
            started = time.monotonic()
            # Registrations are paced so that the faults fall into the load, not after it:
            # a fault cycle takes roughly 1 s pause + 2 s down + a few seconds to restart
            # (a RabbitMQ node about 7 s).
            spread = arguments.faults * 7.0
            life = EventLife(
                services["registration"].url,
                services["notification"].operations_url,
                infrastructure,
                event,
            )
            loaded = asyncio.Event()

            async def load_run() -> None:
                try:
                    await load.run(arguments.registrations, plan, spread)
                finally:
                    loaded.set()

            def half_confirmed() -> bool:
                confirmed = sum(o.confirmed for o in load.outcomes)
                return loaded.is_set() or confirmed >= max(1, arguments.registrations // 2)

            await asyncio.gather(load_run(), injector.run(started), life.during(half_confirmed))
            load_seconds = time.monotonic() - started
            final, settle_seconds, settled = await settle(
                services, event["id"], smtp, subscriber, outboxes, arguments.quiet, arguments.stall
            )
            if settled:
                # The second message, to a set of active registrants known from outside.
                await life.after()
                final, more, settled = await settle(
                    services,
                    event["id"],
                    smtp,
                    subscriber,
                    outboxes,
                    arguments.quiet,
                    arguments.stall,
                )
                settle_seconds += more
            await life.observe()
            crashes = sum(
                injector.killed[key] for key, s in services.items() if s.name == "notification"
            )
            figures, violations = check(
                load, final, smtp, subscriber, capacity, allowed_resends=MAIL_CONCURRENCY * crashes
            )
            life_figures: Counter[str] = Counter()
            check_life(life, smtp.received, final.registrations, life_figures, violations)
            figures.update(life_figures)
            violations += injector.problems
            await probe_links(final, smtp, figures, violations)
            await probe_receipts(load, final, figures, violations)
            await lease_figures(services, figures)
            figures["events stored and not published"] = final.unpublished
            if final.unpublished:
                violations.append(
                    f"{final.unpublished} documents still hold events never published "
                    "(outboxes): their consumers cannot have seen them"
                )
            if not settled:
                violations.append(
                    f"stalled: no progress for {arguments.stall:.0f}s with "
                    f"{final.outstanding} items of work outstanding"
                    + ("" if subscriber.listening else ", the subscriber not subscribed")
                )
            check_subscription(subscriber, subscribing, figures, violations)
            report(
                arguments,
                load,
                injector,
                final,
                figures,
                violations,
                load_seconds,
                settle_seconds,
                settled,
                capacity,
                infrastructure.run_id,
                life,
            )
            return 1 if violations else 0
    finally:
        subscribing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscribing
        await outboxes.close()
        smtp.down()


def _refused_switches(figures: dict[str, int]) -> str:
    return f"{figures.get('switch refused', 0)} / {figures.get('switch not applied', 0)}"


def report(
    arguments: argparse.Namespace,
    load: Load,
    injector: FaultInjector,
    final: Snapshot,
    figures: dict[str, int],
    violations: list[str],
    load_seconds: float,
    settle_seconds: float,
    settled: bool,
    capacity: int,
    run_id: str,
    life: EventLife,
) -> None:
    results = Counter(o.result for o in load.outcomes)
    asked = sum(o.cancel_requested for o in load.outcomes)
    confirmed = sum(o.cancelled for o in load.outcomes)
    seats, links = final.seats, final.links
    statuses = Counter(r["status"] for r in final.registrations)
    rows: list[tuple[str, Any]] = [
        ("run id / seed", f"{run_id} / {arguments.seed}"),
        ("broker", f"{arguments.cluster}-node cluster" if arguments.cluster else "one node"),
        ("replicas of each service", arguments.replicas),
        (
            "  lease waits / expired leases taken over (since each process started)",
            f"{figures.get('lease waits', 0)} / {figures.get('leases taken over', 0)}",
        ),
        ("registrations attempted", arguments.registrations),
        ("  202 accepted", results["accepted"]),
        ("  confirmed from the mail", sum(o.confirmed for o in load.outcomes)),
        (
            "  confirm step (GET page + POST) median / max",
            _median_max(load.confirm_seconds),
        ),
        ("  rejected", results["rejected"]),
        ("  gave up", results["gave-up"]),
        ("client retries", load.retries),
        (
            "cancellations requested / confirmed",
            f"{asked} / {confirmed}",
        ),
        (
            "registrations that switched / switches answered",
            f"{figures.get('registrations that switched', 0)} / {figures.get('switches made', 0)}",
        ),
        ("concurrency", arguments.concurrency),
        ("faults injected", sum(injector.injected.values())),
        *((f"  {kind}", n) for kind, n in sorted(injector.injected.items())),
        *(
            (f"  worst recovery after {target}", str(worst))
            for target, times in sorted(injector.recovery.items())
            for worst in [max(times, key=lambda r: r.seconds)]
        ),
        ("final statuses", ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()))),
        (
            "seats",
            f"{seats.get('reserved')}/{capacity} reserved, {seats.get('waitlisted')} waiting",
        ),
        (
            "stream links",
            f"{links.get('provisioned')} provisioned, {links.get('revoked')} revoked, "
            f"{links.get('pending')} pending",
        ),
        ("emails received", final.mails),
        (
            "event moved to (revision)",
            f"{life.moved_to.isoformat() if life.moved_to else '-'} ({life.revision})",
        ),
        ("  change notices", figures.get("change notices", 0)),
        (
            "  reminder mails (none due within the run)",
            figures.get("reminder mails", 0),
        ),
        ("  reminders in the schedule (moved)", figures.get("reminders in the schedule", 0)),
        (
            "message during the load: recipients (notification) / mailed",
            f"{_recipients(life, life.during_load)} / "
            f"{figures.get('message during the load: recipients mailed', 0)}",
        ),
        (
            "message after the run: active registrants / recipients (notification)",
            f"{figures.get('message after the run: active registrants / mailed', 0)} / "
            f"{_recipients(life, life.after_run)}",
        ),
        ("  messages missing", figures.get("messages missing", 0)),
        (
            "  messages skipped (the recipient cancelled meanwhile)",
            figures.get("messages skipped (the recipient cancelled meanwhile)", 0),
        ),
        (
            "  messages to the cancelled or unconfirmed",
            figures.get("messages to the cancelled or unconfirmed", 0),
        ),
        (
            "notification mail states",
            ", ".join(f"{k}={v}" for k, v in sorted(final.mail_states.items())),
        ),
        ("subscriber messages", final.messages),
        ("lost", figures.get("lost", 0)),
        ("switches refused / not applied", _refused_switches(figures)),
        ("mails missing for the last switch", figures.get("missing mails for the last switch", 0)),
        ("mails not fitting their switch", figures.get("mails not fitting a switch", 0)),
        ("stuck (not final)", figures.get("stuck", 0)),
        ("doubled (more than one stored per address)", figures.get("doubled", 0)),
        ("not confirmed despite a 202", figures.get("not confirmed", 0)),
        ("duplicated emails", figures.get("duplicate emails", 0)),
        (
            "repeat mails (one per repeat registration, ok)",
            figures.get("repeat mails (one per repeat)", 0),
        ),
        (
            "resent after a notification crash (same Message-ID)",
            figures.get("duplicate emails (same Message-ID, resend)", 0),
        ),
        ("missing emails", figures.get("missing emails", 0)),
        ("oversold", figures.get("oversold", 0)),
        ("stream links answering for cancelled", figures.get("active links for cancelled", 0)),
        ("stream links broken for live registrants", figures.get("broken links", 0)),
        (
            "logical events expected / seen by subscriber",
            f"{figures.get('logical events expected', 0)} / "
            f"{figures.get('logical events seen', 0)}",
        ),
        ("events unseen by subscriber", figures.get("events unseen", 0)),
        ("events stored and never published", figures.get("events stored and not published", 0)),
        ("events published twice under different ids", figures.get("events duplicated", 0)),
        (
            "integration events with personal data",
            figures.get("integration events with personal data", 0),
        ),
        ("redelivered to subscriber (ok)", figures.get("redelivered to subscriber", 0)),
        (
            "subscriber connections lost / subscribed again",
            f"{figures.get('subscriber connections lost', 0)} / "
            f"{figures.get('subscriber subscribed again', 0)}",
        ),
        ("202s whose token is unknown (another id)", figures.get("token unknown", 0)),
        ("202 tokens that open their registration", figures.get("receipt tokens probed 200", 0)),
        ("stored without a 202 (ok)", figures.get("stored without 202", 0)),
        ("  of which left unconfirmed (ok)", figures.get("left unconfirmed without 202", 0)),
        ("load duration", f"{load_seconds:.1f}s"),
        ("time to settle", f"{settle_seconds:.1f}s" + ("" if settled else " (stalled)")),
        ("violations", len(violations)),
    ]
    width = max(len(str(name)) for name, _ in rows)
    print()
    print("fault log:")
    for line in injector.log:
        print(f"  {line}")
    print()
    print(f"{'chaos summary':<{width}}  ")
    print("-" * (width + 24))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if violations:
        print()
        print(f"VIOLATIONS ({len(violations)}):")
        for line in violations[:200]:
            print(f"  - {line}")
        if len(violations) > 200:
            print(f"  ... and {len(violations) - 200} more")
    print()
    print("FAIL" if violations else "PASS")


def _recipients(life: EventLife, message_id: str | None) -> str:
    progress = life.progress.get(message_id or "")
    return "-" if progress is None else str(progress.get("recipients"))


def _median_max(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[len(ordered) // 2] * 1000:.0f} ms / {ordered[-1] * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    # The subscriber's reconnects after each broker kill are expected; their
    # tracebacks would bury the summary. Its own lines say what happened.
    for noisy in ("aio_pika", "aiormq"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    log_subscriber_to_stderr()
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.run", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--faults", type=int, default=8)
    parser.add_argument(
        "--quiet", type=float, default=10.0, help="seconds without change that count as settled"
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=360.0,
        help="seconds without any progress, with work outstanding, that fail the run",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the broker's and database's files afterwards"
    )
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        choices=(0, 3),
        help="3: the broker is a three-node cluster; a broker fault kills one node at a time",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        choices=(1, 2),
        help="2: two processes of every service on one database, with leases; faults hit one",
    )
    return asyncio.run(chaos(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

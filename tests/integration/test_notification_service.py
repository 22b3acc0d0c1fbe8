"""The notification service in-process, against the real broker, database and an SMTP server.

Events go in as their producers publish them (persistent, confirmed, with a
CloudEvents envelope); what comes out is read where a registrant and an
integrator would read it: the mails at a real SMTP server (aiosmtpd) and the
``notification.*`` events on ``ilmo.internal``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from structlog.testing import capture_logs

from ilmo_event_contracts import (
    Attendance,
    InternalEvent,
    Language,
    NotificationKind,
    RegistrationAccepted,
    RegistrationExpired,
    RegistrationManageLinkRequested,
    RegistrationRepeated,
    RegistrationSubmitted,
    StreamLinkProvisioned,
)
from ilmo_notification import handlers
from ilmo_notification.app import build_app
from ilmo_notification.dispatcher import MailDispatcher
from ilmo_notification.domain import Claim, Mail, MailRequest, MailRetryPolicy
from ilmo_notification.mailer import SmtpMailer, SmtpSettings, SmtpTls
from ilmo_notification.settings import NotificationSettings
from ilmo_notification.storage import MAILS, OPEN_MAILS, MailAttemptStore, NotificationStores
from ilmo_notification.storage.mails import mail_of
from ilmo_notification.usecases import Notifications
from ilmo_shared.manage_links import confirmation_link, manage_link
from ilmo_shared.outbox import OUTBOX_FIELD
from ilmo_shared.storage import Document
from tests.support.amqp import EventTap, ObservedMessage, event_tap, purge_queue
from tests.support.capacity import cancelled, envelope_for, publish, reserved, waitlisted
from tests.support.development import DEVELOPMENT_TOKEN
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.lifespan import operations_client, serving
from tests.support.notification import (
    MAIL_FROM,
    MAILS_DUE,
    MANAGE_LINK_SECRET,
    ORGANISER,
    REGISTRATION_URL,
    STARTS_AT,
    accepted,
    notification_stores,
    renderer,
    seminar,
)
from tests.support.polling import eventually
from tests.support.processes import free_port
from tests.support.producers import CountingPublisher, counting_publisher
from tests.support.settling import Inflow, fixed_wait
from tests.support.smtp import SmtpTestServer, smtp_server, throwaway_ca

EMAILS_QUEUE = "notification.emails"
# Mails that may still go out or be announced: due, or with outbox entries
# (``notification.sent`` / ``.failed``) not yet published.
DUE_OR_UNANNOUNCED = {"$or": [MAILS_DUE, {f"{OUTBOX_FIELD}.0": {"$exists": True}}]}


@dataclass
class RunningNotification:
    app: FastAPI
    # The operations listener: mail summaries.
    operations: httpx.AsyncClient
    publisher: CountingPublisher
    inflow: Inflow
    tap: EventTap
    database: AsyncDatabase[Document]
    smtp: SmtpTestServer

    async def send(self, *events: InternalEvent) -> None:
        for event in events:
            await publish(self.publisher, event)

    def announced(self, registration_id: str, routing_key: str) -> list[ObservedMessage]:
        """``notification.*`` events about a registration, each envelope id once."""
        first: dict[str | None, ObservedMessage] = {}
        for message in self.tap.messages:
            if (
                message.routing_key == routing_key
                and message.data.get("registration_id") == registration_id
            ):
                first.setdefault(message.message_id, message)
        return list(first.values())

    async def wait_announced(
        self, registration_id: str, routing_key: str, count: int, timeout: float = 20.0
    ) -> list[ObservedMessage]:
        async def enough() -> bool:
            await self.tap.take_arrived()
            return len(self.announced(registration_id, routing_key)) >= count

        await eventually(
            enough,
            what=f"{count} {routing_key} for {registration_id}",
            timeout=timeout,
            interval=0.05,
            detail=lambda: f"saw {len(self.announced(registration_id, routing_key))} of {count}",
        )
        return self.announced(registration_id, routing_key)

    async def handled(self) -> None:
        """Until the service has finished with every message published so far."""
        await self.inflow.all_finished()

    async def settle(self) -> None:
        """Until no stray extra mail or event can show up any more, with the events on the tap.

        That is when every message published is handled, every open mail
        waits for something that has not arrived (its contact, the event's
        details, its receipt) rather than being due, and every mail recorded
        sent or failed is announced (the outbox is empty).
        """
        await self.handled()

        async def at_rest() -> bool:
            return await self.database[MAILS].count_documents(DUE_OR_UNANNOUNCED) == 0

        await eventually(at_rest, what="every mail sent, parked or waiting, and announced")
        await self.tap.take_arrived()

    async def left_alone(self, mail_id: str, logs: list[MutableMapping[str, Any]]) -> None:
        """Until the dispatcher has found ``mail_id`` taken by another and left it alone.

        The attempt at it is over then (a mail wrongly taken would have been
        sent instead), and its copy in ``open_mails`` is due again only once
        the other attempt's lease is surely over, so later passes pass it by.
        """

        async def skipped() -> bool:
            return any(
                entry["event"] == "mail_attempt_taken_elsewhere" and entry.get("mail_id") == mail_id
                for entry in logs
            )

        await eventually(skipped, what=f"the dispatcher to leave {mail_id} alone")
        copy = await self.database[OPEN_MAILS].find_one({"_id": mail_id})
        assert copy is not None
        assert copy["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=10)

    async def mail_document(self, registration_id: str, kind: NotificationKind) -> Document:
        document = await self.database["mails"].find_one({"_id": f"{registration_id}:{kind}"})
        assert document is not None, f"no {kind} mail recorded for {registration_id}"
        return document


def settings_for(
    infrastructure: IsolatedInfrastructure, smtp: SmtpTestServer, database: str, **changes: Any
) -> NotificationSettings:
    values: dict[str, Any] = {
        **infrastructure.broker_settings("notification"),
        "mongodb_url": infrastructure.mongodb_url,
        "mongodb_database": database,
        "http_port": free_port(),
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_tls": "none",  # the test servers are plain unless a test says otherwise
        "smtp_timeout_seconds": 5,
        "mail_from": MAIL_FROM,
        "registration_public_url": REGISTRATION_URL,
        "manage_link_secret": MANAGE_LINK_SECRET,
        "development_token": DEVELOPMENT_TOKEN,
        "mail_retry_base_seconds": 0.1,
        "mail_retry_max_seconds": 0.4,
        "mail_poll_seconds": 0.2,
        "mail_sending_lease_seconds": 30,
    }
    values.update(changes)
    return NotificationSettings(**values)


def new_database(infrastructure: IsolatedInfrastructure) -> str:
    return infrastructure.database_name(f"notification_{uuid.uuid4().hex[:8]}")


@asynccontextmanager
async def running_notification(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    smtp: SmtpTestServer,
    *,
    database: str | None = None,
    **changes: Any,
) -> AsyncIterator[RunningNotification]:
    database = database or new_database(infrastructure)
    await purge_queue(infrastructure.amqp_url, EMAILS_QUEUE)
    app = build_app(settings_for(infrastructure, smtp, database, **changes))
    async with (
        counting_publisher(infrastructure) as publisher,
        event_tap(infrastructure.amqp_url, "notification.*") as tap,
        serving(app),
        operations_client(app, "http://notification-operations") as operations,
    ):
        yield RunningNotification(
            app, operations, publisher, Inflow(EMAILS_QUEUE, publisher), tap, mongo[database], smtp
        )


def stream_link(registration: RegistrationAccepted) -> StreamLinkProvisioned:
    return StreamLinkProvisioned(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        url=f"https://watch.example.fi/w/{uuid.uuid4().hex}",
        valid_from=STARTS_AT - timedelta(minutes=30),
        valid_until=STARTS_AT + timedelta(hours=5),
    )


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def mail_document_when(
    service: RunningNotification,
    registration_id: str,
    kind: NotificationKind,
    done: Callable[[Document], bool],
    timeout: float = 20.0,
) -> Document:
    """The mail's document as soon as ``done`` holds for it."""
    last: list[Document | None] = [None]

    async def done_document() -> Document | None:
        last[0] = await service.database["mails"].find_one({"_id": f"{registration_id}:{kind}"})
        return last[0] if last[0] is not None and done(last[0]) else None

    def state() -> str:
        if last[0] is None:
            return "still None"
        return f"still {(last[0]['state'], last[0].get('last_error'))}"

    return await eventually(
        done_document,
        what=f"{kind} of {registration_id} done",
        timeout=timeout,
        interval=0.05,
        detail=state,
    )


# ---------------------------------------------------------------- the mails people get


async def test_each_registrant_gets_each_mail_once_in_their_language_and_each_is_announced(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            in_person = accepted(event.event_id, language=Language.SV)
            remote = accepted(
                event.event_id,
                language=Language.EN,
                attendance=Attendance.REMOTE,
                first_name="John",
                last_name="O'Brien",
            )
            remote_link = stream_link(remote)
            await service.send(event, in_person, reserved(in_person), remote, remote_link)

            seat_mails = await smtp.wait_for(2, registration_id=str(in_person.registration_id))
            remote_mails = await smtp.wait_for(2, registration_id=str(remote.registration_id))
            # The remote registrant cancels once the link is out.
            await service.send(cancelled(remote))
            remote_mails = await smtp.wait_for(3, registration_id=str(remote.registration_id))
            await service.wait_announced(str(remote.registration_id), "notification.sent", 3)
            await service.wait_announced(str(in_person.registration_id), "notification.sent", 2)
            await service.settle()

            summary = await service.operations.get("/api/v1/mails/summary")
            contact = await service.database["contacts"].find_one(
                {"_id": str(in_person.registration_id)}
            )

    seat_mails = smtp.matching(registration_id=str(in_person.registration_id))
    remote_mails = smtp.matching(registration_id=str(remote.registration_id))
    # Receipt first, then the rest, each kind once.
    assert [m.kind for m in seat_mails] == ["registration_received", "seat_confirmed"]
    assert [m.kind for m in remote_mails] == [
        "registration_received",
        "stream_link",
        "cancellation_confirmed",
    ]
    assert {m.language for m in seat_mails} == {"sv"}
    assert {m.language for m in remote_mails} == {"en"}
    for mail, registration in [(m, in_person) for m in seat_mails] + [
        (m, remote) for m in remote_mails
    ]:
        assert mail.recipients == (str(registration.email),)
        assert mail.mail_from == "ilmo@ilmo.example.fi"
        assert mail.message["To"].addresses[0].addr_spec == str(registration.email)
        # In the organiser's name (in the reader's language), from Ilmo's own
        # address; replies go to the organiser.
        [sender] = mail.message["From"].addresses
        assert sender.addr_spec == "ilmo@ilmo.example.fi"
        assert sender.display_name == ORGANISER.name.in_language(registration.language)
        assert mail.message["Reply-To"].addresses[0].addr_spec == ORGANISER.email
        assert mail.message_id is not None
        assert mail.message_id.strip() == (
            f"<{registration.registration_id}.{mail.kind}@ilmo.example.fi>"
        )
    receipt = seat_mails[0]
    assert receipt.message["To"].addresses[0].display_name == "Åsa Öhman"
    assert receipt.message["Subject"].startswith("Din anmälan har tagits emot")
    assert manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, str(in_person.registration_id)) in (
        receipt.text()
    )
    assert "kl. 9.00" in receipt.text()
    [link_mail] = [m for m in remote_mails if m.kind == "stream_link"]
    assert remote_link.url in link_mail.text()
    assert [p.get_content_type() for p in link_mail.message.iter_attachments()] == ["text/calendar"]

    sent = service.announced(str(in_person.registration_id), "notification.sent")
    sent += service.announced(str(remote.registration_id), "notification.sent")
    assert len(sent) == 5
    assert not service.announced(str(in_person.registration_id), "notification.failed")
    for message in sent:
        assert str(in_person.email) not in message.body.decode()
        assert str(remote.email) not in message.body.decode()
        assert "Öhman" not in message.body.decode()
        assert message.headers["cloudEvents:source"] == "ilmo/notification"
        assert message.delivery_mode == 2
    kinds_announced = {
        (m.data["registration_id"], m.data["kind"], m.data["message_id"]) for m in sent
    }
    assert kinds_announced == {
        (m.registration_id, m.kind, m.message_id.strip() if m.message_id else None)
        for m in seat_mails + remote_mails
    }

    assert summary.status_code == 200
    assert summary.json()["kinds"]["registration_received"] == {"sent": 2}
    assert "@" not in summary.text
    assert contact is not None
    assert contact["event_id"] == event.event_id
    assert contact["language"] == "sv"


async def test_an_event_stored_before_it_named_an_organiser_is_mailed_as_ilmo_without_reply_to(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar(organiser=None)
            registration = accepted(event.event_id, language=Language.FI)
            rid = str(registration.registration_id)
            await service.send(event, registration)
            [mail] = await smtp.wait_for(1, registration_id=rid)
            await service.wait_announced(rid, "notification.sent", 1)

    assert mail.mail_from == "ilmo@ilmo.example.fi"
    [sender] = mail.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Ilmo \u2013 Valtioneuvosto",
        "ilmo@ilmo.example.fi",
    )
    assert mail.message["Reply-To"] is None
    assert "Älä vastaa tähän viestiin." in mail.text()
    assert "Älä vastaa tähän viestiin." in mail.html()


async def test_a_redelivered_or_duplicated_event_sends_one_mail(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id, language=Language.FI)
            await service.send(event)
            before = sample(
                "ilmo_mail_intents_total", {"kind": "registration_received", "outcome": "duplicate"}
            )
            # The same envelope and body three times, as a redelivery brings it...
            await publish(
                service.publisher,
                registration,
                envelope=envelope_for(registration, correlation_id="corr-redelivered"),
                times=3,
            )
            await publish(service.publisher, reserved(registration), times=3)
            # ...and the same decision republished under a new envelope id.
            decision = reserved(registration)
            await publish(service.publisher, decision, envelope=envelope_for(decision))
            rid = str(registration.registration_id)
            await smtp.wait_for(2, registration_id=rid)
            await service.wait_announced(rid, "notification.sent", 2)
            await service.settle()
            mails = await service.database["mails"].count_documents({"registration_id": rid})
            after = sample(
                "ilmo_mail_intents_total", {"kind": "registration_received", "outcome": "duplicate"}
            )

    assert sorted(m.kind or "" for m in smtp.matching(registration_id=rid)) == [
        "registration_received",
        "seat_confirmed",
    ]
    assert {m.language for m in smtp.matching(registration_id=rid)} == {"fi"}
    announced = service.announced(rid, "notification.sent")
    assert len(announced) == 2
    # The mail's event carries the correlation id of the message that asked for it.
    [receipt] = [m for m in announced if m.data["kind"] == "registration_received"]
    assert receipt.correlation_id == "corr-redelivered"
    assert mails == 2
    assert after - before == 2


async def test_mails_wait_for_their_contact_and_event_and_a_seat_makes_the_waiting_list_moot(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id, language=Language.EN)
            rid = str(registration.registration_id)
            # Capacity's decisions overtake the registration and the event's details.
            await service.send(waitlisted(registration, 2), reserved(registration, promoted=True))
            await service.settle()
            assert smtp.matching(registration_id=rid) == []
            waiting = await service.operations.get("/api/v1/mails/summary")
            assert waiting.json()["kinds"]["seat_confirmed"] == {"waiting": 1}

            await service.send(registration)
            await service.settle()
            assert smtp.matching(registration_id=rid) == []  # the event's details are missing

            await service.send(event)
            mails = await smtp.wait_for(2, registration_id=rid, timeout=10)
            await service.settle()
            waitlist_mail = await service.mail_document(rid, NotificationKind.WAITLISTED)

    assert [m.kind for m in smtp.matching(registration_id=rid)] == [
        "registration_received",
        "seat_confirmed",
    ]
    assert "moved up from the waiting list" in mails[1].text()
    assert waitlist_mail["state"] == "skipped"
    assert waitlist_mail["superseded_by"] == "seat_confirmed"


# ---------------------------------------------------------------- TLS to the SMTP server


# The test server accepts AUTH whether or not TLS is on (it records which); aiosmtpd warns.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_mail_and_password_go_over_tls_to_a_server_with_a_private_ca(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    tmp_path: Path,
    tls: Literal["starttls", "implicit"],
) -> None:
    ca = throwaway_ca(tmp_path)
    credentials = ("ilmo", "s3cret-\u00e5")
    with smtp_server(credentials=credentials, tls=tls, certificate=ca.server_context) as smtp:
        async with running_notification(
            infrastructure,
            mongo,
            smtp,
            smtp_tls=tls,
            smtp_ca_file=ca.ca_file,
            smtp_username=credentials[0],
            smtp_password=credentials[1],
        ) as service:
            event = seminar()
            registration = accepted(event.event_id)
            await service.send(event, registration)
            [mail] = await smtp.wait_for(1, registration_id=str(registration.registration_id))

    assert mail.kind == "registration_received"
    assert mail.over_tls
    assert smtp.logins
    assert set(smtp.logins) == {"ilmo"}
    assert smtp.logins_in_clear == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_server_without_starttls_gets_neither_mail_nor_password_by_default(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """STARTTLS is required unless a setting says otherwise: no falling back to clear text."""
    with smtp_server(credentials=("ilmo", "s3cret")) as smtp:  # plain SMTP, AUTH offered
        async with running_notification(
            infrastructure,
            mongo,
            smtp,
            smtp_tls="starttls",
            smtp_username="ilmo",
            smtp_password="s3cret",
        ) as service:
            before = sample(
                "ilmo_mail_attempt_failures_total",
                {"kind": "registration_received", "reason": "connection"},
            )
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event, registration)
            # Two attempts over: the second one no longer ``sending``, so its failure is counted.
            document = await mail_document_when(
                service,
                rid,
                NotificationKind.REGISTRATION_RECEIVED,
                lambda document: (
                    int(document.get("attempts", 0)) >= 2 and document["state"] != "sending"
                ),
            )
            failures = (
                sample(
                    "ilmo_mail_attempt_failures_total",
                    {"kind": "registration_received", "reason": "connection"},
                )
                - before
            )

    assert document["last_error"] == "connection: server does not offer STARTTLS"
    assert failures >= 2
    assert smtp.received == []
    assert smtp.transactions == 0
    assert smtp.logins == []
    assert service.announced(rid, "notification.sent") == []


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_a_certificate_from_an_untrusted_ca_is_refused(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    tmp_path: Path,
    tls: Literal["starttls", "implicit"],
) -> None:
    ca = throwaway_ca(tmp_path)
    with smtp_server(tls=tls, certificate=ca.server_context) as smtp:
        # No ILMO_SMTP_CA_FILE: the system's CAs, which never signed the throwaway one.
        async with running_notification(infrastructure, mongo, smtp, smtp_tls=tls) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event, registration)
            document = await mail_document_when(
                service,
                rid,
                NotificationKind.REGISTRATION_RECEIVED,
                lambda document: "last_error" in document,
            )

    assert document["last_error"] in {
        "connection: SSLCertVerificationError",  # STARTTLS
        "connection: SMTPConnectError",  # TLS from the start: aiosmtplib wraps it
    }
    assert document["state"] in {"pending", "failed"}
    assert smtp.received == []
    assert smtp.transactions == 0
    assert service.announced(rid, "notification.sent") == []


# ---------------------------------------------------------------- when SMTP fails


async def test_a_server_that_refuses_for_a_while_gets_the_mail_once_after_retries(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event)
            smtp.refuse(3, "451 4.3.0 Mailbox busy, try again later")
            await service.send(registration)
            [mail] = await smtp.wait_for(1, registration_id=rid, timeout=15)
            await service.wait_announced(rid, "notification.sent", 1)
            await service.settle()
            document = await service.mail_document(rid, NotificationKind.REGISTRATION_RECEIVED)

    assert smtp.refused == 3
    assert len(smtp.matching(registration_id=rid)) == 1
    assert mail.kind == "registration_received"
    assert document["state"] == "sent"
    assert document["attempts"] == 4
    assert service.announced(rid, "notification.failed") == []


async def test_a_server_that_is_down_for_a_while_gets_the_mail_once_without_a_storm(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(
            infrastructure, mongo, smtp, mail_retry_max_seconds=1
        ) as service:
            event = seminar()
            people = [accepted(event.event_id) for _ in range(3)]
            await service.send(event)
            await service.handled()
            before = sample(
                "ilmo_mail_attempt_failures_total",
                {"kind": "registration_received", "reason": "connection"},
            )
            smtp.down()
            await service.send(*people)
            await fixed_wait(2.0, because="the attempts on a server that is down are a rate")
            failures = (
                sample(
                    "ilmo_mail_attempt_failures_total",
                    {"kind": "registration_received", "reason": "connection"},
                )
                - before
            )
            smtp.up()
            for person in people:
                await smtp.wait_for(1, registration_id=str(person.registration_id), timeout=15)
            await service.settle()

    # The first pass tries each mail once; then the dispatcher pauses 0.1, 0.2, 0.4,
    # 0.8 ... s and probes with one connection: a handful in two seconds, no storm.
    assert 1 <= failures <= 8
    for person in people:
        assert len(smtp.matching(registration_id=str(person.registration_id))) == 1


async def test_a_spent_budget_parks_the_mail_and_announces_the_failure_once(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(
            infrastructure, mongo, smtp, mail_max_attempts=3
        ) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event)
            smtp.refuse(reply="451 4.3.0 Try again later")
            await service.send(registration)
            [failed] = await service.wait_announced(rid, "notification.failed", 1)
            smtp.accept()
            await service.settle()
            document = await service.mail_document(rid, NotificationKind.REGISTRATION_RECEIVED)
            summary = (await service.operations.get("/api/v1/mails/summary")).json()

    assert smtp.matching(registration_id=rid) == []
    assert smtp.refused == 3
    assert document["state"] == "failed"
    assert document["attempts"] == 3
    assert len(service.announced(rid, "notification.failed")) == 1
    assert service.announced(rid, "notification.sent") == []
    assert failed.data["kind"] == "registration_received"
    assert "451" in failed.data["reason"]
    assert str(registration.email) not in failed.body.decode()
    assert summary["kinds"]["registration_received"] == {"failed": 1}


async def test_an_operator_replays_a_parked_mail_with_a_fresh_budget(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    database = new_database(infrastructure)
    command = str(Path(sys.executable).parent / "ilmo-notification-replay")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ILMO_")}
    environment.update(ILMO_MONGODB_URL=infrastructure.mongodb_url, ILMO_MONGODB_DATABASE=database)
    with smtp_server() as smtp:
        async with running_notification(
            infrastructure, mongo, smtp, database=database, mail_max_attempts=2
        ) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event)
            smtp.refuse()
            await service.send(registration)
            await service.wait_announced(rid, "notification.failed", 1)
            # The server is mended, but refuses once more: the fresh budget absorbs it.
            smtp.refuse(1)
            replayed = await asyncio.to_thread(
                subprocess.run,
                [command, f"{rid}:registration_received"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
            )
            await smtp.wait_for(1, registration_id=rid, timeout=10)
            await service.wait_announced(rid, "notification.sent", 1)
            await service.settle()
            document = await service.mail_document(rid, NotificationKind.REGISTRATION_RECEIVED)
            not_failed = await asyncio.to_thread(
                subprocess.run,
                [command, f"{rid}:registration_received"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
            )

    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {rid}:registration_received" in replayed.stdout
    assert len(smtp.matching(registration_id=rid)) == 1
    assert smtp.refused == 3
    assert (document["state"], document["attempts"], document["budget_from"]) == ("sent", 4, 2)
    assert not_failed.returncode == 1
    assert "is not a failed mail" in not_failed.stderr


async def test_a_recipient_refused_for_good_is_parked_at_once(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event)
            smtp.refuse_recipients(1, f"550 5.1.1 <{registration.email}>: no such user")
            await service.send(registration)
            [failed] = await service.wait_announced(rid, "notification.failed", 1)
            document = await service.mail_document(rid, NotificationKind.REGISTRATION_RECEIVED)

    assert document["attempts"] == 1
    assert failed.data["reason"].endswith("smtp 550")
    assert str(registration.email) not in failed.body.decode()
    assert str(registration.email) not in document["last_error"]


# ---------------------------------------------------------------- one mail never holds up others


async def test_an_address_beyond_ascii_goes_with_smtputf8_where_the_server_offers_it(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server(smtputf8=True) as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            email = f"pää.{uuid.uuid4().hex[:8]}@esimerkki.fi"
            registration = accepted(event.event_id, language=Language.FI, email=email)
            rid = str(registration.registration_id)
            await service.send(event, registration, reserved(registration))
            mails = await smtp.wait_for(2, registration_id=rid)
            await service.wait_announced(rid, "notification.sent", 2)

    assert [mail.kind for mail in mails] == ["registration_received", "seat_confirmed"]
    for mail in mails:
        assert "SMTPUTF8" in mail.mail_options
        assert mail.recipients == (str(registration.email),)
        assert mail.message["To"].addresses[0].addr_spec == str(registration.email)
        assert mail.message["To"].addresses[0].display_name == "Åsa Öhman"
    assert "Hei Åsa" in mails[0].text()
    assert service.announced(rid, "notification.failed") == []


async def test_mails_that_cannot_go_fail_alone_and_the_others_still_go(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """More bad mails at the head of the due list than one pass reads, good ones behind them."""
    database = new_database(infrastructure)
    stores = notification_stores(mongo[database])
    await stores.create_indexes()
    event = seminar()
    await stores.event_details.remember(event)
    # The server lacks SMTPUTF8, so these three can never go.
    beyond_ascii = [
        accepted(event.event_id, email=f"pää.{n}.{uuid.uuid4().hex[:6]}@esimerkki.fi")
        for n in range(3)
    ]
    # These two cannot even be written: addresses no renderer can put in a header.
    unwritable = [accepted(event.event_id) for _ in range(2)]
    good = [accepted(event.event_id) for _ in range(3)]
    for registration in beyond_ascii + unwritable + good:
        await stores.contacts.remember(registration)
        await stores.mails.record_intent(
            MailRequest(
                str(registration.registration_id),
                event.event_id,
                NotificationKind.REGISTRATION_RECEIVED,
                {},
            ),
            cause="test",
        )
    for registration, email in zip(
        unwritable, ["no-at-sign.example.fi", "line\r\nbreak@example.fi"], strict=True
    ):
        await stores.contacts.collection.update_one(
            {"_id": str(registration.registration_id)}, {"$set": {"email": email}}
        )
    # The bad ones are due first, the good ones after them.
    for rank, registration in enumerate(beyond_ascii + unwritable + good):
        await stores.mails.collection.update_one(
            {"_id": f"{registration.registration_id}:registration_received"},
            {"$set": {"next_attempt_at": datetime.now(UTC) - timedelta(minutes=10 - rank)}},
        )

    with smtp_server(smtputf8=False) as smtp:
        async with running_notification(
            infrastructure, mongo, smtp, database=database, mail_batch_size=2
        ) as service:
            for registration in good:
                await smtp.wait_for(1, registration_id=str(registration.registration_id))
            failed = {
                str(registration.registration_id): (
                    await service.wait_announced(
                        str(registration.registration_id), "notification.failed", 1
                    )
                )[0]
                for registration in beyond_ascii + unwritable
            }
            await service.settle()
            documents = {
                str(registration.registration_id): await service.mail_document(
                    str(registration.registration_id), NotificationKind.REGISTRATION_RECEIVED
                )
                for registration in beyond_ascii + unwritable + good
            }

    assert sorted(mail.registration_id or "" for mail in smtp.received) == sorted(
        str(registration.registration_id) for registration in good
    )
    for registration in good:
        assert documents[str(registration.registration_id)]["state"] == "sent"
    for registration in beyond_ascii:
        document = documents[str(registration.registration_id)]
        assert document["state"] == "failed"
        assert document["last_error"] == "permanent: address needs SMTPUTF8, server lacks it"
        assert failed[str(registration.registration_id)].data["reason"] == document["last_error"]
    for registration in unwritable:
        document = documents[str(registration.registration_id)]
        assert document["state"] == "failed"
        assert document["last_error"] == "render: registration_received: ValueError"
        assert document["attempts"] == 0
    for message in failed.values():
        assert "esimerkki" not in message.body.decode()
        assert "example.fi" not in message.body.decode()
        assert len(service.announced(message.data["registration_id"], "notification.failed")) == 1


class ClaimBreaksFor(MailAttemptStore):
    """The real store, except that claiming an attempt at one mail raises (a bug, say)."""

    def __init__(self, *args: Any, broken_mail_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._broken = broken_mail_id

    async def claim(self, mail: Mail, attempt: int, *, lease: timedelta) -> Claim:
        if mail.id == self._broken:
            raise RuntimeError(f"broken for {mail.registration_id}")
        return await super().claim(mail, attempt, lease=lease)


async def test_a_fault_in_one_attempt_backs_that_mail_off_and_the_next_one_goes(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    now = [datetime.now(UTC)]
    event = seminar()
    broken, fine = accepted(event.event_id), accepted(event.event_id)
    broken_id = f"{broken.registration_id}:registration_received"
    database = mongo[new_database(infrastructure)]
    stores = replace(
        notification_stores(database, clock=lambda: now[0]),
        attempts=ClaimBreaksFor(database, clock=lambda: now[0], broken_mail_id=broken_id),
    )
    await stores.create_indexes()
    await stores.event_details.remember(event)
    for registration in (broken, fine):  # the broken one is due first
        await stores.contacts.remember(registration)
        await stores.mails.record_intent(
            MailRequest(
                str(registration.registration_id),
                event.event_id,
                NotificationKind.REGISTRATION_RECEIVED,
                {},
            ),
            cause="test",
        )
        now[0] += timedelta(seconds=1)

    with smtp_server() as smtp:
        dispatcher = MailDispatcher(
            stores,
            renderer(),
            SmtpMailer(SmtpSettings(host=smtp.host, port=smtp.port, tls=SmtpTls.NONE, timeout=5)),
            policy=MailRetryPolicy(max_attempts=2, base_seconds=60, max_seconds=60),
            batch_size=1,
            clock=lambda: now[0],
            jitter=lambda: 1.0,
        )
        first_pass_at = now[0]
        first = await dispatcher.dispatch_due()
        after_first = await stores.mails.document(broken_id)
        second = await dispatcher.dispatch_due()
        [mail] = await smtp.wait_for(1, registration_id=str(fine.registration_id), timeout=5)
        now[0] += timedelta(seconds=61)  # the broken mail's backoff is over
        third = await dispatcher.dispatch_due()
        after_third = await stores.mails.document(broken_id)

    assert (first.sent, second.sent, third.sent) == (0, 1, 0)
    assert after_first is not None
    assert after_first["state"] == "pending"
    assert after_first["attempts"] == 1
    assert after_first["last_error"] == "internal: RuntimeError"
    # Backed off like a failed attempt, behind the mail that was due after it.
    assert after_first["next_attempt_at"] >= first_pass_at + timedelta(seconds=59)
    assert mail.kind == "registration_received"
    # Its budget spent, it is parked and announced like any mail that cannot go.
    assert after_third is not None
    assert after_third["state"] == "failed"
    assert after_third["last_error"] == "2 attempts, last internal: RuntimeError"
    [announcement, integration_announcement] = after_third["outbox"]
    assert announcement["envelope"]["type"] == "notification.failed"
    # Outside systems learn the category of the failure, not its text.
    assert json.loads(integration_announcement["data"])["failure"] == "internal"
    assert "reason" not in json.loads(integration_announcement["data"])
    assert len(smtp.received) == 1


# ---------------------------------------------------------------- the crash window


async def seat_mail_left_sending(
    database: AsyncDatabase[Document],
) -> tuple[NotificationStores, str, str]:
    """A receipt sent, and a seat mail a dead process left ``sending``, its lease over.

    Returns the stores, the event's id and the registration's id.

    What the dead process left: attempt 1 claimed and marked, ten minutes ago.
    """
    stores = notification_stores(database)
    await stores.create_indexes()
    event = seminar()
    registration = accepted(event.event_id, language=Language.FI)
    rid = str(registration.registration_id)
    await stores.event_details.remember(event)
    await stores.contacts.remember(registration)
    await stores.mails.record_intent(
        MailRequest(rid, event.event_id, NotificationKind.REGISTRATION_RECEIVED, {}), cause="test"
    )
    await stores.mails.collection.update_one(
        {"_id": f"{rid}:registration_received"}, {"$set": {"state": "sent", "attempts": 1}}
    )
    await stores.mails.record_intent(
        MailRequest(rid, event.event_id, NotificationKind.SEAT_CONFIRMED, {"promoted": False}),
        cause="test",
    )
    await stores.attempts.collection.insert_one(
        {
            "_id": f"{rid}:seat_confirmed#1",
            "mail_id": f"{rid}:seat_confirmed",
            "attempt": 1,
            "started_at": datetime.now(UTC) - timedelta(minutes=10),
        }
    )
    await stores.mails.collection.update_one(
        {"_id": f"{rid}:seat_confirmed"},
        {
            "$set": {
                "state": "sending",
                "attempts": 1,
                "last_attempt_at": datetime.now(UTC) - timedelta(minutes=10),
                "next_attempt_at": datetime.now(UTC) - timedelta(minutes=5),
            }
        },
    )
    return stores, event.event_id, rid


async def test_a_mail_left_sending_by_a_dead_process_is_resent_with_the_same_message_id(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """The process died after marking the mail ``sending``: the server may have it already."""
    database = new_database(infrastructure)
    _store, _event_id, rid = await seat_mail_left_sending(mongo[database])
    before = sample("ilmo_mail_possible_duplicates_total", {"kind": "seat_confirmed"})

    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp, database=database) as service:
            [mail] = await smtp.wait_for(1, registration_id=rid, timeout=10)
            [announced] = await service.wait_announced(rid, "notification.sent", 1)
            await service.settle()
            document = await service.mail_document(rid, NotificationKind.SEAT_CONFIRMED)

    assert len(smtp.matching(registration_id=rid)) == 1
    assert mail.message_id is not None
    assert mail.message_id.strip() == f"<{rid}.seat_confirmed@ilmo.example.fi>"
    assert announced.data["message_id"] == mail.message_id.strip()
    assert sample("ilmo_mail_possible_duplicates_total", {"kind": "seat_confirmed"}) - before == 1
    assert document["state"] == "sent"
    assert document["attempts"] == 2


async def test_a_mail_left_sending_is_resent_even_when_a_later_mail_supersedes_it(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """Found by the chaos run: the seat mail may be in the inbox; it must not go unrecorded.

    The process died mid-send of the seat confirmation, then the person
    cancelled. Skipping the seat mail as superseded would leave a mail that
    may have been delivered without its ``notification.sent``; instead it is
    resent (same Message-ID), recorded, and the cancellation follows it.
    """
    database = new_database(infrastructure)
    stores, event_id, rid = await seat_mail_left_sending(mongo[database])
    await stores.mails.record_intent(
        MailRequest(rid, event_id, NotificationKind.CANCELLATION_CONFIRMED, {}), cause="test"
    )

    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp, database=database) as service:
            mails = await smtp.wait_for(2, registration_id=rid, timeout=20)
            announced = await service.wait_announced(rid, "notification.sent", 2)
            await service.settle()
            seat = await service.mail_document(rid, NotificationKind.SEAT_CONFIRMED)

    assert [m.kind for m in mails] == ["seat_confirmed", "cancellation_confirmed"]
    assert {a.data["kind"] for a in announced} == {"seat_confirmed", "cancellation_confirmed"}
    assert seat["state"] == "sent"


async def test_a_mail_sending_elsewhere_is_left_alone_until_its_lease_is_over(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """Another replica is in the middle of the attempt: no second copy from this one."""
    database = new_database(infrastructure)
    stores = notification_stores(mongo[database])
    await stores.create_indexes()
    event = seminar()
    registration = accepted(event.event_id)
    rid = str(registration.registration_id)
    await stores.event_details.remember(event)
    await stores.contacts.remember(registration)
    await stores.mails.record_intent(
        MailRequest(rid, event.event_id, NotificationKind.REGISTRATION_RECEIVED, {}), cause="test"
    )
    # Another dispatcher claimed attempt 1 a moment ago (and has not marked it yet).
    await stores.attempts.collection.insert_one(
        {
            "_id": f"{rid}:registration_received#1",
            "mail_id": f"{rid}:registration_received",
            "attempt": 1,
            "started_at": datetime.now(UTC),
        }
    )
    with smtp_server() as smtp, capture_logs() as logs:
        async with running_notification(infrastructure, mongo, smtp, database=database) as service:
            await service.left_alone(f"{rid}:registration_received", logs)
            document = await service.mail_document(rid, NotificationKind.REGISTRATION_RECEIVED)

    assert smtp.matching(registration_id=rid) == []
    assert document["state"] == "pending"


async def test_recording_sent_again_after_a_lost_reply_announces_the_mail_once(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """The dispatcher retries ``mark_sent`` after a storage error whose write had landed."""
    stores = notification_stores(mongo[new_database(infrastructure)])
    await stores.create_indexes()
    event = seminar()
    rid = str(accepted(event.event_id).registration_id)
    kind = NotificationKind.REGISTRATION_RECEIVED
    await stores.mails.record_intent(MailRequest(rid, event.event_id, kind, {}), cause="test")
    document = await stores.mails.document(f"{rid}:{kind.value}")
    assert document is not None
    mail = mail_of(document)
    await stores.mails.mark_sending(mail, 1, lease=timedelta(minutes=1))

    assert await stores.mails.mark_sent(mail, "<m@ilmo.example.fi>", attempt=1) is True
    assert await stores.mails.mark_sent(mail, "<m@ilmo.example.fi>", attempt=1) is False

    stored = await stores.mails.document(f"{rid}:{kind.value}")
    assert stored is not None
    assert stored["state"] == "sent"
    assert [entry["envelope"]["type"] for entry in stored["outbox"]] == ["notification.sent"] * 2


# ------------------------------------------------------------- confirmed addresses


def submitted_from(registration: RegistrationAccepted) -> RegistrationSubmitted:
    """The submission that came before ``registration`` was confirmed."""
    return RegistrationSubmitted(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        attendance=registration.attendance,
        language=registration.language,
        first_name=registration.first_name,
        last_name=registration.last_name,
        email=registration.email,
        submitted_at=registration.registered_at - timedelta(hours=1),
        expires_at=registration.registered_at + timedelta(hours=23),
    )


def repeated(
    registration: RegistrationAccepted, *, pending: bool, at: datetime
) -> RegistrationRepeated:
    return RegistrationRepeated(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        awaiting_confirmation=pending,
        expires_at=registration.registered_at + timedelta(hours=23) if pending else None,
        repeated_at=at,
    )


async def test_a_confirmed_registrant_gets_the_confirmation_then_the_seat_and_repeats_are_told(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id, language=Language.FI).model_copy(
                update={"email_confirmed": True}
            )
            rid = str(registration.registration_id)
            first_repeat = repeated(registration, pending=True, at=datetime.now(UTC))
            await service.send(event, submitted_from(registration))
            await smtp.wait_for(1, registration_id=rid, kind="confirm_address")
            # A repeat while pending, delivered twice: the confirmation once more.
            await publish(service.publisher, first_repeat, times=2)
            await smtp.wait_for(2, registration_id=rid, kind="confirm_address")
            await service.send(registration, reserved(registration))
            await smtp.wait_for(1, registration_id=rid, kind="seat_confirmed")
            await service.send(repeated(registration, pending=False, at=datetime.now(UTC)))
            await smtp.wait_for(1, registration_id=rid, kind="already_registered")
            await service.settle()

    mails = smtp.matching(registration_id=rid)
    assert [m.kind for m in mails] == [
        "confirm_address",
        "confirm_address",
        "seat_confirmed",
        "already_registered",
    ]
    first, again = mails[0], mails[1]
    link = confirmation_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid)
    assert link in first.text()
    assert link in again.text()
    assert "Aiempi ilmoittautumisesi odottaa" in again.text()
    assert first.message_id != again.message_id
    assert first.message["Subject"].startswith("Vahvista ilmoittautumisesi")
    assert manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid) in mails[3].text()
    assert len(service.announced(rid, "notification.sent")) == 4


def link_requested(
    registration: RegistrationAccepted,
    *,
    at: datetime,
    pending: bool = False,
    language: Language | None = None,
) -> RegistrationManageLinkRequested:
    return RegistrationManageLinkRequested(
        registration_id=registration.registration_id,
        event_id=registration.event_id,
        awaiting_confirmation=pending,
        expires_at=registration.registered_at + timedelta(hours=23) if pending else None,
        language=language,
        requested_at=at,
    )


async def test_each_requested_manage_link_is_mailed_once_however_often_it_is_delivered(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id, language=Language.SV)
            rid = str(registration.registration_id)
            await service.send(event, registration)
            await smtp.wait_for(1, registration_id=rid, kind="registration_received")
            now = datetime.now(UTC)
            # A request delivered twice, then another one asked in English.
            await publish(service.publisher, link_requested(registration, at=now), times=2)
            await smtp.wait_for(1, registration_id=rid, kind="manage_link")
            later = now + timedelta(minutes=6)
            await service.send(link_requested(registration, at=later, language=Language.EN))
            await smtp.wait_for(2, registration_id=rid, kind="manage_link")
            await service.settle()
            sent = service.announced(rid, "notification.sent")

    first, second = smtp.matching(registration_id=rid, kind="manage_link")
    link = manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid)
    assert link in first.text()
    assert link in second.text()
    assert (first.language, second.language) == ("sv", "en")
    assert first.message["Subject"].startswith("Länken till din anmälan")
    assert first.message_id != second.message_id
    assert confirmation_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid) not in first.text()
    # The receipt and the two links, each announced once.
    assert len(sent) == 3
    assert {m.data["kind"] for m in sent} == {"registration_received", "manage_link"}


async def test_a_requested_link_of_a_pending_registration_also_asks_to_confirm(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id, language=Language.FI)
            rid = str(registration.registration_id)
            await service.send(event, submitted_from(registration))
            await smtp.wait_for(1, registration_id=rid, kind="confirm_address")
            await service.send(link_requested(registration, at=datetime.now(UTC), pending=True))
            [mail] = await smtp.wait_for(1, registration_id=rid, kind="manage_link")
    assert confirmation_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid) in mail.text()
    assert manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, rid) in mail.text()
    assert "Sähköpostiosoitettasi ei ole vielä vahvistettu" in mail.text()


async def test_an_expired_registration_is_forgotten_with_its_mails(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    with smtp_server() as smtp:
        async with running_notification(infrastructure, mongo, smtp) as service:
            event = seminar()
            registration = accepted(event.event_id)
            rid = str(registration.registration_id)
            await service.send(event, submitted_from(registration))
            await smtp.wait_for(1, registration_id=rid, kind="confirm_address")
            await service.settle()
            assert await service.database["contacts"].count_documents({"_id": rid}) == 1
            await service.send(
                RegistrationExpired(
                    registration_id=registration.registration_id,
                    event_id=registration.event_id,
                    expired_at=datetime.now(UTC),
                )
            )
            await service.handled()
            contacts = await service.database["contacts"].count_documents({"_id": rid})
            mails = await service.database["mails"].count_documents({"registration_id": rid})
    assert (contacts, mails) == (0, 0)


# ---------------------------------------------------------------- causes


async def test_a_mail_stored_before_switching_existed_is_still_found_and_each_switch_mails_anew(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    """Version 1 keeps the old id; a later attendance version is a mail of its own."""
    stores = notification_stores(mongo[new_database(infrastructure)])
    await stores.create_indexes()
    event = seminar()
    registration = accepted(event.event_id, language=Language.FI)
    rid = str(registration.registration_id)
    await stores.contacts.remember(registration)
    # As an earlier version stored it: no cause (``occasion``) at all.
    await stores.mails.collection.insert_one(
        {
            "_id": f"{rid}:seat_confirmed",
            "registration_id": rid,
            "event_id": event.event_id,
            "kind": "seat_confirmed",
            "details": {"promoted": False},
            "state": "sent",
            "attempts": 1,
            "outbox": [],
        }
    )
    notifications = Notifications(stores, wake=lambda: None)
    seat = reserved(registration)
    for event_of_version in (seat, seat.model_copy(update={"attendance_version": 3})):
        for _ in range(2):  # each delivered twice
            await notifications.ask_for(
                handlers.seat_confirmed(event_of_version), cause="test", correlation_id=None
            )

    ids = sorted(
        [
            str(document["_id"])
            async for document in stores.mails.collection.find({"registration_id": rid})
        ]
    )
    assert ids == [f"{rid}:seat_confirmed", f"{rid}:seat_confirmed:v3"]
    stored_v3 = mail_of(await stores.mails.document(f"{rid}:seat_confirmed:v3") or {})
    assert (stored_v3.occasion, stored_v3.attendance_version) == ("v3", 3)
    assert mail_of(await stores.mails.document(f"{rid}:seat_confirmed") or {}).occasion == ""

    # An erasure finds every mail of the registration, whatever its cause.
    assert await stores.mails.erase_for(rid, datetime.now(UTC)) == 2
    async for document in stores.mails.collection.find({"registration_id": rid}):
        assert document["details"] == {}

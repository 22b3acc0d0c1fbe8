"""Erasure, proven from outside: after it, the erased people are nowhere Ilmo keeps data.

The four services run as processes with a real SMTP server. People with
distinctive names and addresses register for three events:

- a seminar still to come: ``seated`` (the one seat) and ``remote`` are
  erased on request (an administrator's DELETE); ``waiting`` (waitlisted)
  and ``kept`` are not, and ``waiting`` gets the seat ``seated`` held. A
  forged ``registration.accepted`` carrying ``seated``'s name and address
  is published as well: every consumer refuses it and parks
  it in its dead-letter queue, where personal data must not outlive the
  erasure either;
- an event that has ended, with ``retention_days`` 0: ``expired_a`` and
  ``expired_b`` are erased by the retention sweep;
- an event that has ended, with the default retention: ``needy`` keeps the
  registration but loses their ``needs``.

Then every document of every collection of every service's database, and
every message of every queue of the session's vhost (dead-letter queues,
retry queues and the catch-up stream included), is searched for the erased
people's names and addresses: no hits, while the kept people are still
found (the search does find what is there). The erased people's manage
links and stream link answer 410, and the logs of the whole run hold none
of the names, addresses or tokens of anyone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient

from ilmo_event_contracts import Attendance, Envelope, Language, RegistrationAccepted
from ilmo_shared.messaging.catch_up import CATCH_UP_STREAM_NAME
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.messaging.users import DEAD_LETTER_POLICY
from ilmo_shared.outbox import outbox_entry
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.registration import ADMIN, NOTICE_VERSION, starting_soon
from tests.support.settling import quiescent
from tests.support.smtp import SmtpTestServer, services_with_mail

MANAGE_LINK = re.compile(r"https?://[^\s\"'<>]+/manage/([0-9a-f-]{36})\?token=([A-Za-z0-9_-]+)")
WATCH_LINK = re.compile(r"https?://[^\s\"'<>]+/watch/([A-Za-z0-9_-]+)")
SERVICES = ("registration", "capacity", "notification", "streaming")


@dataclass
class Person:
    """A registrant with strings found nowhere else, and what Ilmo gave them."""

    label: str
    attendance: str
    needs: str | None = None
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    registration_id: str = ""
    manage_token: str = ""
    link_token: str = ""
    watch_token: str = ""

    def __post_init__(self) -> None:
        mark = uuid.uuid4().hex[:10]
        self.first_name = f"Erkki{mark}"
        self.last_name = f"Poistettava{mark}"
        self.email = f"erasure.{mark}@example.fi"

    @property
    def personal(self) -> tuple[str, ...]:
        """What identifies the person: names and address (the needs text too, if any)."""
        found = (self.first_name, self.last_name, self.email)
        return found + ((self.needs,) if self.needs else ())

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.manage_token, self.link_token, self.watch_token) if t)

    def request(self, language: str = "fi") -> dict[str, Any]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "organisation": "Testivirasto",
            "attendance": self.attendance,
            "language": language,
            "needs": self.needs,
            "needs_consent": self.needs is not None,
            "privacy_notice_version": NOTICE_VERSION,
        }


STREAM_URL = "https://stream.example.fi/live/erasure"


def ended(retention_days: int) -> dict[str, Any]:
    """The change that moves an event into the past (the catalogue allows past times)."""
    now = datetime.now(UTC).replace(microsecond=0)
    starts = now - timedelta(days=2)
    return {
        "registration_opens_at": (starts - timedelta(days=5)).isoformat(),
        "registration_closes_at": (starts - timedelta(hours=1)).isoformat(),
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3)).isoformat(),
        "retention_days": retention_days,
    }


async def register(api: httpx.AsyncClient, event_id: str, person: Person) -> None:
    answer = await api.post(f"/api/v1/events/{event_id}/registrations", json=person.request())
    assert answer.status_code == 202, answer.text
    person.registration_id = answer.json()["id"]
    person.manage_token = answer.json()["manage_token"]


def take_links(smtp: SmtpTestServer, person: Person) -> None:
    """The manage link's token and the stream link's token from the person's emails."""
    for mail in smtp.matching(registration_id=person.registration_id):
        text = mail.text()
        for registration_id, token in MANAGE_LINK.findall(text):
            assert registration_id == person.registration_id
            person.link_token = token
        for token in WATCH_LINK.findall(text):
            person.watch_token = token


async def forge_acceptance(infrastructure: IsolatedInfrastructure, person: Person) -> None:
    """A ``registration.accepted`` with the person's data, from a user that may not send it."""
    forged = RegistrationAccepted(
        registration_id=uuid.UUID(person.registration_id),
        event_id="forged-event",
        attendance=Attendance.REMOTE,
        language=Language.FI,
        first_name=person.first_name,
        last_name=person.last_name,
        email=person.email,
        registered_at=datetime.now(UTC),
    )
    entry = outbox_entry(forged, source="ilmo/forger")
    broker = RabbitBroker(infrastructure.amqp_url, logger=None)
    await broker.connect()
    try:
        await EventPublisher(broker).publish(
            Envelope.model_validate(entry["envelope"]), entry["data"].encode()
        )
    finally:
        await broker.stop()


def queues(infrastructure: IsolatedInfrastructure) -> list[dict[str, Any]]:
    vhost = quote(infrastructure.vhost, safe="")
    with infrastructure.management() as api:
        answer = api.get(f"/api/queues/{vhost}")
        answer.raise_for_status()
        return list(answer.json())


def parked_counts(infrastructure: IsolatedInfrastructure) -> dict[str, int]:
    return {
        q["name"]: int(q.get("messages", 0))
        for q in queues(infrastructure)
        if q["name"].endswith(".dead-letter")
    }


async def queue_texts(infrastructure: IsolatedInfrastructure) -> dict[str, str]:
    """Every message (headers and body) of every classic and quorum queue, left in place.

    Read over AMQP once the services have stopped, as the only consumer: the
    management API's get is refused on single-active-consumer queues. Each
    queue's count comes from its declaration (not the sampled statistics);
    the messages taken are never acknowledged, so closing the channel puts
    them all back.
    """
    texts: dict[str, str] = {}
    connection = await aio_pika.connect(infrastructure.amqp_url)
    async with connection:
        for listed in queues(infrastructure):
            if listed.get("type") == "stream":
                continue
            channel = await connection.channel()
            queue = await channel.declare_queue(listed["name"], passive=True)
            count = queue.declaration_result.message_count or 0
            seen: list[str] = []
            if count:
                async with queue.iterator() as messages:
                    async for message in messages:
                        headers = {k: str(v) for k, v in (message.headers or {}).items()}
                        seen.append(json.dumps(headers, ensure_ascii=False))
                        seen.append(message.body.decode(errors="replace"))
                        if len(seen) == 2 * count:
                            break
            await channel.close()
            texts[listed["name"]] = "\n".join(seen)
    return texts


async def stream_text(infrastructure: IsolatedInfrastructure) -> str:
    """Everything in the catch-up stream, read from its first offset up to a marker put last."""
    marker = f"erasure-test-end-{uuid.uuid4().hex}".encode()
    connection = await aio_pika.connect(infrastructure.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(marker), routing_key=CATCH_UP_STREAM_NAME
        )
        await channel.set_qos(prefetch_count=500)
        stream = await channel.declare_queue(CATCH_UP_STREAM_NAME, passive=True)
        seen: list[str] = []
        async with stream.iterator(arguments={"x-stream-offset": "first"}) as messages:
            async for message in messages:
                await message.ack()
                if message.body == marker:
                    break
                headers = {k: str(v) for k, v in (message.headers or {}).items()}
                seen.append(json.dumps(headers, ensure_ascii=False))
                seen.append(message.body.decode(errors="replace"))
    return "\n".join(seen)


async def database_texts(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> dict[str, str]:
    """Every document of every collection of each service's database, as JSON text."""
    texts: dict[str, str] = {}
    for service in SERVICES:
        database = mongo[infrastructure.database_name(service)]
        for name in await database.list_collection_names():
            documents = [d async for d in database[name].find({})]
            texts[f"{service}.{name}"] = json.dumps(documents, ensure_ascii=False, default=str)
    return texts


def hits(texts: dict[str, str], needles: Iterable[str]) -> list[tuple[str, str]]:
    return [
        (where, needle) for where, text in texts.items() for needle in needles if needle in text
    ]


async def test_erased_people_are_nowhere_in_databases_queues_or_logs(
    infrastructure: IsolatedInfrastructure, mongo: AsyncMongoClient[Document]
) -> None:
    seated = Person("seated", "in_person", needs=f"Pyörätuoli-{uuid.uuid4().hex[:8]}")
    remote = Person("remote", "remote")
    waiting = Person("waiting", "in_person")
    kept = Person("kept", "remote")
    expired_a = Person("expired_a", "remote", needs=f"Tulkkaus-{uuid.uuid4().hex[:8]}")
    expired_b = Person("expired_b", "in_person")
    needy = Person("needy", "remote", needs=f"Induktiosilmukka-{uuid.uuid4().hex[:8]}")
    erased_on_request = [seated, remote]
    erased = [*erased_on_request, expired_a, expired_b]
    everyone = [*erased, waiting, kept, needy]
    upcoming, expiring, ending = (starting_soon("erasure", STREAM_URL) for _ in range(3))

    with services_with_mail(infrastructure) as (smtp, services):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            for event in (upcoming, expiring, ending):
                created = await api.post("/api/v1/events", json=event, headers=ADMIN)
                assert created.status_code == 201, created.text
            # One after another, so that the seat goes to ``seated``.
            for person in (seated, remote, waiting, kept):
                await register(api, upcoming["id"], person)
                await smtp.wait_for(1, registration_id=person.registration_id, timeout=60)
            for person in (expired_a, expired_b):
                await register(api, expiring["id"], person)
            await register(api, ending["id"], needy)
            # Receipt, seat or waiting list, stream links: 4 + 1 + 2 + 3 + 2 + 1 + 1 + 1 mails.
            await smtp.wait_for(15, timeout=90)
            await quiescent(services, infrastructure, mongo)
            for person in everyone:
                take_links(smtp, person)
            assert remote.watch_token
            assert waiting.watch_token
            assert seated.link_token

            await forge_acceptance(infrastructure, seated)

            async def parked_everywhere() -> bool:
                counts = parked_counts(infrastructure)
                return all(counts.get(f"{s}.dead-letter", 0) >= 1 for s in SERVICES[1:])

            await eventually(parked_everywhere, what="the forged message parked", interval=0.2)

            # Erasure on request, twice: the second changes nothing and answers the same.
            for person in erased_on_request:
                for _ in range(2):
                    answer = await api.delete(
                        f"/api/v1/admin/registrations/{person.registration_id}", headers=ADMIN
                    )
                    assert answer.status_code == 202, answer.text
                    tombstone = answer.json()
                    assert tombstone["erased_at"] is not None
                    assert tombstone["first_name"] is None
                    assert tombstone["email"] is None
                    assert tombstone["status"] == "cancelled"
            unknown = await api.delete(f"/api/v1/admin/registrations/{uuid.uuid4()}", headers=ADMIN)
            assert unknown.status_code == 404
            assert unknown.headers["content-type"].startswith("application/problem+json")
            unauthorised = await api.delete(f"/api/v1/admin/registrations/{kept.registration_id}")
            assert unauthorised.status_code == 401

            # Expiry: two events end; the retention sweep erases what is due.
            for event, retention_days in ((expiring, 0), (ending, 90)):
                changed = await api.patch(
                    f"/api/v1/events/{event['id']}", json=ended(retention_days), headers=ADMIN
                )
                assert changed.status_code == 200, changed.text
            swept = await api.post("/api/v1/admin/retention/sweep", headers=ADMIN)
            assert swept.status_code == 200, swept.text
            assert swept.json() == {"events": 2, "needs_erased": 1, "registrations_erased": 2}
            again = await api.post("/api/v1/admin/retention/sweep", headers=ADMIN)
            assert again.json() == {"events": 0, "needs_erased": 0, "registrations_erased": 0}

            # The waiting person got the seat once ``seated`` was erased (cancelled first).
            promoted = await smtp.wait_for(
                1, registration_id=waiting.registration_id, kind="seat_confirmed", timeout=60
            )
            assert promoted
            await quiescent(services, infrastructure, mongo)

            listed = await api.get(f"/api/v1/events/{upcoming['id']}/registrations", headers=ADMIN)
            rows = {row["id"]: row for row in listed.json()}
            assert len(rows) == 4
            assert rows[waiting.registration_id]["status"] == "seat_reserved"
            for person in erased_on_request:
                row = rows[person.registration_id]
                assert row["erased_at"]
                assert row["first_name"] is None
                assert row["needs"] is None
            assert rows[kept.registration_id]["email"] == kept.email

            await links_are_gone(api, services["streaming"], erased_on_request, kept)

    databases = await database_texts(infrastructure, mongo)
    in_queues = await queue_texts(infrastructure)
    in_queues[CATCH_UP_STREAM_NAME] = await stream_text(infrastructure)
    dead_letter_queues = [q for q in queues(infrastructure) if q["name"].endswith(".dead-letter")]
    assert sorted(q["name"] for q in dead_letter_queues) == sorted(
        f"{s}.dead-letter" for s in SERVICES
    )
    # Parked messages expire by the broker's policy, whatever else happens to them.
    for queue in dead_letter_queues:
        assert queue.get("policy") == DEAD_LETTER_POLICY, queue
        assert queue["effective_policy_definition"]["message-ttl"] == 14 * 24 * 3600 * 1000

    erased_strings = [s for person in erased for s in person.personal]
    assert hits(databases, erased_strings) == []
    assert hits(in_queues, erased_strings) == []
    # The search finds what is there: the kept people are still kept.
    assert hits(databases, [kept.email, waiting.email, needy.email])
    assert not hits(databases, [needy.needs or ""])

    secrets = [s for person in everyone for s in (*person.personal, *person.secrets)]
    logs = {name: full_log(service) for name, service in services.items()}
    assert hits(logs, secrets) == []


async def links_are_gone(
    api: httpx.AsyncClient, streaming: ServiceProcess, erased: list[Person], kept: Person
) -> None:
    """Manage pages, the registrant's JSON API and the stream link answer 410 after erasure."""
    for person in erased:
        page = await api.get(f"/manage/{person.registration_id}?token={person.link_token}")
        assert page.status_code == 410, page.text
        assert page.headers["content-type"].startswith("text/html")
        for token in (person.manage_token, person.link_token):
            shown = await api.get(
                f"/api/v1/registrations/{person.registration_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert shown.status_code == 410, shown.text
            assert shown.json()["type"] == "/problems/registration-erased"
    kept_page = await api.get(f"/manage/{kept.registration_id}?token={kept.link_token}")
    assert kept_page.status_code == 200

    async with httpx.AsyncClient(base_url=streaming.url, timeout=10) as browser:
        for person in erased:
            if not person.watch_token:
                continue

            async def gone(token: str = person.watch_token) -> bool:
                answer = await browser.get(f"/watch/{token}", follow_redirects=False)
                return answer.status_code == 410

            await eventually(gone, what=f"{person.label}'s stream link to answer 410")
        kept_link = await browser.get(f"/watch/{kept.watch_token}", follow_redirects=False)
        assert kept_link.status_code == 302


def full_log(service: ServiceProcess) -> str:
    """The service's whole output during the run (``ServiceProcess.log`` keeps only the end)."""
    return service.log_path.read_text(errors="replace")

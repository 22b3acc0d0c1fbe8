"""Inputs for the notification service's tests: an event, a registrant, the mails' settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from faststream.rabbit import RabbitBroker
from pymongo.asynchronous.database import AsyncDatabase

from ilmo_event_contracts import (
    AgendaItem,
    Attendance,
    EventPublished,
    Language,
    LocalizedText,
    Organiser,
    RegistrationAccepted,
    Speaker,
    Talk,
    Venue,
)
from ilmo_notification.domain import OPEN_STATES, Contact
from ilmo_notification.rendering import MailRenderer
from ilmo_notification.storage import (
    MAILS,
    ContactStore,
    EventDetailsStore,
    MailAttemptStore,
    MailStore,
    NotificationStores,
    RosterStore,
    ScheduleStore,
)
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.messaging.publisher import EventPublisher
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.storage import Document

MANAGE_LINK_SECRET = "test-manage-link-secret-0123456789abcdef"
REGISTRATION_URL = "https://ilmo.example.fi"
MAIL_FROM = "Ilmo \u2013 Valtioneuvosto <ilmo@ilmo.example.fi>"
# Who holds the seminar: the mails are in its name, and replies go to it.
ORGANISER = Organiser(
    name=LocalizedText(
        fi="Valtiovarainministeriö", sv="Finansministeriet", en="Ministry of Finance"
    ),
    email="seminaari@vm.example.fi",
    phone="+358 295 16001",
)
# Friday 29 January 2027, 9.00-12.00 in Helsinki (UTC+2 in winter).
STARTS_AT = datetime(2027, 1, 29, 7, 0, tzinfo=UTC)
# Open mails that are due rather than waiting for something (their contact, the
# event's details, their receipt): the dispatcher may still send them.
MAILS_DUE = {
    "state": {"$in": [state.value for state in OPEN_STATES]},
    "waiting_for": {"$exists": False},
}


def seminar(
    event_id: str | None = None,
    *,
    starts_at: datetime = STARTS_AT,
    organiser: Organiser | None = ORGANISER,
) -> EventPublished:
    return EventPublished(
        event_id=event_id or f"seminar-{uuid.uuid4().hex[:10]}",
        revision=1,
        title=LocalizedText(
            fi="Tekoäly hallinnossa", sv="AI i förvaltningen", en="AI in government"
        ),
        description=LocalizedText(fi="Seminaari julkishallinnolle.", en="A seminar."),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        timezone="Europe/Helsinki",
        venue=Venue(
            name="Ministeriön juhlasali",
            address="Snellmaninkatu 1, Helsinki",
            arrival_instructions=LocalizedText(
                fi="Sisäänkäynti pääovesta.",
                sv="Ingång via huvudentrén.",
                en="Enter by the main door.",
            ),
        ),
        in_person_capacity=1,
        registration_opens_at=starts_at - timedelta(days=30),
        registration_closes_at=starts_at - timedelta(days=7),
        stream_url="https://stream.example.fi/seminar",
        agenda=(
            AgendaItem(
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=90),
                title=LocalizedText(fi="Avaus", sv="Öppning", en="Opening"),
                speakers=(Speaker(name="Maija Virtanen", title="Kansliapäällikkö"),),
            ),
            AgendaItem(
                starts_at=starts_at + timedelta(minutes=90),
                ends_at=starts_at + timedelta(hours=3),
                title=LocalizedText(fi="Paneeli", sv="Panel", en="Panel"),
                talks=(
                    Talk(
                        title=LocalizedText(
                            fi="Tekoäly asiakaspalvelussa",
                            sv="AI i kundtjänsten",
                            en="AI in customer service",
                        ),
                        speakers=(
                            Speaker(
                                name="Liisa Korhonen",
                                title=LocalizedText(fi="johtaja", sv="direktör", en="Director"),
                                organisation=LocalizedText(
                                    fi="Digi- ja väestötietovirasto",
                                    sv="Myndigheten för digitalisering och befolkningsdata",
                                    en="Digital and Population Data Services Agency",
                                ),
                            ),
                        ),
                    ),
                    Talk(
                        title=LocalizedText(
                            fi="Kysymyksiä ja keskustelua",
                            sv="Frågor och diskussion",
                            en="Questions and discussion",
                        )
                    ),
                ),
            ),
        ),
        published=True,
        organiser=organiser,
    )


def accepted(
    event_id: str,
    *,
    language: Language = Language.SV,
    attendance: Attendance = Attendance.IN_PERSON,
    first_name: str = "Åsa",
    last_name: str = "Öhman",
    email: str | None = None,
    registration_id: uuid.UUID | None = None,
) -> RegistrationAccepted:
    return RegistrationAccepted(
        registration_id=registration_id or uuid.uuid4(),
        event_id=event_id,
        attendance=attendance,
        language=language,
        first_name=first_name,
        last_name=last_name,
        email=email or f"asa.{uuid.uuid4().hex[:8]}@example.fi",
        registered_at=datetime.now(UTC),
    )


def contact_of(registration: RegistrationAccepted) -> Contact:
    return Contact(
        registration_id=str(registration.registration_id),
        event_id=registration.event_id,
        email=str(registration.email),
        first_name=registration.first_name,
        last_name=registration.last_name,
        language=registration.language,
        attendance=registration.attendance,
    )


def renderer() -> MailRenderer:
    return MailRenderer(
        mail_from=MAIL_FROM,
        registration_public_url=REGISTRATION_URL,
        manage_link_secret=MANAGE_LINK_SECRET,
    )


def notification_stores(
    database: AsyncDatabase[Document], *, clock: Clock = utc_now
) -> NotificationStores:
    """The service's stores on ``database``, as its wiring builds them.

    Their relay never runs (its broker is never connected): what the mails
    announce stays in their outboxes, for a test to read or for a service
    started later on the same database to publish.
    """
    relay = OutboxRelay(EventPublisher(RabbitBroker(logger=None)))
    outbox = relay.outbox(database[MAILS], source="ilmo/notification")
    return NotificationStores(
        contacts=ContactStore(database, clock=clock),
        event_details=EventDetailsStore(database, clock=clock),
        mails=MailStore(database, outbox=outbox, locks=relay.locks, clock=clock),
        attempts=MailAttemptStore(database, clock=clock),
        roster=RosterStore(database, locks=relay.locks),
        schedule=ScheduleStore(database, locks=relay.locks, clock=clock),
    )

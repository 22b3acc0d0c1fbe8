"""A registrant's calendar entry, built in one place for the manage page and the mails."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from icalendar import Calendar

import ilmo_shared
from ilmo_event_contracts import Attendance, Language, LocalizedText, NotificationKind, Venue
from ilmo_notification.domain import MailRequest
from ilmo_shared.calendar import (
    calendar_domain,
    calendar_file,
    entry_uid,
    file_name,
    registrant_entry,
)
from ilmo_shared.i18n import untranslated
from tests.support.notification import (
    REGISTRATION_URL,
    STARTS_AT,
    accepted,
    contact_of,
    renderer,
    seminar,
)

NOW = datetime(2026, 12, 1, 10, 0, 30, 123000, tzinfo=UTC)
REGISTRATION = "5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60"
EVENT = seminar("ministry-seminar").model_copy(
    update={
        "revision": 3,
        "venue": Venue(
            name=LocalizedText(fi="Valtiovarainministeriö", sv="Finansministeriet"),
            address="Snellmaninkatu 1, Helsinki",
        ),
    }
)
UID = f"ministry-seminar.{REGISTRATION}@ilmo.example.fi"
NOTES = {
    Language.FI: "Saat henkilökohtaisen linkin verkkolähetykseen sähköpostilla.",
    Language.SV: "Du får din personliga länk till webbsändningen per e-post.",
    Language.EN: "Your personal link to the web stream arrives by email.",
}


def entry_of(
    attendance: Attendance, language: Language, stream_link: str | None = None
) -> Calendar:
    entry = registrant_entry(
        EVENT,
        uid=entry_uid(EVENT.event_id, REGISTRATION, calendar_domain(REGISTRATION_URL)),
        revision=EVENT.revision,
        attendance=attendance,
        language=language,
        now=NOW,
        stream_link=stream_link,
    )
    return Calendar.from_ical(calendar_file(entry))


def test_the_entry_is_named_by_event_and_registration_and_written_in_utc() -> None:
    calendar = entry_of(Attendance.IN_PERSON, Language.FI)
    assert str(calendar["METHOD"]) == "PUBLISH"
    [entry] = calendar.events
    assert str(entry["UID"]) == UID
    assert entry["SEQUENCE"] == 2  # the event's third revision: the first is 0
    assert entry.start == STARTS_AT
    # Written with "Z", not a local time or a zone the reader must know.
    text = calendar_file(
        registrant_entry(
            EVENT, uid=UID, revision=1, attendance=Attendance.REMOTE, language=Language.EN, now=NOW
        )
    )
    assert "DTSTART:20270129T070000Z" in text
    assert "DTEND:20270129T100000Z" in text
    assert "DTSTAMP:20261201T100030Z" in text
    assert "SEQUENCE:0" in text
    assert entry.end == STARTS_AT + timedelta(hours=3)


@pytest.mark.parametrize(
    ("language", "location", "title"),
    [
        (Language.FI, "Valtiovarainministeriö, Snellmaninkatu 1, Helsinki", "Tekoäly hallinnossa"),
        (Language.SV, "Finansministeriet, Snellmaninkatu 1, Helsinki", "AI i förvaltningen"),
        (Language.EN, "Valtiovarainministeriö, Snellmaninkatu 1, Helsinki", "AI in government"),
    ],
)
def test_in_person_the_location_is_the_venue_in_the_registrants_language(
    language: Language, location: str, title: str
) -> None:
    [entry] = entry_of(Attendance.IN_PERSON, language).events
    assert str(entry["LOCATION"]) == location
    assert str(entry["SUMMARY"]) == title
    assert NOTES[language] not in str(entry["DESCRIPTION"])


@pytest.mark.parametrize("language", list(Language))
def test_remotely_there_is_no_location_but_word_that_the_link_comes_by_mail(
    language: Language,
) -> None:
    [entry] = entry_of(Attendance.REMOTE, language).events
    assert "LOCATION" not in entry
    assert NOTES[language] in str(entry["DESCRIPTION"])


def test_a_remote_registrants_stream_mail_updates_the_same_entry_with_the_link() -> None:
    link = "https://watch.example.fi/w/abc"
    [downloaded] = entry_of(Attendance.REMOTE, Language.SV).events
    registration = accepted(
        EVENT.event_id, attendance=Attendance.REMOTE, registration_id=uuid.UUID(REGISTRATION)
    )
    request = MailRequest(
        REGISTRATION,
        EVENT.event_id,
        NotificationKind.STREAM_LINK,
        {"url": link, "valid_from": STARTS_AT, "valid_until": STARTS_AT + timedelta(hours=4)},
    )
    contact = replace(contact_of(registration), language=Language.SV)
    composed = renderer().compose(request, contact, EVENT, now=NOW)
    [mailed] = _calendar_in(composed.data.decode("utf-8")).events
    assert mailed["UID"] == downloaded["UID"]
    assert mailed["SEQUENCE"] == downloaded["SEQUENCE"]
    assert str(mailed["URL"]) == link
    assert link in str(mailed["DESCRIPTION"])


def test_the_file_name_is_safe() -> None:
    assert file_name("ministry-seminar") == "ministry-seminar.ics"
    assert file_name("../a b", "-stream") == "a-b-stream.ics"


def test_every_text_of_the_shared_library_is_in_finnish_and_swedish() -> None:
    assert untranslated("ilmo_shared", Path(ilmo_shared.__file__).parent) == {}


def _calendar_in(data: str) -> Calendar:
    message = message_from_string(data, policy=default)
    assert isinstance(message, EmailMessage)
    [attachment] = list(message.iter_attachments())
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)

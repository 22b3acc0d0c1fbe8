"""The mails of the event's life: reminders, change and cancellation notices, messages, thanks.

What each says for the reader's role, in their language; the calendar entry a
change notice updates and a cancellation removes; the check-in QR code that
reads back to the signed code and to nothing personal.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar

from ilmo_event_contracts import Attendance, Language, LocalizedText, NotificationKind, Venue
from ilmo_notification.domain import MailRequest
from ilmo_notification.rendering import QR_BORDER, QR_SCALE
from ilmo_shared.calendar import calendar_file, registrant_entry
from ilmo_shared.check_in import check_in_code, registration_of
from tests.support.notification import (
    MANAGE_LINK_SECRET,
    STARTS_AT,
    accepted,
    renderer,
    seminar,
)
from tests.support.qr_codes import read_qr
from tests.unit.test_notification_rendering import (
    LANGUAGES,
    MESSAGE_BODY,
    NOW,
    STREAM_URL,
    TITLES,
    body,
    calendar_of,
    compose,
    parsed,
    plain_text,
)

REGISTRATION = "5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60"
UID = f"ministry-seminar.{REGISTRATION}@ilmo.example.fi"
# A link whose stored window is not the event's: the mails show the event's.
LINK = {
    "url": STREAM_URL,
    "valid_from": STARTS_AT - timedelta(hours=5),
    "valid_until": STARTS_AT + timedelta(days=2),
}
# The event's own window: 30 min before 9.00 to 2 h after 12.00 (the defaults).
OPENS = {
    Language.FI: "pe 29.1.2027 klo 8.30",
    Language.SV: "fre 29.1.2027 kl. 8.30",
    Language.EN: "Fri 29 January 2027, 8:30",
}


def parts(message: EmailMessage) -> tuple[str, str]:
    return plain_text(message), body(message, "html")


def png_of(message: EmailMessage) -> tuple[bytes, str]:
    """The one inline image of ``message`` and its Content-ID (without brackets)."""
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    payload = image.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert image.get_content_disposition() == "inline"
    return payload, str(image["Content-ID"]).strip().strip("<>")


# ---------------------------------------------------------------- reminders


@pytest.mark.parametrize(
    ("language", "seat", "venue", "show"),
    [
        (Language.FI, "sinulle on vahvistettu paikka", "Paikka", "Näytä tämä QR-koodi ovella"),
        (Language.SV, "du har en plats i lokalen", "Lokal", "Visa den här QR-koden vid dörren"),
        (Language.EN, "you have a seat at the venue", "Venue", "Show this QR code at the door"),
    ],
)
def test_a_seat_holders_reminder_has_the_arrival_details_and_the_check_in_code(
    language: Language, seat: str, venue: str, show: str
) -> None:
    received = parsed(compose(NotificationKind.REMINDER, language)[0])
    text, html = parts(received)
    code = check_in_code(MANAGE_LINK_SECRET, REGISTRATION)
    arrival = {
        Language.FI: "Sisäänkäynti pääovesta.",
        Language.SV: "Ingång via huvudentrén.",
        Language.EN: "Enter by the main door.",
    }[language]
    for part in (text, html):
        assert seat in part
        assert venue in part
        assert "Snellmaninkatu 1, Helsinki" in part
        assert arrival in part
        # The code's text, for someone who cannot show the image.
        assert code in part
        assert STREAM_URL not in part
    assert show in html
    _, cid = png_of(received)
    assert f'src="cid:{cid}"' in html
    # A reminder brings no calendar entry: the seat's is in the calendar already.
    assert list(received.iter_attachments()) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_remote_reminder_has_the_stream_link_and_when_it_opens_by_the_events_times(
    language: Language,
) -> None:
    received = parsed(
        compose(
            NotificationKind.REMINDER,
            language,
            attendance=Attendance.REMOTE,
            role="remote",
            stream_link=LINK,
            minutes_before=30,
        )[0]
    )
    text, html = parts(received)
    assert STREAM_URL in text
    assert f'href="{STREAM_URL.replace("&", "&amp;")}"' in html
    for part in (text, html):
        assert OPENS[language] in part
        assert "Snellmaninkatu" not in part
    assert not [p for p in received.walk() if p.get_content_type() == "image/png"]


@pytest.mark.parametrize(
    ("language", "still_waiting"),
    [
        (Language.FI, "olet yhä varasijalla"),
        (Language.SV, "du står fortfarande på väntelistan"),
        (Language.EN, "you are still on the waiting list"),
    ],
)
def test_a_waiting_list_reminder_says_they_still_wait_and_gives_the_stream_link(
    language: Language, still_waiting: str
) -> None:
    received = parsed(
        compose(NotificationKind.REMINDER, language, role="waiting_list", stream_link=LINK)[0]
    )
    text, html = parts(received)
    for part in (text, html):
        assert still_waiting in part
        assert OPENS[language] in part
        assert check_in_code(MANAGE_LINK_SECRET, REGISTRATION) not in part
    assert STREAM_URL in text


def test_a_remote_reminder_before_the_link_came_says_it_comes_separately() -> None:
    received = parsed(
        compose(
            NotificationKind.REMINDER,
            Language.EN,
            attendance=Attendance.REMOTE,
            role="remote",
            stream_link=None,
        )[0]
    )
    for part in parts(received):
        assert "Your personal link to the web stream comes in a separate message." in part


# ---------------------------------------------------------------- the check-in code


def test_the_qr_code_reads_back_to_the_signed_code_and_nothing_personal() -> None:
    received = parsed(compose(NotificationKind.SEAT_CONFIRMED, Language.FI)[0])
    png, _ = png_of(received)
    decoded = read_qr(png)
    assert decoded == check_in_code(MANAGE_LINK_SECRET, REGISTRATION)
    assert registration_of(MANAGE_LINK_SECRET, decoded) == REGISTRATION
    # Only the registration id and the signature: no name, no address, no event.
    for personal in ("Åsa", "Öhman", "asa.ohman", "example.fi", "ministry-seminar"):
        assert personal not in decoded


def test_the_qr_code_is_large_enough_to_scan_from_a_phone_screen() -> None:
    received = parsed(compose(NotificationKind.SEAT_CONFIRMED, Language.EN)[0])
    png, _ = png_of(received)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == height >= 300
    assert QR_SCALE >= 6  # pixels a module
    assert QR_BORDER >= 4  # the quiet zone the standard asks for
    html = body(received, "html")
    assert f'width="{width}" height="{height}"' in html
    assert 'alt="QR code for checking in at the door"' in html


@pytest.mark.parametrize(
    "kind", [NotificationKind.STREAM_LINK, NotificationKind.WAITLISTED, NotificationKind.THANK_YOU]
)
def test_only_seat_mails_carry_the_check_in_code(kind: NotificationKind) -> None:
    received = parsed(compose(kind, Language.EN)[0])
    assert not [p for p in received.walk() if p.get_content_type() == "image/png"]
    assert "IC1." not in plain_text(received)


# ---------------------------------------------------------------- change notices


def _moved(**update: Any) -> Any:
    """The seminar a day later, in another hall, as its second revision."""
    return seminar("ministry-seminar").model_copy(
        update={
            "revision": 2,
            "starts_at": STARTS_AT + timedelta(days=1),
            "ends_at": STARTS_AT + timedelta(days=1, hours=3),
            **update,
        }
    )


PREVIOUS = {
    "starts_at": STARTS_AT,
    "ends_at": STARTS_AT + timedelta(hours=3),
    "venue_name": {"fi": "Vanha sali", "sv": "Gamla salen", "en": None},
    "venue_address": "Vanhakatu 2, Helsinki",
}


@pytest.mark.parametrize(
    ("language", "new_time", "old_time", "new_words", "old_words", "old_hall"),
    [
        (
            Language.FI,
            "la 30.1.2027 klo 9.00\u201312.00",
            "pe 29.1.2027 klo 9.00\u201312.00",
            "Uusi aika:",
            "Aiemmin:",
            "Vanha sali",
        ),
        (
            Language.SV,
            "lör 30.1.2027 kl. 9.00\u201312.00",
            "fre 29.1.2027 kl. 9.00\u201312.00",
            "Ny tid:",
            "Tidigare:",
            "Gamla salen",
        ),
        (
            Language.EN,
            "Sat 30 January 2027, 9:00\u201312:00",
            "Fri 29 January 2027, 9:00\u201312:00",
            "New time:",
            "Previously:",
            "Vanha sali",
        ),
    ],
)
def test_a_change_notice_says_what_changed_from_what_to_what(
    language: Language,
    new_time: str,
    old_time: str,
    new_words: str,
    old_words: str,
    old_hall: str,
) -> None:
    event = _moved(venue=Venue(name="Uusi sali", address="Uusikatu 1, Helsinki"))
    received = parsed(
        compose(
            NotificationKind.EVENT_CHANGED,
            language,
            event=event,
            changes=["time", "venue"],
            previous=PREVIOUS,
        )[0]
    )
    text, html = parts(received)
    assert f"{new_words} {new_time}" in text
    assert f"{old_words} {old_time}" in text
    for part in (text, html):
        assert new_time in part
        assert old_time in part
        assert "Uusi sali" in part
        assert old_hall in part
        assert "Vanhakatu 2, Helsinki" in part
    # What did not change is not said to have changed.
    arrival_words = {
        Language.FI: "Uudet saapumisohjeet",
        Language.SV: "Nya ankomstanvisningar",
        Language.EN: "New arrival instructions",
    }[language]
    assert arrival_words not in text + html


def test_a_change_notice_updates_the_seat_confirmations_calendar_entry() -> None:
    confirmed = calendar_of(parsed(compose(NotificationKind.SEAT_CONFIRMED, Language.SV)[0]))
    changed_mail = parsed(
        compose(
            NotificationKind.EVENT_CHANGED,
            Language.SV,
            event=_moved(),
            changes=["time"],
            previous=PREVIOUS,
        )[0]
    )
    changed = calendar_of(changed_mail)
    [attachment] = list(changed_mail.iter_attachments())
    assert attachment.get_param("method") == "REQUEST"
    for calendar in (confirmed, changed):
        assert str(calendar["METHOD"]) == "REQUEST"
    [before], [after] = confirmed.events, changed.events
    assert str(after["UID"]) == str(before["UID"]) == UID
    assert int(str(after["SEQUENCE"])) > int(str(before["SEQUENCE"]))
    assert after.start == STARTS_AT + timedelta(days=1)
    assert str(after["STATUS"]) == "CONFIRMED"
    # iTIP: from the organiser, to the registrant, who is asked for no reply.
    assert str(after["ORGANIZER"]) == "mailto:seminaari@vm.example.fi"
    assert after["ORGANIZER"].params["CN"] == "Finansministeriet"
    attendee = after["ATTENDEE"]
    assert str(attendee) == "mailto:asa.ohman@example.fi"
    assert attendee.params["RSVP"] == "FALSE"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_remote_change_notice_has_the_link_and_its_new_opening_time(language: Language) -> None:
    received = parsed(
        compose(
            NotificationKind.EVENT_CHANGED,
            language,
            attendance=Attendance.REMOTE,
            event=_moved(),
            role="remote",
            stream_link=LINK,
            changes=["time"],
            previous=PREVIOUS,
        )[0]
    )
    text, html = parts(received)
    opens = {
        Language.FI: "la 30.1.2027 klo 8.30",
        Language.SV: "lör 30.1.2027 kl. 8.30",
        Language.EN: "Sat 30 January 2027, 8:30",
    }[language]
    assert STREAM_URL in text
    for part in (text, html):
        assert opens in part
    [entry] = calendar_of(received).events
    # The remote registrant's one entry, the stream link mail's, with the link.
    assert str(entry["UID"]) == UID
    assert str(entry["URL"]) == STREAM_URL


def test_a_waiting_list_change_notice_updates_the_stream_entry_they_were_sent() -> None:
    received = parsed(
        compose(
            NotificationKind.EVENT_CHANGED,
            Language.FI,
            event=_moved(),
            role="waiting_list",
            stream_link=LINK,
            changes=["time"],
            previous=PREVIOUS,
        )[0]
    )
    [entry] = calendar_of(received).events
    assert str(entry["UID"]) == f"ministry-seminar.{REGISTRATION}.stream@ilmo.example.fi"


def test_a_new_stream_address_is_said_and_the_personal_link_stays() -> None:
    received = parsed(
        compose(
            NotificationKind.EVENT_CHANGED,
            Language.EN,
            attendance=Attendance.REMOTE,
            role="remote",
            stream_link=LINK,
            changes=["stream_url"],
            previous=PREVIOUS,
        )[0]
    )
    for part in parts(received):
        assert "The web stream has a new address." in part
        assert "Your personal link stays the same" in part
        assert "New time:" not in part


# ---------------------------------------------------------------- cancellation


@pytest.mark.parametrize(
    ("language", "note"),
    [
        (Language.FI, "Pahoittelemme."),
        (Language.SV, "Vi beklagar."),
        (Language.EN, "Pahoittelemme."),  # no English note: the Finnish one
    ],
)
def test_the_cancellation_notice_gives_the_note_and_cancels_the_calendar_entry(
    language: Language, note: str
) -> None:
    event = seminar("ministry-seminar").model_copy(
        update={
            "revision": 3,
            "cancelled_at": NOW,
            "cancellation_note": LocalizedText(
                fi="Pahoittelemme.\nUusi aika kerrotaan myöhemmin.", sv="Vi beklagar."
            ),
        }
    )
    received = parsed(compose(NotificationKind.EVENT_CANCELLED, language, event=event)[0])
    text, html = parts(received)
    for part in (text, html):
        assert note in part
    if language is Language.FI:
        assert "Pahoittelemme.<br>Uusi aika kerrotaan myöhemmin." in html
    [attachment] = list(received.iter_attachments())
    assert attachment.get_param("method") == "CANCEL"
    calendar = calendar_of(received)
    assert str(calendar["METHOD"]) == "CANCEL"
    [entry] = calendar.events
    assert str(entry["UID"]) == UID
    assert str(entry["STATUS"]) == "CANCELLED"
    assert int(str(entry["SEQUENCE"])) == 2
    assert "ORGANIZER" in entry
    assert "ATTENDEE" in entry


def test_a_cancellation_without_a_note_says_nothing_of_one() -> None:
    received = parsed(compose(NotificationKind.EVENT_CANCELLED, Language.EN)[0])
    for part in parts(received):
        assert "The organiser says" not in part


# ---------------------------------------------------------------- the organiser's messages


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_organisers_message_is_in_the_readers_language_with_its_line_breaks(
    language: Language,
) -> None:
    received = parsed(compose(NotificationKind.ORGANISER_MESSAGE, language)[0])
    text, html = parts(received)
    first, second, third = MESSAGE_BODY[language.value].replace("\n\n", "\n").split("\n")
    assert f"{first}\n{second}\n\n{third}" in text
    assert f"{first}<br>{second}</p>" in html
    assert f">{third}</p>" in html
    assert TITLES[language] in text


def test_a_message_missing_a_language_falls_back_to_finnish() -> None:
    received = parsed(
        compose(
            NotificationKind.ORGANISER_MESSAGE,
            Language.SV,
            title={"fi": "Pysäköinti", "sv": None, "en": None},
            body={"fi": "Pysäköinti on maksutonta."},
        )[0]
    )
    assert received["Subject"] == "Pysäköinti"
    for part in parts(received):
        assert "Pysäköinti on maksutonta." in part
    assert '<html lang="sv">' in body(received, "html")


def test_the_organisers_text_is_never_markup() -> None:
    hostile = '<img src=x onerror="alert(1)">\n<a href="https://evil.example">klikkaa</a>'
    received = parsed(
        compose(
            NotificationKind.ORGANISER_MESSAGE,
            Language.FI,
            title={"fi": "<b>Otsikko</b>\r\nBcc: x@example.fi"},
            body={"fi": hostile},
        )[0]
    )
    html = body(received, "html")
    assert "<img src=x" not in html
    assert '<a href="https://evil.example">' not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;<br>&lt;a href=" in html
    assert "<b>Otsikko</b>" not in html
    # The title is one header line: no header smuggled in.
    assert received["Bcc"] is None
    assert received["Subject"] == "<b>Otsikko</b> Bcc: x@example.fi"
    # Plain text is not HTML: the text stays as written.
    assert hostile in plain_text(received)


# ---------------------------------------------------------------- thank-you


@pytest.mark.parametrize(
    ("language", "feedback", "recording"),
    [
        (Language.FI, "Palautelomake", "Tilaisuuden tallenne"),
        (Language.SV, "Responsformuläret", "Inspelningen av evenemanget"),
        (Language.EN, "The feedback form", "The recording of the event"),
    ],
)
def test_the_thank_you_has_the_feedback_and_recording_links_when_set(
    language: Language, feedback: str, recording: str
) -> None:
    both = seminar("ministry-seminar").model_copy(
        update={
            "feedback_url": "https://forms.example.fi/palaute?e=1&k=2",
            "recording_url": "https://video.example.fi/tallenne",
        }
    )
    text, html = parts(parsed(compose(NotificationKind.THANK_YOU, language, event=both)[0]))
    assert "https://forms.example.fi/palaute?e=1&k=2" in text
    assert 'href="https://forms.example.fi/palaute?e=1&amp;k=2"' in html
    assert "https://video.example.fi/tallenne" in text + html
    for part in (text, html):
        assert feedback in part
        assert recording in part

    feedback_only = both.model_copy(update={"recording_url": None})
    text, html = parts(
        parsed(compose(NotificationKind.THANK_YOU, language, event=feedback_only)[0])
    )
    for part in (text, html):
        assert feedback in part
        assert recording not in part
        assert "video.example.fi" not in part

    neither = both.model_copy(update={"feedback_url": None, "recording_url": None})
    text, html = parts(parsed(compose(NotificationKind.THANK_YOU, language, event=neither)[0]))
    for part in (text, html):
        assert feedback not in part
        assert recording not in part


# ---------------------------------------------------------------- ids


def test_each_reminder_and_message_has_a_message_id_of_its_own() -> None:
    event = seminar("ministry-seminar")
    registration = accepted(event.event_id, registration_id=uuid.UUID(REGISTRATION))
    ids = {
        renderer().message_id(
            MailRequest(str(registration.registration_id), event.event_id, kind, {}, occasion)
        )
        for kind, occasion in [
            (NotificationKind.REMINDER, "m1440"),
            (NotificationKind.REMINDER, "m30"),
            (NotificationKind.ORGANISER_MESSAGE, "0b7a2f5e-3c1d-4e8f-9a6b-7c5d4e3f2a10"),
            (NotificationKind.EVENT_CHANGED, "r2"),
            (NotificationKind.EVENT_CHANGED, "r3"),
        ]
    }
    assert len(ids) == 5


def test_a_calendar_file_built_elsewhere_keeps_publish() -> None:
    """The manage page's download is a file to import, not an invitation."""
    event = seminar("ministry-seminar")
    entry = registrant_entry(
        event,
        uid=UID,
        revision=1,
        attendance=Attendance.IN_PERSON,
        language=Language.FI,
        now=NOW,
    )
    calendar = Calendar.from_ical(calendar_file(entry))
    assert str(calendar["METHOD"]) == "PUBLISH"
    with pytest.raises(ValueError, match="iTIP"):
        calendar_file(entry, "REPLY")

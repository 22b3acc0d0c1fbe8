"""The emails as a registrant's mail client sees them: every kind, in every language."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, cast

import pytest
from icalendar import Calendar

import ilmo_notification
from ilmo_event_contracts import (
    Attendance,
    EventDetails,
    Language,
    LocalizedText,
    NotificationKind,
    Organiser,
)
from ilmo_notification.domain import MailRequest
from ilmo_notification.rendering import ComposedMail, RenderError
from ilmo_shared.i18n import untranslated
from ilmo_shared.manage_links import (
    confirmation_link,
    is_confirmation_link_token,
    is_manage_link_token,
    manage_link,
)
from tests.support.notification import (
    MANAGE_LINK_SECRET,
    ORGANISER,
    REGISTRATION_URL,
    STARTS_AT,
    accepted,
    contact_of,
    renderer,
    seminar,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
KINDS = list(NotificationKind)
LANGUAGES = list(Language)

# Words that only the right language's mail of each kind has.
SUBJECTS = {
    NotificationKind.CONFIRM_ADDRESS: {
        Language.FI: "Vahvista ilmoittautumisesi",
        Language.SV: "Bekräfta din anmälan",
        Language.EN: "Confirm your registration",
    },
    NotificationKind.ALREADY_REGISTERED: {
        Language.FI: "Olet jo ilmoittautunut",
        Language.SV: "Du är redan anmäld",
        Language.EN: "You are already registered",
    },
    NotificationKind.MANAGE_LINK: {
        Language.FI: "Linkki ilmoittautumiseesi",
        Language.SV: "Länken till din anmälan",
        Language.EN: "The link to your registration",
    },
    NotificationKind.REGISTRATION_RECEIVED: {
        Language.FI: "Ilmoittautumisesi on vastaanotettu",
        Language.SV: "Din anmälan har tagits emot",
        Language.EN: "Your registration has been received",
    },
    NotificationKind.SEAT_CONFIRMED: {
        Language.FI: "Paikkasi on vahvistettu",
        Language.SV: "Din plats är bekräftad",
        Language.EN: "Your seat is confirmed",
    },
    NotificationKind.WAITLISTED: {
        Language.FI: "Olet varasijalla",
        Language.SV: "Du står på väntelistan",
        Language.EN: "You are on the waiting list",
    },
    NotificationKind.STREAM_LINK: {
        Language.FI: "Henkilökohtainen katselulinkkisi",
        Language.SV: "Din personliga länk till sändningen",
        Language.EN: "Your personal stream link",
    },
    NotificationKind.CANCELLATION_CONFIRMED: {
        Language.FI: "Ilmoittautumisesi on peruttu",
        Language.SV: "Din anmälan har avbokats",
        Language.EN: "Your registration has been cancelled",
    },
    NotificationKind.REMINDER: {
        Language.FI: "Muistutus",
        Language.SV: "Påminnelse",
        Language.EN: "Reminder",
    },
    NotificationKind.EVENT_CHANGED: {
        Language.FI: "Muutoksia tilaisuuteen",
        Language.SV: "Ändringar i evenemanget",
        Language.EN: "Changes to the event",
    },
    NotificationKind.EVENT_CANCELLED: {
        Language.FI: "Tilaisuus on peruttu",
        Language.SV: "Evenemanget har ställts in",
        Language.EN: "The event has been cancelled",
    },
    # The organiser's own title is the subject (``MESSAGE_TITLE``).
    NotificationKind.ORGANISER_MESSAGE: {
        Language.FI: "Tärkeää tietoa saapumisesta",
        Language.SV: "Viktigt om ankomsten",
        Language.EN: "Important: arriving",
    },
    NotificationKind.THANK_YOU: {
        Language.FI: "Kiitos osallistumisestasi",
        Language.SV: "Tack för ditt deltagande",
        Language.EN: "Thank you for taking part",
    },
}
# The reminder's subject names the day as well.
DAY = {
    Language.FI: "pe 29.1.2027",
    Language.SV: "fre 29.1.2027",
    Language.EN: "Fri 29 January 2027",
}
MESSAGE_TITLE = {
    language.value: SUBJECTS[NotificationKind.ORGANISER_MESSAGE][language] for language in Language
}
MESSAGE_BODY = {
    "fi": "Ovet avataan klo 8.30.\nOta henkilökortti mukaan.\n\nTervetuloa!",
    "sv": "Dörrarna öppnas kl. 8.30.\nTa med legitimation.\n\nVälkommen!",
    "en": "Doors open at 8:30.\nBring an ID card.\n\nWelcome!",
}
# Kinds whose mail has nothing left to manage: the manage link is not in them.
WITHOUT_MANAGE_LINK = {
    NotificationKind.CONFIRM_ADDRESS,
    NotificationKind.CANCELLATION_CONFIRMED,
    NotificationKind.EVENT_CANCELLED,
    NotificationKind.THANK_YOU,
}
TITLES = {
    Language.FI: "Tekoäly hallinnossa",
    Language.SV: "AI i förvaltningen",
    Language.EN: "AI in government",
}
# Fri 29 January 2027, 9.00-12.00 in Helsinki (07:00Z-10:00Z).
WHEN = {
    Language.FI: "pe 29.1.2027 klo 9.00\u201312.00",
    Language.SV: "fre 29.1.2027 kl. 9.00\u201312.00",
    Language.EN: "Fri 29 January 2027, 9:00\u201312:00",
}
GREETING = {Language.FI: "Hei Åsa", Language.SV: "Hej Åsa", Language.EN: "Hello Åsa"}

STREAM_URL = "https://watch.example.fi/w/Zm9vYmFy?x=1&y=2"
# 24 hours after NOW: 12.00 on Wednesday 2 December 2026 in Helsinki.
EXPIRES_AT = NOW + timedelta(hours=24)


def details_for(kind: NotificationKind, **changes: Any) -> dict[str, Any]:
    templates: dict[NotificationKind, dict[str, Any]] = {
        NotificationKind.CONFIRM_ADDRESS: {"expires_at": EXPIRES_AT},
        NotificationKind.ALREADY_REGISTERED: {},
        NotificationKind.MANAGE_LINK: {"awaiting_confirmation": False},
        NotificationKind.REGISTRATION_RECEIVED: {"attendance": "in_person"},
        NotificationKind.SEAT_CONFIRMED: {"promoted": False},
        NotificationKind.WAITLISTED: {"position": 3},
        NotificationKind.STREAM_LINK: {
            "url": STREAM_URL,
            "valid_from": STARTS_AT - timedelta(minutes=30),
            "valid_until": STARTS_AT + timedelta(hours=5),
        },
        NotificationKind.CANCELLATION_CONFIRMED: {},
        NotificationKind.REMINDER: {"role": "seat", "stream_link": None, "minutes_before": 1440},
        NotificationKind.EVENT_CHANGED: {
            "role": "seat",
            "stream_link": None,
            "revision": 2,
            "changes": ["time"],
            "previous": {
                "starts_at": STARTS_AT - timedelta(days=1),
                "ends_at": STARTS_AT - timedelta(days=1) + timedelta(hours=3),
                "venue_name": {"fi": "Ministeriön juhlasali", "sv": None, "en": None},
                "venue_address": "Snellmaninkatu 1, Helsinki",
            },
        },
        NotificationKind.EVENT_CANCELLED: {
            "role": "seat",
            "stream_link": None,
            "cancelled_at": NOW,
        },
        NotificationKind.ORGANISER_MESSAGE: {
            "role": "seat",
            "stream_link": None,
            "message_id": "0b7a2f5e-3c1d-4e8f-9a6b-7c5d4e3f2a10",
            "title": MESSAGE_TITLE,
            "body": MESSAGE_BODY,
        },
        NotificationKind.THANK_YOU: {"role": "seat", "stream_link": None},
    }
    details = {**templates[kind], **changes}
    return details


def compose(
    kind: NotificationKind,
    language: Language,
    *,
    attendance: Attendance = Attendance.IN_PERSON,
    first_name: str = "Åsa",
    email: str = "asa.ohman@example.fi",
    organiser: Organiser | None = ORGANISER,
    event: EventDetails | None = None,
    **details: Any,
) -> tuple[ComposedMail, str]:
    event = event or seminar("ministry-seminar", organiser=organiser)
    registration = accepted(
        event.event_id,
        language=language,
        attendance=attendance,
        first_name=first_name,
        registration_id=uuid.UUID("5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60"),
    )
    if kind is NotificationKind.REGISTRATION_RECEIVED:
        # The receipt says the attendance the registration was accepted with.
        details.setdefault("attendance", attendance.value)
    request = MailRequest(
        str(registration.registration_id), event.event_id, kind, details_for(kind, **details)
    )
    # The address as stored, unchecked: the renderer must cope with whatever it is.
    contact = replace(contact_of(registration), email=email)
    composed = renderer().compose(request, contact, event, now=NOW)
    return composed, str(registration.registration_id)


def parsed(composed: ComposedMail) -> EmailMessage:
    """The message as a receiving client parses it from the wire.

    Decoded as UTF-8 first (strictly: the bytes must be UTF-8): Python's
    bytes parser does not read the UTF-8 headers of an SMTPUTF8 message.
    """
    return message_from_string(composed.data.decode("utf-8"), policy=default)


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(cast(EmailMessage, part).get_content())


def calendar_of(message: EmailMessage) -> Calendar:
    [attachment] = [part for part in message.iter_attachments()]
    assert attachment.get_content_type() == "text/calendar"
    assert str(attachment.get_filename()).endswith(".ics")
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


def subject_of(kind: NotificationKind, language: Language) -> str:
    """The subject a mail of ``kind`` has in ``language``."""
    if kind is NotificationKind.ORGANISER_MESSAGE:
        return SUBJECTS[kind][language]
    if kind is NotificationKind.REMINDER:
        return f"{SUBJECTS[kind][language]}: {TITLES[language]}, {DAY[language]}"
    return f"{SUBJECTS[kind][language]}: {TITLES[language]}"


def test_every_kind_has_one_text_and_one_html_template_for_every_language() -> None:
    templates = Path(ilmo_notification.__file__).parent / "templates"
    for kind in KINDS:
        for suffix in ("txt", "html"):
            assert (templates / f"{kind.value}.{suffix}").is_file(), (kind, suffix)
    assert not [path for path in templates.iterdir() if path.is_dir()], "no per-language copies"


def test_every_text_of_the_mails_has_a_finnish_and_a_swedish_translation() -> None:
    package = Path(ilmo_notification.__file__).parent
    assert untranslated("ilmo_notification", package) == {}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_each_mail_is_in_the_registrants_language_with_times_in_the_events_zone(
    kind: NotificationKind, language: Language
) -> None:
    message, registration_id = compose(kind, language)
    received = parsed(message)
    text, html = body(received, "plain"), body(received, "html")

    assert received["Subject"] == subject_of(kind, language)
    for other in LANGUAGES:
        if other is not language:
            assert SUBJECTS[kind][other] not in text + html
    assert received["X-Ilmo-Kind"] == kind.value
    assert received["X-Ilmo-Language"] == language.value
    assert received["Content-Language"] == language.value
    assert received["X-Ilmo-Registration"] == registration_id
    assert f'<html lang="{language.value}">' in html
    for part in (text, html):
        assert GREETING[language] in part
        assert TITLES[language] in part
        assert WHEN[language] in part
    if kind in WITHOUT_MANAGE_LINK:
        # Confirming: nothing to manage until confirmed; after a cancellation or the
        # event itself, nothing left to manage.
        assert "/manage/" not in text + html
    else:
        link = manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, registration_id)
        assert link in text
        assert link.replace("&", "&amp;") in html or link in html
        token = link.split("token=")[1]
        assert is_manage_link_token(MANAGE_LINK_SECRET, registration_id, token)


@pytest.mark.parametrize(
    ("language", "expires", "ignored"),
    [
        (Language.FI, "ke 2.12.2026 klo 12.00", "voit jättää tämän viestin huomiotta"),
        (Language.SV, "ons 2.12.2026 kl. 12.00", "kan du bortse från det här meddelandet"),
        (Language.EN, "Wed 2 December 2026, 12:00", "you can ignore this message"),
    ],
)
def test_the_confirmation_mail_has_the_confirmation_link_and_says_when_it_expires(
    language: Language, expires: str, ignored: str
) -> None:
    message, registration_id = compose(NotificationKind.CONFIRM_ADDRESS, language)
    received = parsed(message)
    text, html = body(received, "plain"), body(received, "html")
    link = confirmation_link(REGISTRATION_URL, MANAGE_LINK_SECRET, registration_id)
    token = link.split("token=")[1]
    assert is_confirmation_link_token(MANAGE_LINK_SECRET, registration_id, token)
    # A confirmation link is no manage link, and the other way round.
    assert not is_manage_link_token(MANAGE_LINK_SECRET, registration_id, token)
    for part in (text, html):
        assert link in part
        assert expires in part
        assert ignored in part


@pytest.mark.parametrize(
    ("language", "expires", "ignored"),
    [
        (Language.FI, "ke 2.12.2026 klo 12.00", "voit jättää tämän viestin huomiotta"),
        (Language.SV, "ons 2.12.2026 kl. 12.00", "kan du bortse från det här meddelandet"),
        (Language.EN, "Wed 2 December 2026, 12:00", "you can ignore this message"),
    ],
)
def test_a_requested_link_mail_has_the_manage_link_and_while_pending_the_confirmation_link(
    language: Language, expires: str, ignored: str
) -> None:
    accepted_mail, registration_id = compose(NotificationKind.MANAGE_LINK, language)
    pending_mail, _ = compose(
        NotificationKind.MANAGE_LINK,
        language,
        awaiting_confirmation=True,
        expires_at=EXPIRES_AT,
    )
    manage = manage_link(REGISTRATION_URL, MANAGE_LINK_SECRET, registration_id)
    confirm = confirmation_link(REGISTRATION_URL, MANAGE_LINK_SECRET, registration_id)
    for message in (accepted_mail, pending_mail):
        received = parsed(message)
        for part in (body(received, "plain"), body(received, "html")):
            assert manage in part or manage.replace("&", "&amp;") in part
            assert ignored in part
    accepted_text = body(parsed(accepted_mail), "plain")
    assert confirm not in accepted_text
    assert expires not in accepted_text
    received = parsed(pending_mail)
    for part in (body(received, "plain"), body(received, "html")):
        assert confirm in part or confirm.replace("&", "&amp;") in part
        assert expires in part


def test_a_requested_link_mail_speaks_the_language_it_was_asked_in() -> None:
    """Asked for from a Swedish page, the mail is Swedish whatever the registration's language."""
    event = seminar("ministry-seminar")
    registration = accepted(event.event_id, language=Language.FI, first_name="Åsa")
    contact = contact_of(registration)
    kind = NotificationKind.MANAGE_LINK
    rid = str(registration.registration_id)
    asked = MailRequest(rid, event.event_id, kind, details_for(kind, language="sv"))
    received = parsed(renderer().compose(asked, contact, event, now=NOW))
    assert received["Subject"] == subject_of(kind, Language.SV)
    assert received["Content-Language"] == "sv"
    assert GREETING[Language.SV] in body(received, "plain")
    unasked = MailRequest(rid, event.event_id, kind, details_for(kind))
    assert parsed(renderer().compose(unasked, contact, event, now=NOW))["Content-Language"] == "fi"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_repeated_confirmation_mail_says_the_earlier_registration_still_waits(
    language: Language,
) -> None:
    first, _ = compose(NotificationKind.CONFIRM_ADDRESS, language)
    repeat, _ = compose(NotificationKind.CONFIRM_ADDRESS, language, repeat=True)
    words = {
        Language.FI: "Aiempi ilmoittautumisesi odottaa",
        Language.SV: "Din tidigare anmälan väntar",
        Language.EN: "Your earlier registration still waits",
    }[language]
    assert words in body(parsed(repeat), "plain")
    assert words not in body(parsed(first), "plain")


def test_each_repeat_mail_has_a_message_id_of_its_own() -> None:
    registration_id = "5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60"
    event = seminar("ministry-seminar")
    ids = {
        renderer().message_id(
            MailRequest(registration_id, event.event_id, NotificationKind.ALREADY_REGISTERED, {}, o)
        )
        for o in ("", "1764583200000", "1764584100000")
    }
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("language", "winter", "summer"),
    [
        (Language.FI, "klo 9.00", "klo 9.00"),
        (Language.SV, "kl. 9.00", "kl. 9.00"),
        (Language.EN, "9:00", "9:00"),
    ],
)
def test_times_follow_daylight_saving_in_the_events_zone(
    language: Language, winter: str, summer: str
) -> None:
    # 07:00Z in January and 06:00Z in June are both 9.00 in Helsinki.
    event = seminar("summer", starts_at=datetime(2027, 6, 11, 6, 0, tzinfo=UTC))
    registration = accepted(event.event_id, language=language)
    request = MailRequest(
        str(registration.registration_id),
        event.event_id,
        NotificationKind.REGISTRATION_RECEIVED,
        {},
    )
    rendered = renderer().render(request, contact_of(registration), event, now=NOW)
    assert summer in rendered.text
    assert {Language.FI: "pe 11.6.2027", Language.SV: "fre 11.6.2027"}.get(
        language, "Fri 11 June 2027"
    ) in rendered.text
    message, _ = compose(NotificationKind.REGISTRATION_RECEIVED, language)
    assert winter in body(parsed(message), "plain")


@pytest.mark.parametrize("language", LANGUAGES)
def test_seat_confirmation_has_the_venue_arrival_agenda_and_a_calendar_entry(
    language: Language,
) -> None:
    message, registration_id = compose(NotificationKind.SEAT_CONFIRMED, language)
    received = parsed(message)
    assert received.get_content_type() == "multipart/mixed"
    text, html = body(received, "plain"), body(received, "html")
    arrival = {
        Language.FI: "Sisäänkäynti pääovesta.",
        Language.SV: "Ingång via huvudentrén.",
        Language.EN: "Enter by the main door.",
    }[language]
    opening = {Language.FI: "Avaus", Language.SV: "Öppning", Language.EN: "Opening"}[language]
    agenda_time = {Language.EN: "9:00\u201310:30"}.get(language, "9.00\u201310.30")
    for part in (text, html):
        assert "Ministeriön juhlasali" in part
        assert "Snellmaninkatu 1, Helsinki" in part
        assert arrival in part
        assert opening in part
        assert agenda_time in part
        assert "Maija Virtanen" in part
    promoted_words = {
        Language.FI: "varasijalta",
        Language.SV: "väntelistan",
        Language.EN: "waiting list",
    }[language]
    assert promoted_words not in text

    [entry] = calendar_of(received).events
    assert entry.start == STARTS_AT
    assert entry.end == STARTS_AT + timedelta(hours=3)
    assert str(entry["SUMMARY"]) == TITLES[language]
    assert str(entry["LOCATION"]) == "Ministeriön juhlasali, Snellmaninkatu 1, Helsinki"
    assert str(entry["UID"]) == f"ministry-seminar.{registration_id}@ilmo.example.fi"
    # The same registration always gets the same UID (a resend updates, not duplicates).
    again, _ = compose(NotificationKind.SEAT_CONFIRMED, language)
    [entry_again] = calendar_of(parsed(again)).events
    assert entry_again["UID"] == entry["UID"]


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (Language.FI, "siirretty varasijalta"),
        (Language.SV, "flyttats från väntelistan"),
        (Language.EN, "moved up from the waiting list"),
    ],
)
def test_a_seat_from_the_waiting_list_says_so(language: Language, words: str) -> None:
    message, _ = compose(NotificationKind.SEAT_CONFIRMED, language, promoted=True)
    received = parsed(message)
    assert words in body(received, "plain")
    assert words in body(received, "html")


@pytest.mark.parametrize(
    ("language", "position", "next_in_line", "stream"),
    [
        (Language.FI, "Sijasi jonossa: 3", "jonossa seuraavalle", "verkkolähetyksenä"),
        (Language.SV, "Din plats i kön: 3", "nästa person på väntelistan", "webbsändningen"),
        (Language.EN, "Your position: 3", "next person on the waiting list", "web stream"),
    ],
)
def test_the_waiting_list_mail_gives_the_position_what_happens_next_and_the_stream(
    language: Language, position: str, next_in_line: str, stream: str
) -> None:
    message, _ = compose(NotificationKind.WAITLISTED, language)
    received = parsed(message)
    for part in (body(received, "plain"), body(received, "html")):
        assert position in part.replace("<strong>", "").replace("</strong>", "")
        assert next_in_line in part
        assert stream in part


@pytest.mark.parametrize(
    ("language", "opens"),
    [
        (Language.FI, "pe 29.1.2027 klo 8.30"),
        (Language.SV, "fre 29.1.2027 kl. 8.30"),
        (Language.EN, "Fri 29 January 2027, 8:30"),
    ],
)
def test_the_stream_link_mail_has_the_personal_link_when_it_opens_and_a_calendar_entry(
    language: Language, opens: str
) -> None:
    message, registration_id = compose(NotificationKind.STREAM_LINK, language)
    received = parsed(message)
    text, html = body(received, "plain"), body(received, "html")
    assert STREAM_URL in text
    assert f'href="{STREAM_URL.replace("&", "&amp;")}"' in html
    assert opens in text
    assert opens in html
    [entry] = calendar_of(received).events
    assert str(entry["URL"]) == STREAM_URL
    assert STREAM_URL in str(entry["DESCRIPTION"])
    assert entry.start == STARTS_AT
    assert str(entry["UID"]) == f"ministry-seminar.{registration_id}.stream@ilmo.example.fi"


def test_a_hostile_name_is_text_in_html_not_markup() -> None:
    hostile = '<script>alert("x")</script>&'
    message, _ = compose(NotificationKind.REGISTRATION_RECEIVED, Language.EN, first_name=hostile)
    received = parsed(message)
    html = body(received, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in html
    # Plain text is not HTML: the name stays as written.
    assert f"Hello {hostile}," in body(received, "plain")


def test_headers_are_valid_mime_with_utf8_names_and_a_deterministic_message_id() -> None:
    message, registration_id = compose(NotificationKind.SEAT_CONFIRMED, Language.SV)
    wire = message.data
    assert wire.isascii(), "headers and bodies are encoded for any SMTP server"
    assert b"\r\n" in wire
    received = parsed(message)
    assert received.defects == []
    to = received["To"]
    assert to.addresses[0].display_name == "Åsa Öhman"
    assert to.addresses[0].addr_spec == "asa.ohman@example.fi"
    assert received["From"].addresses[0].display_name == "Finansministeriet"
    assert received["From"].addresses[0].addr_spec == "ilmo@ilmo.example.fi"
    assert received["Reply-To"].addresses[0].addr_spec == "seminaari@vm.example.fi"
    # A long Message-ID is folded onto its own line; Python's parser keeps that space.
    assert received["Message-ID"].strip() == f"<{registration_id}.seat_confirmed@ilmo.example.fi>"
    assert received["Date"].datetime == NOW
    assert received["Auto-Submitted"] == "auto-generated"
    [alternative, _attachment] = received.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    # The HTML with its inline check-in QR code (multipart/related).
    [plain, related] = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    assert message.message_id == f"<{registration_id}.seat_confirmed@ilmo.example.fi>"
    assert message.recipient == "asa.ohman@example.fi"
    again, _ = compose(NotificationKind.SEAT_CONFIRMED, Language.SV)
    assert parsed(again)["Message-ID"] == received["Message-ID"]


def test_mails_without_attachments_are_multipart_alternative() -> None:
    message, _ = compose(NotificationKind.REGISTRATION_RECEIVED, Language.FI)
    assert parsed(message).get_content_type() == "multipart/alternative"


@pytest.mark.parametrize(
    ("attendance", "words"),
    [(Attendance.IN_PERSON, "Attendance: in person"), (Attendance.REMOTE, "Attendance: remotely")],
)
def test_the_receipt_says_how_the_registrant_takes_part(attendance: Attendance, words: str) -> None:
    message, _ = compose(NotificationKind.REGISTRATION_RECEIVED, Language.EN, attendance=attendance)
    assert words in body(parsed(message), "plain")


# ---------------------------------------------------------------- addresses beyond ASCII


def test_a_local_part_beyond_ascii_is_written_for_smtputf8() -> None:
    composed, _ = compose(NotificationKind.SEAT_CONFIRMED, Language.FI, email="pää@esimerkki.fi")
    assert composed.recipient == "pää@esimerkki.fi"
    # RFC 6532: headers in UTF-8, not RFC 2047; bodies stay 7-bit.
    text = composed.data.decode("utf-8")
    assert "\r\nTo: Åsa Öhman <pää@esimerkki.fi>\r\n" in text
    assert "=?utf-8?" not in text
    assert all(line.isascii() for line in text.split("\r\n\r\n", 1)[1].splitlines())
    received = parsed(composed)
    assert received.defects == []
    assert received["To"].addresses[0].addr_spec == "pää@esimerkki.fi"
    assert received["To"].addresses[0].display_name == "Åsa Öhman"
    subject = SUBJECTS[NotificationKind.SEAT_CONFIRMED][Language.FI]
    assert received["Subject"] == f"{subject}: {TITLES[Language.FI]}"
    assert "Sisäänkäynti pääovesta." in body(received, "plain")
    assert len(calendar_of(received).events) == 1


def test_a_domain_beyond_ascii_is_written_in_its_ascii_form_for_any_server() -> None:
    composed, _ = compose(NotificationKind.REGISTRATION_RECEIVED, Language.SV, email="asa@pää.fi")
    assert composed.recipient == "asa@xn--p-0faa.fi"
    assert composed.data.isascii()
    received = parsed(composed)
    assert received.defects == []
    assert received["To"].addresses[0].addr_spec == "asa@xn--p-0faa.fi"
    assert received["To"].addresses[0].display_name == "Åsa Öhman"


@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign.example.fi",  # no domain
        "line\r\nBcc: x@example.fi@example.fi",  # a header smuggled into the address
        f"asa@ä{'x' * 70}.fi",  # a label too long for its ASCII form
    ],
)
def test_an_address_that_cannot_be_written_is_a_render_error_naming_no_address(
    email: str,
) -> None:
    with pytest.raises(RenderError) as refused:
        compose(NotificationKind.REGISTRATION_RECEIVED, Language.EN, email=email)
    reason = str(refused.value)
    assert reason.startswith("registration_received: ")
    assert "@" not in reason
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_a_fault_in_the_mails_data_is_a_render_error() -> None:
    event = seminar("ministry-seminar")
    registration = accepted(event.event_id)
    request = MailRequest(
        str(registration.registration_id),
        event.event_id,
        NotificationKind.STREAM_LINK,
        {"url": STREAM_URL},  # no valid_from
    )
    with pytest.raises(RenderError) as refused:
        renderer().compose(request, contact_of(registration), event, now=NOW)
    assert str(refused.value) == "stream_link: KeyError"


# ---------------------------------------------------------------- the organiser

ORGANISER_NAMES = {
    Language.FI: "Valtiovarainministeriö",
    Language.SV: "Finansministeriet",
    Language.EN: "Ministry of Finance",
}
# The footer's words, and the "do not reply" of a mail that has nobody to reply to.
ASK = {
    Language.FI: ("ota yhteyttä järjestäjään", "Järjestäjä:", "Sähköposti:", "Puhelin:"),
    Language.SV: ("Kontakta arrangören", "Arrangör:", "E-post:", "Telefon:"),
    Language.EN: ("contact the organiser", "Organiser:", "Email:", "Phone:"),
}
REPLY = {
    Language.FI: "Voit myös vastata tähän viestiin.",
    Language.SV: "Du kan också svara på det här meddelandet.",
    Language.EN: "You can also reply to this message.",
}
DO_NOT_REPLY = {
    Language.FI: "Älä vastaa tähän viestiin.",
    Language.SV: "Svara inte på det.",
    Language.EN: "Please do not reply to it.",
}


def plain_text(message: EmailMessage) -> str:
    """The text part with the line ends a reader's client shows."""
    return body(message, "plain").replace("\r\n", "\n")


REGARDS = {
    Language.FI: "Ystävällisin terveisin",
    Language.SV: "Med vänliga hälsningar",
    Language.EN: "Kind regards",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_mail_is_in_the_organisers_name_from_ilmos_address_and_replies_go_to_the_organiser(
    kind: NotificationKind, language: Language
) -> None:
    composed, _ = compose(kind, language)
    assert composed.data.isascii()
    [sender_line] = [
        line for line in composed.data.decode("ascii").split("\r\n") if line.startswith("From:")
    ]
    # RFC 2047 for a name beyond ASCII, as for every other header.
    assert ("=?utf-8?" in sender_line) is (not ORGANISER_NAMES[language].isascii())
    received = parsed(composed)
    assert received.defects == []
    [sender] = received["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        ORGANISER_NAMES[language],
        "ilmo@ilmo.example.fi",
    )
    [reply_to] = received["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (
        ORGANISER_NAMES[language],
        "seminaari@vm.example.fi",
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_footer_says_whom_to_ask_in_the_readers_language(
    kind: NotificationKind, language: Language
) -> None:
    received = parsed(compose(kind, language)[0])
    text, html = plain_text(received), body(received, "html")
    question, organiser, email, phone = ASK[language]
    assert f"{organiser} {ORGANISER_NAMES[language]}\n" in text
    assert f"{email} seminaari@vm.example.fi\n" in text
    assert f"{phone} +358 295 16001\n" in text
    assert text.endswith(f"{REPLY[language]}\n")
    assert f"{REGARDS[language]}\n{ORGANISER_NAMES[language]}\n" in text
    assert f"{REGARDS[language]}<br>{ORGANISER_NAMES[language]}</p>" in html
    assert f"{organiser} {ORGANISER_NAMES[language]}<br>" in html
    assert '<a href="mailto:seminaari@vm.example.fi"' in html
    assert '<a href="tel:+35829516001"' in html
    for part in (text, html):
        assert question in part
        assert REPLY[language] in part
        assert DO_NOT_REPLY[language] not in part
        assert "Ilmo \u2013 Valtioneuvosto" not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_an_organiser_the_mail_is_ilmos_with_no_reply_to_and_says_do_not_reply(
    language: Language,
) -> None:
    received = parsed(compose(NotificationKind.SEAT_CONFIRMED, language, organiser=None)[0])
    assert received["From"].addresses[0].display_name == "Ilmo \u2013 Valtioneuvosto"
    assert received["From"].addresses[0].addr_spec == "ilmo@ilmo.example.fi"
    assert received["Reply-To"] is None
    text, html = plain_text(received), body(received, "html")
    assert text.endswith(f"{DO_NOT_REPLY[language]}\n")
    for part in (text, html):
        assert DO_NOT_REPLY[language] in part
        assert ASK[language][0] not in part
        assert REPLY[language] not in part


def test_an_organiser_without_a_phone_has_no_phone_line() -> None:
    organiser = ORGANISER.model_copy(update={"phone": None})
    received = parsed(compose(NotificationKind.WAITLISTED, Language.FI, organiser=organiser)[0])
    for part in (plain_text(received), body(received, "html")):
        assert "Puhelin" not in part
        assert "Sähköposti:" in part


def test_an_organiser_named_only_in_finnish_is_named_so_in_every_language() -> None:
    organiser = ORGANISER.model_copy(update={"name": LocalizedText(fi="Opetushallitus")})
    received = parsed(compose(NotificationKind.WAITLISTED, Language.EN, organiser=organiser)[0])
    assert received["From"].addresses[0].display_name == "Opetushallitus"
    assert "Organiser: Opetushallitus" in plain_text(received)


def test_a_hostile_organiser_name_is_one_header_line_and_text_in_html() -> None:
    organiser = ORGANISER.model_copy(
        update={"name": LocalizedText(fi='<b>VM</b>\r\nBcc: x@example.fi "quoted"')}
    )
    composed, _ = compose(NotificationKind.WAITLISTED, Language.FI, organiser=organiser)
    received = parsed(composed)
    assert received.defects == []
    assert received["Bcc"] is None
    assert received["From"].addresses[0].display_name == '<b>VM</b> Bcc: x@example.fi "quoted"'
    assert received["From"].addresses[0].addr_spec == "ilmo@ilmo.example.fi"
    html = body(received, "html")
    assert "<b>VM</b>" not in html
    assert "&lt;b&gt;VM&lt;/b&gt;" in html


def test_an_organisers_domain_beyond_ascii_is_replied_to_in_its_ascii_form() -> None:
    organiser = ORGANISER.model_copy(update={"email": "kysymykset@pää.fi"})
    composed, _ = compose(NotificationKind.SEAT_CONFIRMED, Language.SV, organiser=organiser)
    assert composed.data.isascii()
    received = parsed(composed)
    assert received["Reply-To"].addresses[0].addr_spec == "kysymykset@xn--p-0faa.fi"


def test_an_organisers_local_part_beyond_ascii_is_no_reply_to_unless_the_mail_is_smtputf8() -> None:
    organiser = ORGANISER.model_copy(update={"email": "kysymys.pää@vm.example.fi"})
    # To an ASCII address the mail goes without SMTPUTF8: no header that needs it.
    plain, _ = compose(NotificationKind.SEAT_CONFIRMED, Language.FI, organiser=organiser)
    assert plain.data.isascii()
    received = parsed(plain)
    assert received["Reply-To"] is None
    assert "kysymys.pää@vm.example.fi" in plain_text(received)
    # To an address that needs SMTPUTF8 anyway, the header is written in UTF-8.
    utf8, _ = compose(
        NotificationKind.SEAT_CONFIRMED, Language.FI, organiser=organiser, email="pää@esimerkki.fi"
    )
    text = utf8.data.decode("utf-8")
    assert "\r\nReply-To: Valtiovarainministeriö <kysymys.pää@vm.example.fi>\r\n" in text
    assert text.startswith("From: Valtiovarainministeriö <ilmo@ilmo.example.fi>\r\n")
    assert parsed(utf8).defects == []


@pytest.mark.parametrize(
    ("language", "talk", "speaker"),
    [
        (
            Language.FI,
            "Tekoäly asiakaspalvelussa",
            "Liisa Korhonen (johtaja), Digi- ja väestötietovirasto",
        ),
        (
            Language.SV,
            "AI i kundtjänsten",
            "Liisa Korhonen (direktör), Myndigheten för digitalisering och befolkningsdata",
        ),
        (
            Language.EN,
            "AI in customer service",
            "Liisa Korhonen (Director), Digital and Population Data Services Agency",
        ),
    ],
)
def test_the_agenda_shows_the_talks_of_a_block_with_their_speakers(
    language: Language, talk: str, speaker: str
) -> None:
    received = parsed(compose(NotificationKind.SEAT_CONFIRMED, language)[0])
    text, html = plain_text(received), body(received, "html")
    panel = {Language.FI: "Paneeli", Language.SV: "Panel", Language.EN: "Panel"}[language]
    questions = {
        Language.FI: "Kysymyksiä ja keskustelua",
        Language.SV: "Frågor och diskussion",
        Language.EN: "Questions and discussion",
    }[language]
    # Under their block, one line each, in the reader's language.
    block = text.split(f"  {panel}\n", 1)[1]
    assert block.startswith(f"    - {talk} \u2013 {speaker}\n    - {questions}\n")
    assert f'<li style="margin:0 0 2px 0;">{talk}<br>' in html
    assert speaker in html
    assert questions in html


@pytest.mark.parametrize(
    ("attendance", "in_person"), [(Attendance.IN_PERSON, True), (Attendance.REMOTE, False)]
)
def test_the_cancellation_speaks_of_the_attendance_when_cancelling_not_at_registration(
    attendance: Attendance, in_person: bool
) -> None:
    registered_as = Attendance.REMOTE if in_person else Attendance.IN_PERSON
    event = seminar("ministry-seminar")
    registration = accepted(event.event_id, attendance=registered_as)
    request = MailRequest(
        str(registration.registration_id),
        event.event_id,
        NotificationKind.CANCELLATION_CONFIRMED,
        {"cancelled_at": NOW, "attendance": attendance.value},
    )

    context = renderer().context(request, contact_of(registration), event)

    assert context["in_person"] is in_person

"""The event's life seen from outside: what a mail's parts say, and notification's schedule.

End-to-end tests and the chaos run read the mails of issue 16 (reminders,
change and cancellation notices, organiser messages) only as a registrant's
mail client would: the Message-ID, the calendar attachment (its METHOD, UID
and SEQUENCE), the inline check-in code image. They read notification's
schedule and message progress only from its operations API, as the console
does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from icalendar import Calendar

from tests.support.development import DEVELOPMENT
from tests.support.smtp import ReceivedMail

# The kinds of mail that come once per occasion (a reminder's offset, an event
# revision, a message id), rather than once per registration.
OCCASIONAL_KINDS = ("reminder", "event_changed", "organiser_message")


def mail_occasion(mail: ReceivedMail) -> str:
    """The occasion in a mail's Message-ID (``<rid>.<kind>.<occasion>@…``); empty if none.

    Notification makes the Message-ID from (registration, kind, occasion), so
    the occasion tells a registrant's two reminders apart without reading
    their text: ``m1440`` for a reminder a day before, ``r3`` for the change
    notice of revision 3, the message id for an organiser's message.
    """
    found = re.match(
        rf"<{re.escape(str(mail.registration_id))}\.{re.escape(str(mail.kind))}\.([^@>]+)@",
        (mail.message_id or "").strip(),
    )
    return found.group(1) if found else ""


@dataclass(frozen=True)
class CalendarEntry:
    """What a calendar program reads of an attached ``.ics``: what to do, with which entry."""

    method: str
    uid: str
    sequence: int
    starts_at: str


def calendar_entries(mail: ReceivedMail) -> list[CalendarEntry]:
    """Every calendar entry attached to ``mail`` (one per ``.ics``, one VEVENT each)."""
    entries: list[CalendarEntry] = []
    for part in mail.message.walk():
        if part.get_content_type() != "text/calendar":
            continue
        payload = part.get_content()
        text = payload.decode() if isinstance(payload, bytes) else str(payload)
        calendar = Calendar.from_ical(text)
        method = str(calendar.get("method", ""))
        for event in calendar.walk("VEVENT"):
            entries.append(
                CalendarEntry(
                    method=method,
                    uid=str(event["uid"]),
                    sequence=int(event.get("sequence", 0)),
                    starts_at=event.decoded("dtstart").isoformat(),
                )
            )
    return entries


def calendar_entry(mail: ReceivedMail) -> CalendarEntry:
    """The one calendar entry of a mail that must have exactly one."""
    entries = calendar_entries(mail)
    assert len(entries) == 1, f"{mail.kind} mail: {len(entries)} calendar entries, not one"
    return entries[0]


def inline_images(mail: ReceivedMail) -> list[EmailMessage]:
    """Image parts shown inside the mail (the check-in code), not offered as downloads.

    An inline image has a Content-ID that the HTML refers to (``cid:``), and
    no "attachment" disposition.
    """
    html = mail.html()
    images: list[EmailMessage] = []
    for part in mail.message.walk():
        if part.get_content_maintype() != "image":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        content_id = str(part.get("Content-ID", "")).strip("<> ")
        if content_id and f"cid:{content_id}" in html:
            images.append(part)
    return images


# ------------------------------------------------------------ notification's operations API


async def schedule(client: httpx.AsyncClient, event_id: str) -> list[dict[str, Any]]:
    """Notification's schedule of the event (``client``: its operations listener)."""
    answer = await client.get(f"/api/v1/events/{event_id}/schedule", headers=DEVELOPMENT)
    answer.raise_for_status()
    return list(answer.json()["items"])


async def message_progress(client: httpx.AsyncClient, message_id: str) -> dict[str, Any] | None:
    """How far notification has got with an organiser's message; None before it heard of it."""
    answer = await client.get(f"/api/v1/messages/{message_id}", headers=DEVELOPMENT)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return dict(answer.json())


async def audience_size(client: httpx.AsyncClient, event_id: str, audience: str) -> int:
    """How many registrants an audience has now, as the console previews it."""
    answer = await client.get(
        f"/api/v1/events/{event_id}/audience", params={"audience": audience}, headers=DEVELOPMENT
    )
    answer.raise_for_status()
    return int(answer.json()["recipients"])

"""A registrant's calendar entry for an event (iCalendar, RFC 5545), built in one place.

The registration service serves it from the manage page and the
notification service attaches it to its mails; both build it here, with the
same UID, ``{event_id}.{registration_id}@{domain}``, so that a downloaded
file and a mailed one update the same entry in the registrant's calendar
rather than adding a second. ``domain`` is the host of the registration
service's public address, which both services know
(``calendar_domain``). An in-person registrant who also gets a stream link
gets that link as an entry of its own (``stream_uid``), so that it does not
replace the venue in the first.

The entry's SEQUENCE follows the event's revision (the first is 0), so a
file built after the event changed supersedes one built before. Times are
written in UTC: every calendar shows them in its own zone.

In person, the entry's LOCATION is the venue's name in the registrant's
language and its address; remotely there is no place, and the entry says
that the personal stream link arrives by mail, or holds it once it has.

How a file is meant (its METHOD, RFC 5546 iTIP) depends on where it goes:

- the manage page's download is ``PUBLISH``: a file the registrant imports;
- the mails' entries (seat confirmation, stream link, change notice) are
  ``REQUEST`` and the cancellation notice ``CANCEL`` (iMIP, RFC 6047: the
  attachment's content type carries the same ``method``). Calendars
  (Google, Outlook, Apple, Thunderbird) update an entry they hold only from
  an iTIP message of the same organiser with the same UID and a higher
  SEQUENCE, and take a ``REQUEST`` or ``CANCEL`` only with an ORGANIZER and
  the reader as an ATTENDEE (RFC 5546 section 3.2.2 and 3.2.5); so every
  mailed entry is a ``REQUEST`` from the start, and its later updates and
  its cancellation are read as such. The ORGANIZER is the event's organiser
  (Ilmo's own address for an event stored before it had one), the ATTENDEE
  the registrant, already taking part (``PARTSTAT=ACCEPTED``) and asked for
  no reply (``RSVP=FALSE``): registering was the answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from icalendar import Calendar, vCalAddress
from icalendar import Event as CalendarEvent

from ilmo_event_contracts import Attendance, Language
from ilmo_event_contracts.events import EventContent
from ilmo_shared.i18n import _, translate

PRODUCT_ID = "-//Ilmo//Ilmo//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"
# The iTIP methods (RFC 5546) Ilmo's files are sent with.
PUBLISH = "PUBLISH"
REQUEST = "REQUEST"
CANCEL = "CANCEL"

STREAM_LINK_BY_MAIL = _("Your personal link to the web stream arrives by email.")


def calendar_domain(registration_public_url: str) -> str:
    """The right-hand side of every entry's UID: the registration service's public host."""
    host = urlsplit(registration_public_url).hostname
    if not host:
        raise ValueError("the registration service's public address has no host")
    return host


def entry_uid(event_id: str, registration_id: str, domain: str) -> str:
    """The UID of a registrant's entry for an event; the same wherever it is built."""
    return f"{event_id}.{registration_id}@{domain}"


def stream_uid(event_id: str, registration_id: str, domain: str) -> str:
    """The UID of an in-person registrant's separate entry for the stream."""
    return f"{event_id}.{registration_id}.stream@{domain}"


def file_name(event_id: str, suffix: str = "") -> str:
    """A safe ``.ics`` file name made from an event id."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", event_id).strip("-.")[:60] or "event"
    return f"{stem}{suffix}.ics"


def event_entry(
    event: EventContent,
    *,
    uid: str,
    revision: int,
    language: Language,
    now: datetime,
) -> CalendarEvent:
    """The parts of an entry every registrant's has: UID, times, title, SEQUENCE."""
    entry = CalendarEvent()
    entry.add("uid", uid)
    entry.add("dtstamp", now.astimezone(UTC).replace(microsecond=0))
    entry.add("dtstart", event.starts_at.astimezone(UTC))
    entry.add("dtend", event.ends_at.astimezone(UTC))
    entry.add("summary", event.title.in_language(language))
    entry.add("sequence", max(revision - 1, 0))
    return entry


def registrant_entry(
    event: EventContent,
    *,
    uid: str,
    revision: int,
    attendance: Attendance,
    language: Language,
    now: datetime,
    stream_link: str | None = None,
) -> CalendarEvent:
    """A registrant's entry: the venue in person, the stream (or the word it comes) remotely."""
    entry = event_entry(event, uid=uid, revision=revision, language=language, now=now)
    lines = [event.description.in_language(language)] if event.description else []
    if attendance is Attendance.IN_PERSON:
        entry.add("location", f"{event.venue.name.in_language(language)}, {event.venue.address}")
        if event.venue.arrival_instructions:
            lines.append(event.venue.arrival_instructions.in_language(language))
    elif stream_link is not None:
        add_stream_link(entry, stream_link)
        lines.append(stream_link)
    else:
        lines.append(translate("ilmo_shared", language, STREAM_LINK_BY_MAIL))
    if lines:
        entry.add("description", "\n\n".join(lines))
    return entry


def invite(
    entry: CalendarEvent,
    *,
    organiser_name: str,
    organiser_email: str,
    attendee_name: str,
    attendee_email: str,
) -> None:
    """Make ``entry`` an iTIP ``REQUEST``/``CANCEL`` to the registrant: ORGANIZER and ATTENDEE.

    The attendee already takes part and is asked for no reply (see the
    module's docstring).
    """
    organiser = vCalAddress(f"mailto:{organiser_email}")
    organiser.params["cn"] = organiser_name
    entry.add("organizer", organiser)
    attendee = vCalAddress(f"mailto:{attendee_email}")
    attendee.params["cn"] = attendee_name
    attendee.params["role"] = "REQ-PARTICIPANT"
    attendee.params["partstat"] = "ACCEPTED"
    attendee.params["rsvp"] = "FALSE"
    entry.add("attendee", attendee)


def cancel(entry: CalendarEvent) -> None:
    """Mark ``entry`` as called off (for ``METHOD:CANCEL``, or a cancelled registration's file)."""
    entry.add("status", "CANCELLED")


def add_stream_link(entry: CalendarEvent, url: str) -> None:
    """Where a remote registrant goes: their personal stream link."""
    entry.add("location", url)
    entry.add("url", url)


def calendar_file(entry: CalendarEvent, method: str = PUBLISH) -> str:
    """A calendar holding ``entry`` as text, for ``method`` (``PUBLISH``: a file to import).

    For ``REQUEST`` and ``CANCEL`` the entry needs an ORGANIZER and an
    ATTENDEE (``invite``).
    """
    if method not in (PUBLISH, REQUEST, CANCEL):
        raise ValueError(f"unknown iTIP method {method!r}")
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add("calscale", "GREGORIAN")
    calendar.add_component(entry)
    ical: bytes = calendar.to_ical()
    return ical.decode("utf-8")

"""Emails as a registrant receives them: Jinja2 templates, MIME, iCalendar.

Every kind has one plain-text and one HTML template (``templates/<kind>.txt``,
``.html``), written in English with every text a gettext message (``{% trans
%}``); Finnish and Swedish come from the package's catalogues
(``locale/<lang>/LC_MESSAGES/messages.po``, :mod:`ilmo_shared.i18n`), one
Jinja2 environment per language. The text template also holds the subject
(its ``subject`` block). HTML is autoescaped, so a name or a title is never
markup. The message is written to bytes by :mod:`ilmo_notification.mime`
(CRLF, RFC 2047 for names such as "Åsa Öhman", the encodings
``EmailMessage`` under ``email.policy.SMTP`` would choose, at a fraction of
its CPU): multipart/alternative text and HTML, inside multipart/mixed when an
``.ics`` (RFC 5545) is attached. The HTML of a mail with the check-in QR code is
multipart/related: the code is an inline PNG (``cid:``), so that no client
has to fetch an image from anywhere, with the code's text under it (and in
the plain text) for whoever cannot show the image.

The mails about the event's life (reminder, change and cancellation
notices, the organiser's messages, the thank-you) say what the reader's
``role`` (seat, waiting list, remote, in person without a seat answer yet)
needs, from ``MailRequest.details`` as the scheduler records them; times
come from the event's latest details, never from a stored link's window.
Calendar entries in mails are iTIP ``REQUEST``s, their cancellation a
``CANCEL`` (``ilmo_shared.calendar``), so a change notice updates the entry
the seat or link mail put in the reader's calendar.

An address whose domain is not ASCII (``asa@pää.fi``) is written with the
domain's ASCII form (IDNA), which every server takes. One whose local part is
not ASCII (``pää@esimerkki.fi``) has no ASCII form: its message is written for
SMTPUTF8 (RFC 6531, UTF-8 headers), and the mailer sends it only to a server
that offers that extension.

A mail is in the name of the event's organiser: ``From`` is the organiser's
name in the reader's language with Ilmo's own address (``mail_from``: the
domain that SPF and DKIM vouch for, so DMARC holds), and ``Reply-To`` is the
organiser's address, so that a reply reaches whoever can answer it. An event
stored before it named an organiser is sent as Ilmo, with no ``Reply-To``.

``compose`` does everything up to the wire bytes, so whatever goes wrong
writing one mail (templates, an address, MIME, the calendar) is a
``RenderError`` about that mail alone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from typing import Any

import segno
from icalendar import Event as CalendarEvent
from jinja2 import Environment, Template

from ilmo_event_contracts import Attendance, EventDetails, Language, NotificationKind, Speaker
from ilmo_notification import CATALOGUE, formatting, mime
from ilmo_notification.domain import Contact, MailRequest, addressed, message_id
from ilmo_shared.calendar import (
    CANCEL,
    REQUEST,
    add_stream_link,
    calendar_domain,
    calendar_file,
    cancel,
    entry_uid,
    event_entry,
    file_name,
    invite,
    registrant_entry,
    stream_uid,
)
from ilmo_shared.check_in import check_in_code
from ilmo_shared.i18n import environment
from ilmo_shared.manage_links import confirmation_link, manage_link
from ilmo_shared.plain_text import paragraphs

KIND_HEADER = "X-Ilmo-Kind"
LANGUAGE_HEADER = "X-Ilmo-Language"
REGISTRATION_HEADER = "X-Ilmo-Registration"
EVENT_HEADER = "X-Ilmo-Event"
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
# The check-in QR: 8 pixels a module and the standard quiet zone of 4 modules,
# about 360 px for a code of version 5 (37 modules), which a door scanner reads
# from a phone screen at arm's length; error correction M (15 %) survives a
# cracked screen or glare. Shown at that size, never scaled down by the mail.
QR_SCALE = 8
QR_BORDER = 4
QR_ERROR = "m"
# The parts of an event that a change notice speaks of (``details["changes"]``).
CHANGES = ("time", "venue", "arrival_instructions", "stream_url")


@dataclass(frozen=True)
class Attachment:
    """A text file attached to the mail (the calendar entry)."""

    filename: str
    content: str
    subtype: str = "calendar"
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML shows from the message itself (``<img src="cid:...">``)."""

    cid: str
    content: bytes
    filename: str
    subtype: str = "png"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
    images: tuple[InlineImage, ...] = ()


@dataclass(frozen=True)
class ComposedMail:
    """A mail ready for the SMTP transaction: whom it goes to, its Message-ID and its bytes."""

    recipient: str
    message_id: str
    data: bytes


class RenderError(Exception):
    """A mail that cannot be written (bad data or a template fault); retrying will not help.

    Its text names the kind and the type of the fault only: the fault's own
    message may quote a name or an address.
    """


def recipient_address(display_name: str, email: str) -> Address:
    """The registrant's address as it is written on the wire: the domain in ASCII (IDNA).

    Built from its parts: ``Address(addr_spec=...)`` refuses a local part
    that is not ASCII, which SMTPUTF8 allows.
    """
    local_part, _, domain = email.rpartition("@")
    if not local_part or not domain:
        raise ValueError("an address needs a local part and a domain")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return Address(display_name=display_name, username=local_part, domain=domain)


def _render_block(template: Template, block: str, context: Mapping[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(dict(context))))


def _one_line(text: str) -> str:
    """Header-safe: no line breaks, no runs of spaces."""
    return " ".join(text.split())


class MailRenderer:
    """Turns a mail request, a contact and the event's details into an email."""

    def __init__(
        self,
        *,
        mail_from: str,
        registration_public_url: str,
        manage_link_secret: str,
    ) -> None:
        name, address = parseaddr(mail_from)
        self._from = Address(display_name=name, addr_spec=address)
        self._domain = address.rsplit("@", 1)[1]
        self._manage_base = registration_public_url
        self._manage_secret = manage_link_secret
        self._templates: dict[Language, Environment] = {
            language: _environment(language) for language in Language
        }

    @property
    def sender(self) -> str:
        return self._from.addr_spec

    def message_id(self, request: MailRequest) -> str:
        return message_id(request.registration_id, request.kind, self._domain, request.occasion)

    def _sender_name(self, event: EventDetails, language: Language) -> str:
        """Whose name the mail is in: the organiser's in the reader's language, else Ilmo's.

        Only the name: the address stays Ilmo's own (``mail_from``), which its
        domain's SPF and DKIM vouch for, so that DMARC holds.
        """
        if event.organiser is None:
            return self._from.display_name or "Ilmo"
        return _one_line(event.organiser.name.in_language(language))

    # ------------------------------------------------------------ content

    def context(
        self, request: MailRequest, contact: Contact, event: EventDetails
    ) -> dict[str, Any]:
        """Everything the templates may show, already formatted for the reader's language."""
        language = contact.language
        tz = event.timezone
        details = request.details
        context: dict[str, Any] = {
            "lang": language.value,
            "sender_name": self._sender_name(event, language),
            "organiser": _organiser(event, language),
            "first_name": contact.first_name,
            "full_name": contact.display_name,
            "title": event.title.in_language(language),
            "description": event.description.in_language(language) if event.description else "",
            "when": formatting.format_span(event.starts_at, event.ends_at, tz, language),
            "zone": formatting.zone_name(tz, language),
            # The attendance the mail is about (a switch may have changed it since
            # the contact was kept), else the one registered with.
            "in_person": Attendance(details.get("attendance", contact.attendance))
            is Attendance.IN_PERSON,
            "manage_url": manage_link(
                self._manage_base, self._manage_secret, request.registration_id
            ),
            "venue_name": event.venue.name.in_language(language),
            "venue_address": event.venue.address,
            "arrival": (
                event.venue.arrival_instructions.in_language(language)
                if event.venue.arrival_instructions
                else ""
            ),
            "agenda": _agenda(event, language),
            "confirm_url": confirmation_link(
                self._manage_base, self._manage_secret, request.registration_id
            ),
            "expires": "",
            "repeat": bool(details.get("repeat", False)),
            "confirming": bool(details.get("awaiting_confirmation", False)),
            "promoted": bool(details.get("promoted", False)),
            "position": details.get("position"),
            "stream_url": details.get("url", ""),
            "stream_opens": "",
            "stream_closes": "",
        }
        context.update(self._life_context(request, contact, event))
        if request.kind in EXPIRING_KINDS and details.get("expires_at"):
            context["expires"] = formatting.format_datetime(
                _moment(details["expires_at"]), tz, language
            )
        if request.kind is NotificationKind.STREAM_LINK:
            context["stream_opens"] = formatting.format_datetime(
                _moment(details["valid_from"]), tz, language
            )
            context["stream_closes"] = formatting.format_datetime(
                _moment(details["valid_until"]), tz, language
            )
        return context

    def _life_context(
        self, request: MailRequest, contact: Contact, event: EventDetails
    ) -> dict[str, Any]:
        """What the mails of the event's life add: role, link, QR, changes, message, links."""
        language, tz = contact.language, event.timezone
        details = request.details
        role = str(details.get("role") or _role_of(contact.attendance))
        context: dict[str, Any] = {
            "role": role,
            "day": formatting.format_date(formatting.local(event.starts_at, tz), language),
            "minutes_before": int(details.get("minutes_before", 0)),
            "check_in": None,
            "note_paragraphs": paragraphs(
                event.cancellation_note.in_language(language) if event.cancellation_note else ""
            ),
            "feedback_url": event.feedback_url or "",
            "recording_url": event.recording_url or "",
        }
        if self._carries_check_in(request, role):
            code = check_in_code(self._manage_secret, request.registration_id)
            qr = check_in_qr(code)
            context["check_in"] = {
                "code": code,
                "cid": self._check_in_cid(),
                "size": qr.size,
                "png": qr.png,
            }
        link = details.get("stream_link")
        if request.kind in LIFE_KINDS:
            # The link's url is the person's; its window follows the event as it is now.
            opens = event.starts_at - timedelta(minutes=event.stream_opens_minutes_before)
            closes = event.ends_at + timedelta(minutes=event.stream_closes_minutes_after)
            context["stream_url"] = str(link["url"]) if link else ""
            context["stream_opens"] = formatting.format_datetime(opens, tz, language)
            context["stream_closes"] = formatting.format_datetime(closes, tz, language)
        context.update(_change_context(details, event, language))
        context.update(_message_context(details, language))
        return context

    def _carries_check_in(self, request: MailRequest, role: str) -> bool:
        """A seat confirmation and a seat holder's reminder carry the check-in QR."""
        if request.kind is NotificationKind.SEAT_CONFIRMED:
            return True
        return request.kind is NotificationKind.REMINDER and role == "seat"

    def _check_in_cid(self) -> str:
        """The Content-ID of the QR image: unique within its message, which is all it needs."""
        return f"check-in-code@{self._domain}"

    def render(
        self, request: MailRequest, contact: Contact, event: EventDetails, *, now: datetime
    ) -> RenderedMail:
        """Subject, text and HTML in the contact's language, and the attachments of the kind."""
        contact = addressed(contact, request)
        try:
            context = self.context(request, contact, event)
            templates = self._templates[contact.language]
            kind = request.kind.value
            text_template = templates.get_template(f"{kind}.txt")
            html_template = templates.get_template(f"{kind}.html")
            subject = _one_line(_render_block(text_template, "subject", context))
            text = _BLANK_LINES.sub("\n\n", text_template.render(context)).strip() + "\n"
            html = html_template.render(context)
            attachments = self._attachments(request, contact, event, now)
            images = _check_in_images(context["check_in"])
        except Exception as error:  # KeyError, ValueError, a template fault, a bad zone name
            raise RenderError(f"{request.kind.value}: {type(error).__name__}") from error
        return RenderedMail(
            subject=subject, text=text, html=html, attachments=attachments, images=images
        )

    # ------------------------------------------------------------ MIME

    def compose(
        self, request: MailRequest, contact: Contact, event: EventDetails, *, now: datetime
    ) -> ComposedMail:
        """The mail as it goes on the wire; the same request always gets the same Message-ID.

        Raises ``RenderError`` for any fault, so that one mail that cannot be
        written is failed on its own and never stops the others.
        """
        contact = addressed(contact, request)
        try:
            recipient = recipient_address(contact.display_name, contact.email)
            data = self._wire(request, contact, event, recipient, now=now)
        except RenderError:
            raise
        except Exception as error:  # an address, MIME, a header: whatever it was
            raise RenderError(f"{request.kind.value}: {type(error).__name__}") from None
        return ComposedMail(recipient.addr_spec, self.message_id(request), data)

    def _wire(
        self,
        request: MailRequest,
        contact: Contact,
        event: EventDetails,
        recipient: Address,
        *,
        now: datetime,
    ) -> bytes:
        """The message's bytes; UTF-8 headers (RFC 6532) only for a recipient that needs them.

        A recipient whose local part is not ASCII has no other form, so its
        message is written for SMTPUTF8 (see ``compose``); every other
        message is ASCII throughout.
        """
        rendered = self.render(request, contact, event, now=now)
        utf8 = not recipient.addr_spec.isascii()
        language = contact.language
        sender = mime.mailbox(self._sender_name(event, language), self._from.addr_spec, utf8=utf8)
        headers = [
            ("From", sender),
            ("To", mime.mailbox(recipient.display_name, recipient.addr_spec, utf8=utf8)),
        ]
        reply_to = _reply_to(event, language, utf8=utf8)
        if reply_to is not None:
            headers.append(
                ("Reply-To", mime.mailbox(reply_to.display_name, reply_to.addr_spec, utf8=utf8))
            )
        headers += [
            ("Subject", mime.unstructured(rendered.subject, utf8=utf8)),
            ("Date", format_datetime(now)),
            ("Message-ID", self.message_id(request)),
            # RFC 3834: no vacation auto-replies to a machine.
            ("Auto-Submitted", "auto-generated"),
            (KIND_HEADER, request.kind.value),
            (LANGUAGE_HEADER, language.value),
            (REGISTRATION_HEADER, mime.unstructured(request.registration_id)),
            (EVENT_HEADER, mime.unstructured(request.event_id, utf8=utf8)),
            ("Content-Language", language.value),
        ]
        return mime.message(headers, _body(rendered), utf8=utf8)

    # ------------------------------------------------------------ iCalendar

    def _attachments(
        self, request: MailRequest, contact: Contact, event: EventDetails, now: datetime
    ) -> tuple[Attachment, ...]:
        if request.kind is NotificationKind.SEAT_CONFIRMED:
            return (self._seat_calendar(request, contact, event, now),)
        if request.kind is NotificationKind.STREAM_LINK:
            return (self._stream_calendar(request, contact, event, now),)
        if request.kind is NotificationKind.EVENT_CHANGED:
            return (self._held_calendar(request, contact, event, now, method=REQUEST),)
        if request.kind is NotificationKind.EVENT_CANCELLED:
            return (self._held_calendar(request, contact, event, now, method=CANCEL),)
        return ()

    def _invitation(
        self, entry: CalendarEvent, contact: Contact, event: EventDetails, *, method: str
    ) -> str:
        """``entry`` as the iTIP ``method`` message from the organiser to the registrant."""
        organiser = event.organiser
        invite(
            entry,
            organiser_name=self._sender_name(event, contact.language),
            organiser_email=organiser.email if organiser else self._from.addr_spec,
            attendee_name=contact.display_name,
            attendee_email=recipient_address(contact.display_name, contact.email).addr_spec,
        )
        if method == CANCEL:
            cancel(entry)
        else:
            entry.add("status", "CONFIRMED")
        return calendar_file(entry, method)

    def _seat_calendar(
        self, request: MailRequest, contact: Contact, event: EventDetails, now: datetime
    ) -> Attachment:
        domain = calendar_domain(self._manage_base)
        entry = registrant_entry(
            event,
            uid=entry_uid(event.event_id, request.registration_id, domain),
            revision=event.revision,
            attendance=Attendance.IN_PERSON,
            language=contact.language,
            now=now,
        )
        return Attachment(
            filename=file_name(event.event_id),
            content=self._invitation(entry, contact, event, method=REQUEST),
            params={"method": REQUEST},
        )

    def _held_calendar(
        self,
        request: MailRequest,
        contact: Contact,
        event: EventDetails,
        now: datetime,
        *,
        method: str,
    ) -> Attachment:
        """The entry the reader's earlier mails put in their calendar, updated or cancelled.

        The one the role's first mail sent: a remote registrant's entry (with
        their link once they have one), a waiting-list member's stream entry
        (their stream-link mail's), else the in-person entry (the seat
        confirmation's, or the manage page's download). The same UID, and a
        SEQUENCE that has grown with the event's revision.
        """
        domain = calendar_domain(self._manage_base)
        link = request.details.get("stream_link")
        url = str(link["url"]) if link else None
        role = str(request.details.get("role") or _role_of(contact.attendance))
        if role == "waiting_list" and url is not None:
            entry = event_entry(
                event,
                uid=stream_uid(event.event_id, request.registration_id, domain),
                revision=event.revision,
                language=contact.language,
                now=now,
            )
            add_stream_link(entry, url)
            entry.add("description", url)
            suffix = "-stream"
        else:
            remote = role == "remote"
            entry = registrant_entry(
                event,
                uid=entry_uid(event.event_id, request.registration_id, domain),
                revision=event.revision,
                attendance=Attendance.REMOTE if remote else Attendance.IN_PERSON,
                language=contact.language,
                now=now,
                stream_link=url if remote else None,
            )
            suffix = ""
        return Attachment(
            filename=file_name(event.event_id, suffix),
            content=self._invitation(entry, contact, event, method=method),
            params={"method": method},
        )

    def _stream_calendar(
        self, request: MailRequest, contact: Contact, event: EventDetails, now: datetime
    ) -> Attachment:
        """A remote registrant's one entry gets the link; an in-person one's stays the venue's."""
        domain = calendar_domain(self._manage_base)
        url = str(request.details["url"])
        if contact.attendance is Attendance.REMOTE:
            entry = registrant_entry(
                event,
                uid=entry_uid(event.event_id, request.registration_id, domain),
                revision=event.revision,
                attendance=Attendance.REMOTE,
                language=contact.language,
                now=now,
                stream_link=url,
            )
        else:
            entry = event_entry(
                event,
                uid=stream_uid(event.event_id, request.registration_id, domain),
                revision=event.revision,
                language=contact.language,
                now=now,
            )
            add_stream_link(entry, url)
            entry.add("description", url)
        return Attachment(
            filename=file_name(event.event_id, "-stream"),
            content=self._invitation(entry, contact, event, method=REQUEST),
            params={"method": REQUEST},
        )


def _environment(language: Language) -> Environment:
    """The templates in ``language``, never checked for changes on disk.

    They are package data, the same for the life of the process; Jinja2's
    default would look at each file's modification time on every lookup,
    ``{% extends %}`` and ``{% include %}`` included.
    """
    env = environment(CATALOGUE, language)
    env.auto_reload = False
    return env


def _body(rendered: RenderedMail) -> mime.Part | mime.Multipart:
    """The MIME tree: text and HTML as alternatives, the QR beside the HTML, files after.

    multipart/alternative (text, then HTML: a client shows the last it can);
    the HTML inside multipart/related with its inline images (they are part
    of the page, not files); all of it inside multipart/mixed when a file is
    attached.
    """
    html: mime.Part | mime.Multipart = mime.text_part(rendered.html, "html")
    if rendered.images:
        html = mime.Multipart("related", (html, *map(_image_part, rendered.images)))
    alternative = mime.Multipart("alternative", (mime.text_part(rendered.text, "plain"), html))
    if not rendered.attachments:
        return alternative
    return mime.Multipart("mixed", (alternative, *map(_attachment_part, rendered.attachments)))


def _image_part(image: InlineImage) -> mime.Part:
    return mime.binary_part(
        image.content,
        "image",
        image.subtype,
        headers=(mime.disposition("inline", image.filename), ("Content-ID", f"<{image.cid}>")),
    )


def _attachment_part(attachment: Attachment) -> mime.Part:
    return mime.text_part(
        attachment.content,
        attachment.subtype,
        parameters=tuple((attachment.params or {}).items()),
        headers=(mime.disposition("attachment", attachment.filename),),
    )


# The kinds that may say when an unconfirmed registration expires (``details["expires_at"]``).
EXPIRING_KINDS = frozenset({NotificationKind.CONFIRM_ADDRESS, NotificationKind.MANAGE_LINK})
# The kinds about the event's life, whose stream window is the event's own.
LIFE_KINDS = frozenset(
    {
        NotificationKind.REMINDER,
        NotificationKind.EVENT_CHANGED,
        NotificationKind.EVENT_CANCELLED,
        NotificationKind.ORGANISER_MESSAGE,
        NotificationKind.THANK_YOU,
    }
)


def _role_of(attendance: Attendance) -> str:
    """A role for a request that names none: remote, or in person without a seat answer."""
    return "remote" if attendance is Attendance.REMOTE else "undecided"


def _change_context(
    details: Mapping[str, Any], event: EventDetails, language: Language
) -> dict[str, Any]:
    """What a change notice says changed, and what it was before (in the reader's language)."""
    changes = set(details.get("changes") or ())
    previous = details.get("previous") or {}
    tz = event.timezone
    context: dict[str, Any] = {
        "changed": {change: change in changes for change in CHANGES},
        "previous_when": "",
        "previous_venue_name": "",
        "previous_venue_address": "",
    }
    if previous.get("starts_at") and previous.get("ends_at"):
        context["previous_when"] = formatting.format_span(
            _moment(previous["starts_at"]), _moment(previous["ends_at"]), tz, language
        )
    names = previous.get("venue_name") or {}
    if isinstance(names, Mapping) and names.get("fi"):
        context["previous_venue_name"] = names.get(language.value) or names["fi"]
    context["previous_venue_address"] = str(previous.get("venue_address") or "")
    return context


def _message_context(details: Mapping[str, Any], language: Language) -> dict[str, Any]:
    """The organiser's title and body in the reader's language (else Finnish), as plain text."""
    title = _in_language(details.get("title"), language)
    body = _in_language(details.get("body"), language)
    return {
        "message_title": _one_line(title),
        # The plain-text part: the lines as written, with the organiser's line ends.
        "message_body": "\n\n".join("\n".join(lines) for lines in paragraphs(body)),
        "paragraphs": paragraphs(body),
    }


def _in_language(texts: Any, language: Language) -> str:
    """A ``{fi, sv, en}`` text of the request in ``language``, falling back to Finnish."""
    if not isinstance(texts, Mapping):
        return ""
    return str(texts.get(language.value) or texts.get("fi") or "")


def _check_in_images(check_in: Mapping[str, Any] | None) -> tuple[InlineImage, ...]:
    """The check-in QR as an inline PNG, or nothing for a mail without one."""
    if check_in is None:
        return ()
    return (InlineImage(cid=check_in["cid"], content=check_in["png"], filename="check-in.png"),)


@dataclass(frozen=True)
class CheckInQr:
    """The check-in QR as the mail shows it: its PNG and its side in pixels."""

    png: bytes
    size: int


def check_in_qr(text: str) -> CheckInQr:
    """``text`` as a QR code in a PNG, black on white, sized for a scanner (``QR_SCALE``).

    Encoded once for both the image and its size: encoding (choosing the
    mask) is most of a QR's cost.
    """
    code = segno.make(text, error=QR_ERROR, micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER, dark="#000000", light="#ffffff")
    return CheckInQr(png=buffer.getvalue(), size=int(code.symbol_size(QR_SCALE, QR_BORDER)[0]))


def _reply_to(event: EventDetails, language: Language, *, utf8: bool) -> Address | None:
    """Where a reply goes: the organiser, whose questions these are; None without one.

    An organiser's address whose local part is not ASCII can only be written
    in a message that goes out as SMTPUTF8 (whose recipient needs it too);
    any other message goes without ``Reply-To`` (the footer still names the
    address) rather than with a header a server may refuse.
    """
    organiser = event.organiser
    if organiser is None:
        return None
    address = recipient_address(_one_line(organiser.name.in_language(language)), organiser.email)
    if not address.username.isascii() and not utf8:
        return None
    return address


def _organiser(event: EventDetails, language: Language) -> dict[str, str] | None:
    """Whom to ask, for the footer: name in the reader's language, email and phone."""
    organiser = event.organiser
    if organiser is None:
        return None
    phone = organiser.phone or ""
    return {
        "name": organiser.name.in_language(language),
        "email": organiser.email,
        "phone": phone,
        "phone_uri": "tel:" + re.sub(r"[^0-9+]", "", phone) if phone else "",
    }


def _speakers(speakers: tuple[Speaker, ...], language: Language) -> str:
    """``Maija Virtanen (Kansliapäällikkö), Valtiovarainministeriö, ...`` on one line."""
    return ", ".join(
        speaker.name
        + (f" ({speaker.title.in_language(language)})" if speaker.title else "")
        + (f", {speaker.organisation.in_language(language)}" if speaker.organisation else "")
        for speaker in speakers
    )


def _agenda(event: EventDetails, language: Language) -> list[dict[str, Any]]:
    """The agenda's blocks in time order, each with its speakers and its talks."""
    return [
        {
            "time": formatting.format_time_span(
                item.starts_at, item.ends_at, event.timezone, language
            ),
            "title": item.title.in_language(language),
            "speakers": _speakers(item.speakers, language),
            "talks": [
                {
                    "title": talk.title.in_language(language),
                    "speakers": _speakers(talk.speakers, language),
                }
                for talk in item.talks
            ],
        }
        for item in sorted(event.agenda, key=lambda item: item.starts_at)
    ]


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))

"""The mails written by ``ilmo_notification.mime`` read as ``EmailMessage`` wrote them.

``MailRenderer`` used to build each mail as an ``EmailMessage`` under
``email.policy.SMTP`` (7bit); it now writes the bytes itself. A recipient's
client must not be able to tell: every kind in every language, and the
awkward addresses and names, are parsed with the stdlib parser from both
writers and compared header by header and part by part (content types,
parameters, transfer encodings, dispositions, file names, Content-IDs and
decoded bodies). Only the random multipart boundaries, the order of
headers and a ``MIME-Version`` inside parts (which means nothing there) may
differ. The header and body encoders are checked on arbitrary text too.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.policy import SMTP, default
from email.utils import format_datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.composition import DETAILS
from ilmo_event_contracts import EventDetails, Language, LocalizedText, NotificationKind, Organiser
from ilmo_notification import mime
from ilmo_notification.domain import Contact, MailRequest
from ilmo_notification.rendering import (
    EVENT_HEADER,
    KIND_HEADER,
    LANGUAGE_HEADER,
    REGISTRATION_HEADER,
    MailRenderer,
    _reply_to,
    recipient_address,
)
from tests.support.notification import ORGANISER, accepted, contact_of, renderer, seminar

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WIRE = SMTP.clone(cte_type="7bit")
REGISTRATION = uuid.UUID("5f0c2a9d-41be-4c2e-9d8a-1b2c3d4e5f60")
# Headers whose order and presence in parts say nothing to a client.
BOUNDARY_FREE = {"mime-version"}


def stdlib_message(
    composer: MailRenderer, request: MailRequest, contact: Contact, event: EventDetails
) -> bytes:
    """The mail as ``MailRenderer`` wrote it before ``mime``: an ``EmailMessage``, flattened.

    The same rendered texts, images and files: only the writing differs.
    """
    recipient = recipient_address(contact.display_name, contact.email)
    rendered = composer.render(request, contact, event, now=NOW)
    utf8 = not recipient.addr_spec.isascii()
    message = EmailMessage(policy=WIRE.clone(utf8=True) if utf8 else WIRE)
    sender = Address(addr_spec=composer.sender)
    message["From"] = Address(
        display_name=composer._sender_name(event, contact.language),
        username=sender.username,
        domain=sender.domain,
    )
    message["To"] = recipient
    reply_to = _reply_to(event, contact.language, utf8=utf8)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(NOW)
    message["Message-ID"] = composer.message_id(request)
    message["Auto-Submitted"] = "auto-generated"
    message[KIND_HEADER] = request.kind.value
    message[LANGUAGE_HEADER] = contact.language.value
    message[REGISTRATION_HEADER] = request.registration_id
    message[EVENT_HEADER] = request.event_id
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if rendered.images:
        html_part = cast(EmailMessage, message.get_body(("html",)))
        for image in rendered.images:
            html_part.add_related(
                image.content,
                maintype="image",
                subtype=image.subtype,
                cid=f"<{image.cid}>",
                disposition="inline",
                filename=image.filename,
            )
    for attachment in rendered.attachments:
        message.add_attachment(
            attachment.content,
            subtype=attachment.subtype,
            filename=attachment.filename,
            params=dict(attachment.params or {}),
        )
    message["Content-Language"] = contact.language.value
    return message.as_bytes()


def parsed(data: bytes) -> EmailMessage:
    """As a client reads it: UTF-8 text (an SMTPUTF8 message's headers are UTF-8)."""
    return message_from_string(data.decode("utf-8"), policy=default)


def header_view(part: Message) -> dict[str, Any]:
    """Every header but the boundary's, as the parser decodes it; addresses as (name, address)."""
    view: dict[str, Any] = {}
    for name, value in part.items():
        key = name.lower()
        if key in BOUNDARY_FREE:
            continue
        if key == "content-type":
            params = {k: v for k, v in part.get_params(failobj=[])[1:] if k != "boundary"}
            view[key] = (part.get_content_type(), params)
        elif hasattr(value, "addresses"):
            view[key] = [(a.display_name, a.addr_spec) for a in value.addresses]
        else:
            view[key] = str(value).strip()
    return view


def structure(data: bytes) -> list[dict[str, Any]]:
    """Every part in order: its decoded headers, defects, and its decoded body if a leaf."""
    views = []
    for part in parsed(data).walk():
        view = header_view(part)
        view["defects"] = [type(defect).__name__ for defect in part.defects]
        if not part.is_multipart():
            view["body"] = part.get_payload(decode=True)
        views.append(view)
    return views


def request_for(
    kind: NotificationKind,
    language: Language,
    *,
    email: str = "asa.ohman@example.fi",
    first_name: str = "Åsa",
    organiser: Organiser | None = ORGANISER,
) -> tuple[MailRequest, Contact, EventDetails]:
    event = seminar("ministry-seminar", organiser=organiser)
    registration = accepted(
        event.event_id, language=language, first_name=first_name, registration_id=REGISTRATION
    )
    request = MailRequest(str(REGISTRATION), event.event_id, kind, DETAILS[kind])
    return request, replace(contact_of(registration), email=email), event


def assert_same_for_a_client(
    request: MailRequest, contact: Contact, event: EventDetails
) -> list[dict[str, Any]]:
    composer = renderer()
    written = composer.compose(request, contact, event, now=NOW).data
    reference = stdlib_message(composer, request, contact, event)
    ours, theirs = structure(written), structure(reference)
    assert ours == theirs
    assert all(view["defects"] == [] for view in ours)
    return ours


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_in_every_language_reads_as_the_stdlib_wrote_it(
    kind: NotificationKind, language: Language
) -> None:
    views = assert_same_for_a_client(*request_for(kind, language))
    top = views[0]
    assert top["x-ilmo-kind"] == kind.value
    assert top["x-ilmo-registration"] == str(REGISTRATION)
    assert top["content-language"] == language.value


@pytest.mark.parametrize(
    ("email", "first_name", "organiser"),
    [
        ("pää@esimerkki.fi", "Åsa", ORGANISER),  # SMTPUTF8: UTF-8 headers
        ("asa@pää.fi", "Åsa", ORGANISER),  # IDNA domain
        ("asa@example.fi", "Asa", None),  # Ilmo's own name, no Reply-To
        ("asa@example.fi", 'Åsa "Ö" Öhman, jr.', ORGANISER),  # specials beyond ASCII
        ("asa@example.fi", 'Asa "the" Ohman, jr.', ORGANISER),  # specials in ASCII
        ("asa@example.fi", "Ася Иванова", ORGANISER),  # Cyrillic: a base64 word
        (
            "asa@example.fi",
            "Åsa",
            ORGANISER.model_copy(update={"name": LocalizedText(fi='<b>VM</b> "Bcc: x@y.fi"')}),
        ),
        (
            "pää@esimerkki.fi",
            "Åsa",
            ORGANISER.model_copy(update={"email": "kysymys.pää@vm.example.fi"}),
        ),
    ],
)
@pytest.mark.parametrize(
    "kind", [NotificationKind.SEAT_CONFIRMED, NotificationKind.REGISTRATION_RECEIVED]
)
def test_awkward_addresses_and_names_read_as_the_stdlib_wrote_them(
    kind: NotificationKind, email: str, first_name: str, organiser: Organiser | None
) -> None:
    assert_same_for_a_client(
        *request_for(kind, Language.FI, email=email, first_name=first_name, organiser=organiser)
    )


def test_a_name_that_looks_like_an_encoded_word_is_read_as_written() -> None:
    # The stdlib's writer decoded it on the way out ("x Öhman"); it is someone's text.
    request, contact, event = request_for(
        NotificationKind.REGISTRATION_RECEIVED, Language.FI, first_name="=?utf-8?q?x?="
    )
    received = parsed(renderer().compose(request, contact, event, now=NOW).data)
    assert received["To"].addresses[0].display_name == "=?utf-8?q?x?= Öhman"


def test_the_transfer_encodings_are_the_stdlibs_choice_and_all_seven_bit() -> None:
    request, contact, event = request_for(NotificationKind.SEAT_CONFIRMED, Language.SV)
    data = renderer().compose(request, contact, event, now=NOW).data
    assert data.isascii()
    encodings = [
        (part.get_content_type(), part["Content-Transfer-Encoding"])
        for part in parsed(data).walk()
        if not part.is_multipart()
    ]
    assert encodings == [
        ("text/plain", "quoted-printable"),
        ("text/html", "quoted-printable"),
        ("image/png", "base64"),
        ("text/calendar", "quoted-printable"),
    ]


# ---------------------------------------------------------------- the encoders on any text

# Any character a str can encode (no lone surrogates).
CHARACTERS = st.characters(exclude_categories=["Cs"])
ONE_LINE = st.text(CHARACTERS, max_size=200).map(lambda text: " ".join(text.split()))


def one_part_message(
    headers: list[tuple[str, str]], text: str = "x", *, utf8: bool = False
) -> bytes:
    return mime.message(headers, mime.text_part(text, "plain"), utf8=utf8)


@given(subject=ONE_LINE, utf8=st.booleans())
def test_any_subject_reads_back_as_written(subject: str, utf8: bool) -> None:
    data = one_part_message([("Subject", mime.unstructured(subject, utf8=utf8))], utf8=utf8)
    if not utf8:
        assert data.isascii()
    received = parsed(data)
    assert received.defects == []
    assert str(received["Subject"]) == subject
    # Nothing smuggled in: Subject and the part's own three.
    assert received.keys() == [
        "Subject",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]


@given(name=ONE_LINE, utf8=st.booleans())
def test_any_display_name_reads_back_as_written(name: str, utf8: bool) -> None:
    written = mime.phrase(name, utf8=utf8)
    data = one_part_message([("To", mime.mailbox(name, "asa@example.fi", utf8=utf8))], utf8=utf8)
    [address] = parsed(data)["To"].addresses
    assert address.addr_spec == "asa@example.fi"
    if written.count("=?utf-8?") > 1:
        # Python's address parser keeps the space between two encoded words of a
        # name, which RFC 2047 (section 6.2) says a reader ignores (the stdlib's
        # own writer splits long names as well): read it as a mail client does.
        assert str(make_header(decode_header(written))) == name
    else:
        assert address.display_name == name


@given(value=st.text(CHARACTERS, max_size=300))
def test_any_header_value_stays_one_header_and_folds_within_the_line_limit(value: str) -> None:
    written = mime.fold("X-Ilmo-Event", mime.unstructured(value))
    assert written.endswith("\r\n")
    lines = written[:-2].split("\r\n")
    assert all(line.startswith(" ") for line in lines[1:])
    assert all(line.strip() for line in lines)
    # A line is longer than 78 characters only to hold one word (an encoded word is at most 75).
    words = [lines[0].removeprefix("X-Ilmo-Event: "), *lines[1:]]
    assert all(
        len(line) <= mime.LINE or " " not in word.strip()
        for line, word in zip(lines, words, strict=True)
    )
    received = message_from_bytes(written.encode("ascii") + b"\r\n", policy=default)
    assert list(received.keys()) == ["X-Ilmo-Event"]


@given(text=st.text(CHARACTERS, max_size=600))
def test_any_text_body_decodes_to_its_text_with_crlf_line_ends(text: str) -> None:
    encoding, body = mime.text_body(text)
    assert body.isascii()
    assert all(len(line) <= 998 for line in body.split(b"\r\n"))
    data = one_part_message([], text)
    part = parsed(data)
    assert part["Content-Transfer-Encoding"] == encoding
    expected = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    assert part.get_payload(decode=True) == expected


def test_a_text_that_is_ascii_with_short_lines_goes_as_it_is() -> None:
    assert mime.text_body("Hello,\nworld") == ("7bit", b"Hello,\r\nworld\r\n")


def test_a_text_mostly_beyond_latin_script_goes_in_base64() -> None:
    encoding, _ = mime.text_body("Здравствуйте, Ася!\n" * 3)
    assert encoding == "base64"


def test_a_boundary_is_never_one_a_part_contains(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([7, 7, 8])  # the first boundary drawn is in the text: drawn again
    monkeypatch.setattr("ilmo_notification.mime.secrets.randbelow", lambda _: next(draws))
    taken = "=" * 15 + f"{7:019d}" + "=="
    inner = mime.text_part(f"--{taken}\n", "plain")
    data = mime.message([], mime.Multipart("mixed", (inner, inner)), utf8=False)
    received = parsed(data)
    assert received.get_boundary() == "=" * 15 + f"{8:019d}" + "=="
    assert [part.get_content() for part in received.iter_parts()] == [f"--{taken}\r\n"] * 2

"""A mail's wire bytes, written directly for the few shapes Ilmo's mails have.

Why not ``email.message.EmailMessage``: its header registry parses every
header it is given into a syntax tree and folds that tree again on output,
and its content manager rewrites the Content-* headers each time a part
becomes multipart; that was about 70 % of the CPU of composing a mail, and
composing was a third of the notification service's CPU per registration
(docs/performance.md, "Issue 18: composing mails"). Ilmo's mails are a
handful of shapes (text and HTML, perhaps an inline image, perhaps a
calendar file) with headers whose values the service chose itself, so they
are written here as bytes, with the same encodings ``EmailMessage`` under
``email.policy.SMTP`` with ``cte_type="7bit"`` chose:

- CRLF line ends; a header folded at its spaces so that its lines stay
  within 78 characters where they can (RFC 5322 section 2.2.3);
- header words beyond printable ASCII as RFC 2047 encoded words in UTF-8
  (``=?utf-8?q?...?=``, or ``b`` when shorter), or, in a message for
  SMTPUTF8 (``utf8=True``), as raw UTF-8 (RFC 6532); control characters are
  always encoded, so no value can start a header of its own;
- a display name with specials as a quoted string (RFC 5322 section 3.2.4);
- text bodies in UTF-8: 7bit when ASCII with lines within 78 octets, else
  quoted-printable, or base64 when that is shorter on the first ten lines
  (the rule of ``email.contentmanager``); binary bodies in base64; nothing
  8-bit, so that no server's lack of 8BITMIME can mangle a message;
- multipart boundaries ``===============<19 digits>==`` that no part contains.

A client cannot tell the two writers apart: ``tests/unit/test_notification_mime.py``
parses both with the stdlib parser and compares headers, structure,
parameters, transfer encodings and decoded bodies. Where they differ this
writer is the more literal: a name that looks like an encoded word is sent as
written (the stdlib decoded it), and no header is folded straight after its
name (see ``fold``).
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LINE = 78
# RFC 2047: an encoded word is at most 75 characters, 12 of them ``=?utf-8?q?`` and ``?=``.
WORD = 75
_WORD_ROOM = WORD - len("=?utf-8?q??=")
# Characters a Q-encoded word keeps as they are, also in a phrase (RFC 2047 section 5 (3)).
_Q_LITERAL = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")
# A display name with one of these is a quoted string (RFC 5322 ``specials``).
_SPECIALS = frozenset('()<>@,:;.\\"[]')
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    """A leaf entity: its Content-Type, its other headers and its body, already encoded."""

    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Multipart:
    """``multipart/<subtype>`` around ``parts``, in order."""

    subtype: str
    parts: tuple[Part | Multipart, ...]


# ------------------------------------------------------------------ headers


def _plain(text: str, *, utf8: bool) -> bool:
    """Whether ``text`` can stand in a header as it is: printable, no encoded word in disguise."""
    if "=?" in text:
        return False
    if text.isascii():
        return text.isprintable()
    return utf8 and text.isprintable()


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words in UTF-8, none longer than 75 characters.

    Q (mostly ASCII, readable in the source) or B, whichever is shorter, as
    the stdlib chooses; a character's octets never straddle two words.
    Adjacent encoded words decode as one text: the space between them is
    only folding room.
    """
    octets = text.encode("utf-8")
    q_length = sum(1 if byte in _Q_LITERAL or byte == 0x20 else 3 for byte in octets)
    b_length = (len(octets) + 2) // 3 * 4
    if b_length < q_length:
        return _b_words(text)
    return _q_words(text)


def _q_words(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        encoded = "".join(
            chr(byte) if byte in _Q_LITERAL else "_" if byte == 0x20 else f"={byte:02X}"
            for byte in char.encode("utf-8")
        )
        if current and size + len(encoded) > _WORD_ROOM:
            words.append("=?utf-8?q?" + "".join(current) + "?=")
            current, size = [], 0
        current.append(encoded)
        size += len(encoded)
    words.append("=?utf-8?q?" + "".join(current) + "?=")
    return words


def _b_words(text: str) -> list[str]:
    words: list[str] = []
    current = b""
    room = _WORD_ROOM // 4 * 3  # octets whose base64 fits the room
    for char in text:
        octets = char.encode("utf-8")
        if current and len(current) + len(octets) > room:
            words.append("=?utf-8?b?" + binascii.b2a_base64(current, newline=False).decode() + "?=")
            current = b""
        current += octets
    words.append("=?utf-8?b?" + binascii.b2a_base64(current, newline=False).decode() + "?=")
    return words


def unstructured(text: str, *, utf8: bool = False) -> str:
    """A free-text header value (Subject, a token): plain words as they are, the rest encoded.

    A run of words that need encoding becomes one encoded text, spaces and
    all: the space between two encoded words is not part of the text, the
    space between an encoded word and a plain one is.
    """
    if _plain(text, utf8=utf8):
        return text
    segments: list[tuple[bool, list[str]]] = []
    for word in text.split(" "):
        encode = bool(word) and not _plain(word, utf8=utf8)
        if segments and (segments[-1][0] == encode or not word):
            segments[-1][1].append(word)
        else:
            segments.append((encode, [word]))
    written = []
    for encode, words in segments:
        joined = " ".join(words)
        written.append(" ".join(encoded_words(joined)) if encode else joined)
    return " ".join(written)


def phrase(name: str, *, utf8: bool = False) -> str:
    """A display name as it is written before ``<address>``: as it is, quoted, or encoded."""
    if not _plain(name, utf8=utf8):
        return " ".join(encoded_words(name))
    if _SPECIALS.isdisjoint(name) and name == " ".join(name.split()):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox(name: str, addr_spec: str, *, utf8: bool = False) -> str:
    """``Name <local@domain>``, or the bare address without a name.

    ``addr_spec`` is already written (``headerregistry.Address.addr_spec``
    quotes a local part that needs it); an address beyond ASCII belongs in a
    message for SMTPUTF8 only, which ``message`` enforces.
    """
    if not name:
        return addr_spec
    return f"{phrase(name, utf8=utf8)} <{addr_spec}>"


def fold(name: str, value: str) -> str:
    """``Name: value`` and its CRLF, folded at spaces so that lines keep within 78 characters.

    Unfolding (removing each CRLF before a space) gives back the line. A
    fold comes only before a word (never leaving a line of white space) and
    never straight after the name: a parser would keep the fold's space at
    the start of the value. So a line is longer than 78 characters only to
    hold one word that is (a long Message-ID, an encoded word after a long
    name), well within the 998 that RFC 5322 allows.
    """
    words = value.split(" ")
    lines: list[str] = []
    line = f"{name}: {words[0]}"
    for word in words[1:]:
        if word and len(line) + 1 + len(word) > LINE:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _parameters(parameters: Iterable[tuple[str, str]]) -> str:
    """``; name="value"`` for each; values are printable ASCII (file names Ilmo made safe)."""
    written = []
    for name, value in parameters:
        if not (value.isascii() and value.isprintable()):
            raise ValueError(f"a {name} parameter beyond printable ASCII")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        written.append(f'; {name}="{quoted}"')
    return "".join(written)


# ------------------------------------------------------------------ bodies


def _base64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (57 octets each), CRLF after each."""
    return b"".join(
        binascii.b2a_base64(data[start : start + 57]).replace(b"\n", _CRLF)
        for start in range(0, len(data), 57)
    )


def text_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body) of ``text`` in UTF-8, with CRLF line ends.

    The stdlib's rule (``email.contentmanager._encode_text`` under a 7bit
    policy): 7bit when the text is ASCII and no line is longer than 78
    octets; otherwise quoted-printable, unless base64 of the first ten lines
    is shorter (a text mostly beyond Latin script). Quoted-printable lines
    keep within 76 characters (RFC 2045), ``=``, trailing white space and a
    lone ``.`` encoded.
    """
    lines = text.encode("utf-8").splitlines()
    body = _CRLF.join(lines) + _CRLF
    if max((len(line) for line in lines), default=0) <= LINE and body.isascii():
        return "7bit", body
    sniff = _CRLF.join(lines[:10]) + _CRLF
    if len(binascii.b2a_qp(sniff, istext=True)) > len(binascii.b2a_base64(sniff)):
        return "base64", _base64(body)
    return "quoted-printable", binascii.b2a_qp(body, istext=True)


def text_part(
    text: str,
    subtype: str,
    *,
    parameters: Sequence[tuple[str, str]] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> Part:
    """``text/<subtype>; charset="utf-8"`` with ``text`` encoded by ``text_body``'s rule."""
    encoding, body = text_body(text)
    content_type = f"text/{subtype}" + _parameters((("charset", "utf-8"), *parameters))
    return Part(content_type, (("Content-Transfer-Encoding", encoding), *headers), body)


def binary_part(
    content: bytes, maintype: str, subtype: str, *, headers: Sequence[tuple[str, str]] = ()
) -> Part:
    """``<maintype>/<subtype>`` in base64."""
    return Part(
        f"{maintype}/{subtype}",
        (("Content-Transfer-Encoding", "base64"), *headers),
        _base64(content),
    )


def disposition(kind: str, filename: str) -> tuple[str, str]:
    """A Content-Disposition header (RFC 2183): ``inline`` or ``attachment``, with the file name."""
    return ("Content-Disposition", kind + _parameters((("filename", filename),)))


# ------------------------------------------------------------------ the message


def _entity(entity: Part | Multipart, *, utf8: bool) -> tuple[list[str], bytes]:
    """(header lines, body) of a part; a multipart's body holds its parts between boundaries."""
    if isinstance(entity, Part):
        lines = [fold("Content-Type", entity.content_type)]
        lines += [fold(name, value) for name, value in entity.headers]
        return lines, entity.body
    parts = [_entity_bytes(part, utf8=utf8) for part in entity.parts]
    boundary = _boundary(parts)
    delimiter = b"--" + boundary.encode("ascii")
    body = delimiter + _CRLF + (_CRLF + delimiter + _CRLF).join(parts)
    body += _CRLF + delimiter + b"--" + _CRLF
    content_type = f"multipart/{entity.subtype}" + _parameters((("boundary", boundary),))
    return [fold("Content-Type", content_type)], body


def _entity_bytes(entity: Part | Multipart, *, utf8: bool) -> bytes:
    lines, body = _entity(entity, utf8=utf8)
    return _header_bytes(lines, utf8=utf8) + _CRLF + body


def _boundary(parts: Sequence[bytes]) -> str:
    """A random boundary in the stdlib's form that none of ``parts`` contains."""
    while True:
        boundary = "=" * 15 + f"{secrets.randbelow(10**19):019d}" + "=="
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary


def _header_bytes(lines: Sequence[str], *, utf8: bool) -> bytes:
    """Header lines as octets: ASCII, or UTF-8 in a message for SMTPUTF8 (RFC 6532)."""
    return "".join(lines).encode("utf-8" if utf8 else "ascii")


def message(headers: Sequence[tuple[str, str]], body: Part | Multipart, *, utf8: bool) -> bytes:
    """The whole message: ``headers`` as given (values already written), MIME-Version, ``body``.

    Raises ``UnicodeEncodeError`` for a header beyond ASCII in a message not
    meant for SMTPUTF8, rather than send what a server may refuse.
    """
    lines = [fold(name, value) for name, value in headers]
    lines.append("MIME-Version: 1.0\r\n")
    entity_lines, entity_body = _entity(body, utf8=utf8)
    return _header_bytes(lines + entity_lines, utf8=utf8) + _CRLF + entity_body

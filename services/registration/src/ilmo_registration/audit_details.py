"""The audit trail's details as codes: what an entry adds to its action, in no person's language.

The trail is read in Finnish, Swedish and English, and exported as CSV and
JSON; so the stored ``detail`` is a code (``kind`` or ``kind:value``) that
each reader's page translates (``console.audit_page``), never prose. A
value is an id, a field or mail name, a number: never personal data.

Entries written before the codes hold the older English words ("without
personal data", "to remote", "from <id>", "version 3", a bare mail kind);
``read`` understands those too, and anything else is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from ilmo_event_contracts import Attendance


class DetailKind(StrEnum):
    WITHOUT_PERSONAL_DATA = "without-personal-data"  # a list without addresses or organisations
    FORMAT = "format"  # an export's file format: csv, xlsx
    TO = "to"  # a switch: the attendance switched to
    MAIL = "mail"  # a mail sent again: its kind
    FROM = "from"  # a duplicate: the event copied
    FIELDS = "fields"  # an event changed: the names of the fields changed
    NOTICE_VERSION = "notice-version"  # a privacy notice put in force: its version
    SWEPT = "swept"  # a retention sweep: events, needs erased, registrations erased
    MESSAGE = "message"  # a message to registrants: its id and audience (its text is kept with it)
    DOOR = "door"  # a check-in at the door: how (qr, search) and what the door was told


@dataclass(frozen=True)
class Detail:
    """A detail read back: its kind and values, or ``raw`` for text no code explains."""

    kind: DetailKind | None
    values: tuple[str, ...] = field(default_factory=tuple)
    raw: str = ""


WITHOUT_PERSONAL_DATA = DetailKind.WITHOUT_PERSONAL_DATA.value


def export_format(name: str) -> str:
    return f"{DetailKind.FORMAT}:{name}"


def switched_to(attendance: Attendance) -> str:
    return f"{DetailKind.TO}:{attendance.value}"


def mail(kind: str) -> str:
    return f"{DetailKind.MAIL}:{kind}"


def duplicated_from(event_id: str) -> str:
    return f"{DetailKind.FROM}:{event_id}"


def fields_changed(names: Iterable[str]) -> str:
    return f"{DetailKind.FIELDS}:{','.join(names)}"


def notice_version(version: str) -> str:
    return f"{DetailKind.NOTICE_VERSION}:{version}"


def swept(events: int, needs_erased: int, registrations_erased: int) -> str:
    return f"{DetailKind.SWEPT}:{events},{needs_erased},{registrations_erased}"


def message_sent(message_id: str, audience: str) -> str:
    return f"{DetailKind.MESSAGE}:{message_id},{audience}"


def check_in(method: str, outcome: str) -> str:
    return f"{DetailKind.DOOR}:{method},{outcome}"


# The English of entries written before the codes (and the bare export formats).
_OLDER: tuple[tuple[re.Pattern[str], DetailKind], ...] = (
    (re.compile(r"without personal data"), DetailKind.WITHOUT_PERSONAL_DATA),
    (re.compile(r"(csv|xlsx)"), DetailKind.FORMAT),
    (
        re.compile(
            r"(confirm_address|registration_received|seat_confirmed|waitlisted|stream_link)"
        ),
        DetailKind.MAIL,
    ),
    (re.compile(r"to (in_person|remote)"), DetailKind.TO),
    (re.compile(r"from (\S+)"), DetailKind.FROM),
    (re.compile(r"version (\S+)"), DetailKind.NOTICE_VERSION),
    (
        re.compile(r"events (\d+), needs erased (\d+), registrations erased (\d+)"),
        DetailKind.SWEPT,
    ),
)
_LISTS = frozenset({DetailKind.FIELDS, DetailKind.SWEPT, DetailKind.MESSAGE, DetailKind.DOOR})
_CODES = frozenset(kind.value for kind in DetailKind)


def read(detail: str) -> Detail:
    """What a stored detail says; ``kind`` None when it is no code (shown as it is)."""
    name, colon, value = detail.partition(":")
    if name in _CODES:
        kind = DetailKind(name)
        if not colon:
            return Detail(kind)
        return Detail(kind, tuple(value.split(",")) if kind in _LISTS else (value,))
    for pattern, older in _OLDER:
        found = pattern.fullmatch(detail)
        if found is not None:
            return Detail(older, found.groups())
    return Detail(None, raw=detail)

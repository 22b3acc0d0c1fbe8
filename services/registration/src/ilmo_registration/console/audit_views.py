"""The audit trail's details in the reader's language.

An entry's ``detail`` is stored as a code (``audit_details``): the page
translates the codes it knows and shows anything else as it is, so that
entries written before the codes, or by a newer version, still read.
"""

from __future__ import annotations

from fastapi import Request

from ilmo_event_contracts import Attendance, Audience
from ilmo_registration import audit_details
from ilmo_registration.audit_details import Detail, DetailKind
from ilmo_registration.console.pages import text
from ilmo_registration.console.registration_views import (
    ATTENDANCE_NAMES,
    AUDIENCE_NAMES,
    MAIL_KINDS,
)
from ilmo_shared.i18n import _

_FORMATS = {"csv": "CSV", "xlsx": "XLSX"}
DOOR_METHODS = {"qr": _("code"), "search": _("name search")}
DOOR_OUTCOMES = {
    "checked_in": _("checked in"),
    "already_checked_in": _("already checked in"),
    "not_registered": _("not registered"),
    "cancelled": _("cancelled"),
    "no_seat": _("no seat"),
}


def detail_text(request: Request, stored: str | None) -> str:
    """What an entry's detail says, for the person reading the trail."""
    if not stored:
        return ""
    detail = audit_details.read(stored)
    found = _known(request, detail)
    return found if found is not None else stored


def _known(request: Request, detail: Detail) -> str | None:
    """The translated text of a detail, or None when its code or value is not one we know."""
    value = detail.values[0] if detail.values else ""
    match detail.kind:
        case DetailKind.WITHOUT_PERSONAL_DATA:
            return text(request, _("without personal data"))
        case DetailKind.FORMAT if value in _FORMATS:
            return text(request, _("file format: %(format)s"), format=_FORMATS[value])
        case DetailKind.TO if value in tuple(Attendance):
            name = text(request, ATTENDANCE_NAMES[Attendance(value)])
            return text(request, _("to: %(attendance)s"), attendance=name)
        case DetailKind.MAIL if value in MAIL_KINDS:
            return text(request, _("mail: %(mail)s"), mail=text(request, MAIL_KINDS[value]))
        case DetailKind.FROM if value:
            return text(request, _("copy of %(event)s"), event=value)
        case DetailKind.FIELDS if value:
            return text(request, _("fields: %(fields)s"), fields=", ".join(detail.values))
        case DetailKind.NOTICE_VERSION if value:
            return text(request, _("version %(version)s"), version=value)
        case DetailKind.MESSAGE if len(detail.values) == 2 and detail.values[1] in tuple(Audience):
            message_id, audience = detail.values
            return text(
                request,
                _("message %(id)s to: %(audience)s"),
                id=message_id,
                audience=text(request, AUDIENCE_NAMES[Audience(audience)]),
            )
        case DetailKind.SWEPT if len(detail.values) == 3:
            events, needs, erased = detail.values
            return text(
                request,
                _(
                    "%(events)s events looked at, needs erased from %(needs)s registrations, "
                    "%(erased)s registrations erased"
                ),
                events=events,
                needs=needs,
                erased=erased,
            )
        case DetailKind.DOOR if len(detail.values) == 2 and detail.values[1] in DOOR_OUTCOMES:
            how, outcome = detail.values
            return text(
                request,
                _("%(how)s: %(outcome)s"),
                how=text(request, DOOR_METHODS.get(how, how)),
                outcome=text(request, DOOR_OUTCOMES[outcome]),
            )
    return None

"""The registration form of the event's page: its fields, read into the API's own request.

The form is validated by the very model the JSON API takes
(``schemas.RegistrationRequest``), so one set of rules holds for both; this
module only reads the form's fields into it and says what a person should
fix, field by field, in words a person understands (gettext messages, shown
in the page's language). What was typed is kept, so the form comes back
filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.schemas import RegistrationRequest
from ilmo_shared.i18n import _

# The fields in the order the form shows them: the error summary's order too.
FIELDS = (
    "first_name",
    "last_name",
    "email",
    "organisation",
    "attendance",
    "language",
    "needs",
    "needs_consent",
)
TEXT_FIELDS = ("first_name", "last_name", "email", "organisation", "needs")
CONSENT_GIVEN = "yes"
NOTICE = "privacy_notice_version"

_REQUIRED = {
    "first_name": _("Enter your first name."),
    "last_name": _("Enter your last name."),
    "email": _("Enter your email address."),
    "attendance": _("Choose whether you take part on site or remotely."),
    "language": _("Choose the language of your messages."),
}
_TOO_LONG = {
    "first_name": _("The first name can be at most 100 characters long."),
    "last_name": _("The last name can be at most 100 characters long."),
    "organisation": _("The organisation can be at most 200 characters long."),
    "needs": _("Describe your needs in at most 500 characters."),
}
_INVALID = {
    "first_name": _("Write the first name on one line."),
    "last_name": _("Write the last name on one line."),
    "email": _("Enter the email address in the form name@example.fi."),
    "organisation": _("Write the organisation on one line."),
    "attendance": _("Choose whether you take part on site or remotely."),
    "language": _("Choose the language of your messages."),
    "needs": _("Check the text of your needs."),
    "needs_consent": _(
        "Tick the box to consent to the processing of your needs, or leave the needs empty."
    ),
}
NOTICE_MISSING = _("Read the privacy notice below and send the form again.")
CONSENT_MISSING = _INVALID["needs_consent"]


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one field: ``field`` is its name, ``message`` a gettext message."""

    field: str
    message: str

    @property
    def target(self) -> str:
        """The id of the element the error summary links to (a group's first choice)."""
        if self.field == "attendance":
            return f"attendance-{Attendance.IN_PERSON.value}"
        if self.field == "language":
            return f"language-{Language.FI.value}"
        if self.field == NOTICE:
            return "privacy-notice"
        return self.field


@dataclass(frozen=True)
class FormInput:
    """What the person typed and chose, as the form shows it again."""

    values: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    @property
    def consent(self) -> bool:
        return self.values.get("needs_consent") == CONSENT_GIVEN


@dataclass(frozen=True)
class Submission:
    """The form read: the request the use case takes, or the errors to show."""

    input: FormInput
    request: RegistrationRequest | None
    errors: list[FieldError]


def read(fields: Mapping[str, str]) -> Submission:
    """The form's fields as the API's request, or every error found, in the form's order."""
    values = {name: fields[name] for name in (*FIELDS, NOTICE) if name in fields}
    form = FormInput(values)
    data: dict[str, object] = {name: values[name] for name in TEXT_FIELDS if name in values}
    for choice in ("attendance", "language"):
        if values.get(choice):
            data[choice] = values[choice]
    data["needs_consent"] = form.consent
    data[NOTICE] = values.get(NOTICE, "")
    try:
        request = RegistrationRequest.model_validate(data)
    except ValidationError as error:
        return Submission(form, None, errors_of(error, values))
    return Submission(form, request, [])


def errors_of(error: ValidationError, values: Mapping[str, str]) -> list[FieldError]:
    """One message per field at fault, in the form's order; an empty field is a missing one."""
    found: dict[str, FieldError] = {}
    for fault in error.errors():
        name = str(fault["loc"][0]) if fault["loc"] else NOTICE
        kind = "missing" if not values.get(name, "").strip() else fault["type"]
        if name not in found:
            found[name] = FieldError(name, _message(name, kind))
    order = {name: index for index, name in enumerate((*FIELDS, NOTICE))}
    return sorted(found.values(), key=lambda fault: order.get(fault.field, len(order)))


def _message(name: str, kind: str) -> str:
    if name == NOTICE:
        return NOTICE_MISSING
    if kind in ("missing", "string_too_short") and name in _REQUIRED:
        return _REQUIRED[name]
    if kind == "string_too_long" and name in _TOO_LONG:
        return _TOO_LONG[name]
    return _INVALID.get(name, _INVALID["needs"])

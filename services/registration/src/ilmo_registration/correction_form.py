"""The manage page's correction form, read into the JSON API's own correction request.

As with the registration form (``registration_form``), the rules are the
API's: the form's fields are validated by ``schemas.DetailsChangeRequest``
and every error is said in a person's words, next to its field. The form
always sends every field; what matters is what differs from what is stored.
Needs sent back unchanged are left out of the request, so the consent box
is asked for only when the needs are new (GDPR Art. 9(2)(a)); emptied needs
erase them and withdraw the consent, as the API's ``null`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from ilmo_registration.domain import Details
from ilmo_registration.registration_form import (
    CONSENT_GIVEN,
    CONSENT_MISSING,
    FieldError,
    FormInput,
    errors_of,
)
from ilmo_registration.schemas import DetailsChangeRequest

# The fields in the order the form shows them.
FIELDS = ("first_name", "last_name", "organisation", "language", "needs", "needs_consent")


@dataclass(frozen=True)
class Correction:
    """The form read: the request the use case takes, or the errors to show."""

    input: FormInput
    request: DetailsChangeRequest | None
    errors: list[FieldError]


def filled_in(details: Details) -> FormInput:
    """The form as it first shows: what is stored now."""
    return FormInput(
        {
            "first_name": details.first_name,
            "last_name": details.last_name,
            "organisation": details.organisation or "",
            "language": details.language.value,
            "needs": details.needs or "",
        }
    )


def read(fields: Mapping[str, str], stored: Details) -> Correction:
    """The form's fields as the API's request, or every error found, in the form's order."""
    values = {name: fields[name] for name in FIELDS if name in fields}
    form = FormInput(values)
    data: dict[str, object] = {
        name: values.get(name, "") for name in ("first_name", "last_name", "organisation")
    }
    if values.get("language"):
        data["language"] = values["language"]
    needs = values.get("needs", "").strip()
    if needs != (stored.needs or ""):
        data["needs"] = needs or None
        data["needs_consent"] = values.get("needs_consent") == CONSENT_GIVEN
    try:
        request = DetailsChangeRequest.model_validate(data)
    except ValidationError as error:
        return Correction(form, None, errors_of(error, values))
    return Correction(form, request, [])


def consent_missing(correction: Correction) -> Correction:
    """The form again, saying the new needs need the consent box ticked."""
    error = FieldError("needs_consent", CONSENT_MISSING)
    return Correction(correction.input, None, [error])

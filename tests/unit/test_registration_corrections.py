"""Correcting one's details (GDPR Art. 16), the rule without I/O, and its JSON input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import (
    UNCHANGED,
    Cancelled,
    Details,
    DetailsChanges,
    Erased,
    EventEnded,
    NeedsChange,
    NeedsWithoutConsent,
    RegistrationState,
    decide_correction,
)
from ilmo_registration.schemas import DetailsChangeRequest

NOW = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
ENDS_AT = NOW + timedelta(days=10)
ACTIVE = RegistrationState(event_id="seminar", attendance=Attendance.IN_PERSON)
CURRENT = Details(
    first_name="Matti",
    last_name="Meikäläinen",
    organisation="Esimerkkikunta",
    language=Language.FI,
    needs=None,
)


def test_a_new_name_and_language_are_shared_with_the_other_services() -> None:
    changes = DetailsChanges(first_name="Mats", language=Language.SV)
    correction = decide_correction(ACTIVE, CURRENT, changes, ENDS_AT, NOW)
    assert correction.details == Details("Mats", "Meikäläinen", "Esimerkkikunta", Language.SV, None)
    assert (correction.shared, correction.needs, correction.anything) == (
        True,
        NeedsChange.NONE,
        True,
    )


def test_the_organisation_can_be_cleared() -> None:
    correction = decide_correction(ACTIVE, CURRENT, DetailsChanges(organisation=None), ENDS_AT, NOW)
    assert correction.details.organisation is None
    assert correction.shared


def test_a_correction_that_changes_nothing_is_nothing() -> None:
    same = DetailsChanges(first_name="Matti", language=Language.FI, organisation="Esimerkkikunta")
    for changes in (DetailsChanges(), same):
        correction = decide_correction(ACTIVE, CURRENT, changes, ENDS_AT, NOW)
        assert correction.details == CURRENT
        assert not correction.anything


def test_new_needs_need_consent_and_stay_out_of_what_is_shared() -> None:
    with pytest.raises(NeedsWithoutConsent):
        decide_correction(ACTIVE, CURRENT, DetailsChanges(needs="Pyörätuoli"), ENDS_AT, NOW)
    consented = DetailsChanges(needs="Pyörätuoli", needs_consent=True)
    correction = decide_correction(ACTIVE, CURRENT, consented, ENDS_AT, NOW)
    assert correction.details.needs == "Pyörätuoli"
    assert (correction.shared, correction.needs) == (False, NeedsChange.CONSENTED)


def test_clearing_needs_needs_no_consent_and_withdraws_it() -> None:
    with_needs = Details("Matti", "Meikäläinen", None, Language.FI, "Pyörätuoli")
    correction = decide_correction(ACTIVE, with_needs, DetailsChanges(needs=None), ENDS_AT, NOW)
    assert correction.details.needs is None
    assert correction.needs is NeedsChange.CLEARED
    assert not correction.shared


@pytest.mark.parametrize(
    ("state", "refusal"),
    [
        (RegistrationState("seminar", Attendance.REMOTE, erased=True), Erased),
        (RegistrationState("seminar", Attendance.REMOTE, cancelled=True, erased=True), Erased),
        (RegistrationState("seminar", Attendance.REMOTE, cancelled=True), Cancelled),
        (RegistrationState("seminar", Attendance.REMOTE, expired=True), Cancelled),
    ],
)
def test_cancelled_and_erased_registrations_are_not_corrected(
    state: RegistrationState, refusal: type[Exception]
) -> None:
    with pytest.raises(refusal):
        decide_correction(state, CURRENT, DetailsChanges(first_name="Mats"), ENDS_AT, NOW)


def test_details_are_corrected_until_the_event_ends_also_while_pending() -> None:
    pending = RegistrationState("seminar", Attendance.IN_PERSON, pending=True)
    changes = DetailsChanges(last_name="Virtanen")
    before_end = ENDS_AT - timedelta(milliseconds=1)
    assert decide_correction(pending, CURRENT, changes, ENDS_AT, before_end).shared
    with pytest.raises(EventEnded):
        decide_correction(ACTIVE, CURRENT, changes, ENDS_AT, ENDS_AT)


def test_the_request_gives_only_the_fields_it_names() -> None:
    changes = DetailsChangeRequest.model_validate(
        {"first_name": "  Mats ", "organisation": " ", "language": "sv"}
    ).changes()
    assert changes == DetailsChanges(
        first_name="Mats", organisation=None, language=Language.SV, needs=UNCHANGED
    )
    assert DetailsChangeRequest.model_validate({}).changes() == DetailsChanges()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": "Ma\ntti"}, "first_name"),
        ({"language": "de"}, "language"),
        ({"needs": "Pyörätuoli"}, "needs_consent"),
        ({"email": "uusi@example.fi"}, "email"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DetailsChangeRequest.model_validate(body)
    assert {str(error["loc"][0]) for error in raised.value.errors()} == {field}

"""The HTTP layer's pure parts: input models, error shapes, tokens, the CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.api import problem_for
from ilmo_registration.catalogue import Violation
from ilmo_registration.domain import (
    EventExists,
    EventStarted,
    InvalidEvent,
    NoFreeEventId,
    NotFound,
    Refused,
    RegistrationClosed,
    Status,
)
from ilmo_registration.export import neutralise, registrations_csv
from ilmo_registration.schemas import (
    EventFields,
    EventPatch,
    RegistrationRequest,
    RegistrationSummary,
)
from ilmo_registration.security import manage_token_matches, new_manage_token, token_digest
from ilmo_shared.http.problems import field_errors
from ilmo_shared.storage import ConcurrentChangeError
from tests.support.registration import event_payload, registration_payload


def errors_of(model: type[Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return [(e.field, e.message) for e in field_errors(raised.value.errors())]


def test_registration_input_is_trimmed_and_blank_optionals_are_absent() -> None:
    request = RegistrationRequest.model_validate(
        registration_payload(
            first_name="  Aino ",
            email="  Aino.Aalto@Example.FI ",
            organisation="   ",
            needs=" \n ",
        )
    )
    assert request.first_name == "Aino"
    assert str(request.email) == "Aino.Aalto@example.fi"
    assert request.organisation is None
    assert request.needs is None


def test_registration_input_errors_name_the_fields() -> None:
    errors = dict(
        errors_of(
            RegistrationRequest,
            registration_payload(needs="x" * 501, extra="field", language="de"),
        )
    )
    assert "500" in errors["needs"]
    assert errors["extra"] == "unknown field"
    assert "language" in errors
    assert "ada@example.fi" not in str(errors)


def test_needs_are_taken_only_with_explicit_consent() -> None:
    errors = dict(errors_of(RegistrationRequest, registration_payload(needs="Pyörätuoli")))
    assert errors == {"needs_consent": "needs are processed only with needs_consent: true"}
    consented = registration_payload(needs="Pyörätuoli", needs_consent=True)
    assert RegistrationRequest.model_validate(consented).registrant().needs == "Pyörätuoli"
    # Consent without needs is no error: there is simply nothing to consent to.
    assert RegistrationRequest.model_validate(registration_payload(needs_consent=True))


def test_needs_may_span_lines_but_names_may_not() -> None:
    multiline = registration_payload(needs="a\nb", needs_consent=True)
    assert RegistrationRequest.model_validate(multiline).needs == "a\nb"
    assert [
        f for f, _ in errors_of(RegistrationRequest, registration_payload(last_name="a\rb"))
    ] == ["last_name"]


def test_errors_are_located_by_json_path_without_the_body_prefix() -> None:
    raw = [
        {"type": "missing", "loc": ("body", "venue", "address"), "msg": "Field required"},
        {"type": "value_error", "loc": ("body", "agenda", 0, "ends_at"), "msg": "Value error, bad"},
        {"type": "json_invalid", "loc": ("body", 17), "msg": "JSON decode error"},
        {"type": "missing", "loc": ("body",), "msg": "Field required"},
        {"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be …"},
    ]
    assert [(e.field, e.message) for e in field_errors(raw)] == [
        ("venue.address", "field required"),
        ("agenda.0.ends_at", "bad"),
        ("body", "body is not valid JSON"),
        ("body", "field required"),
        ("body", "body must be a JSON object (Content-Type: application/json)"),
    ]


OPENS = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("refusal", "status", "slug", "detail"),
    [
        (NotFound(), 404, "not-found", None),
        (EventExists("seminar"), 409, "event-exists", "The id seminar is taken."),
        (NoFreeEventId(), 409, "conflict", "Try again."),
        (ConcurrentChangeError("events/seminar"), 409, "conflict", "Try again."),
        (
            RegistrationClosed(opens_at=OPENS),
            409,
            "registration-closed",
            "Registration opens at 2026-09-01T09:00:00+00:00.",
        ),
        (
            RegistrationClosed(closed_at=OPENS),
            409,
            "registration-closed",
            "Registration closed at 2026-09-01T09:00:00+00:00.",
        ),
        (
            EventStarted(),
            409,
            "event-started",
            "A registration can be cancelled only until the event starts.",
        ),
    ],
)
def test_each_refusal_is_answered_with_its_problem(
    refusal: Refused | ConcurrentChangeError, status: int, slug: str, detail: str | None
) -> None:
    problem = problem_for(refusal)
    assert (problem.status, problem.slug, problem.detail) == (status, slug, detail)


def test_an_invalid_event_names_every_field_at_fault() -> None:
    problem = problem_for(InvalidEvent([Violation("ends_at", "must be after starts_at")]))
    assert (problem.status, problem.slug) == (422, "validation")
    assert [(e.field, e.message) for e in problem.errors] == [
        ("ends_at", "must be after starts_at")
    ]


def test_a_patch_replaces_the_given_fields_and_keeps_the_rest() -> None:
    current = EventFields.model_validate({k: v for k, v in event_payload().items() if k != "id"})
    patch = EventPatch.model_validate({"in_person_capacity": 5, "description": None})
    merged = patch.applied_to(current.to_spec())
    assert merged.in_person_capacity == 5
    assert merged.description is None
    assert merged.title == current.title
    assert merged.agenda == current.agenda
    again = EventPatch().applied_to(merged.to_spec())
    assert again.to_spec() == merged.to_spec()


def test_the_stream_window_is_optional_and_bounded() -> None:
    base = {k: v for k, v in event_payload().items() if k != "id"}
    spec = EventFields.model_validate(base).to_spec()
    assert (spec.stream_opens_minutes_before, spec.stream_closes_minutes_after) == (30, 120)
    given = EventFields.model_validate(
        {**base, "stream_opens_minutes_before": 0, "stream_closes_minutes_after": 1440}
    ).to_spec()
    assert (given.stream_opens_minutes_before, given.stream_closes_minutes_after) == (0, 1440)
    assert EventPatch().applied_to(given).to_spec() == given

    for value in (-1, 1441, "30", 30.5, True, None):
        for name in ("stream_opens_minutes_before", "stream_closes_minutes_after"):
            assert [f for f, _ in errors_of(EventFields, {**base, name: value})] == [name], value
    errors = dict(errors_of(EventPatch, {"stream_closes_minutes_after": 1441}))
    assert "1440" in errors["stream_closes_minutes_after"]


def test_a_patch_may_change_the_stream_window_alone() -> None:
    current = EventFields.model_validate({k: v for k, v in event_payload().items() if k != "id"})
    patch = EventPatch.model_validate({"stream_opens_minutes_before": 45})
    merged = patch.applied_to(current.to_spec())
    assert (merged.stream_opens_minutes_before, merged.stream_closes_minutes_after) == (45, 120)
    # null is not "back to the default": the field must be a number of minutes.
    cleared = EventPatch.model_validate({"stream_closes_minutes_after": None})
    with pytest.raises(ValidationError) as raised:
        cleared.applied_to(current.to_spec())
    assert [e.field for e in field_errors(raised.value.errors())] == ["stream_closes_minutes_after"]


def test_manage_tokens_are_random_and_only_their_digest_is_kept() -> None:
    token, digest = new_manage_token()
    assert len(token) >= 43
    assert token != new_manage_token()[0]
    assert digest == hashlib.sha256(token.encode()).hexdigest() == token_digest(token)
    assert manage_token_matches(token, digest)
    assert not manage_token_matches(token + "x", digest)
    assert not manage_token_matches(token, None)
    assert not manage_token_matches(None, digest)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+358401234567", "'+358401234567"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        (" =1", "' =1"),
        ("Matti", "Matti"),
        ("Anna-Liisa", "Anna-Liisa"),
        ("", ""),
    ],
)
def test_spreadsheet_formulas_are_neutralised(cell: str, shown: str) -> None:
    assert neutralise(cell) == shown


def test_the_csv_has_a_header_and_one_row_per_registration() -> None:
    row = RegistrationSummary(
        id=uuid.uuid4(),
        event_id="ministry-seminar",
        status=Status.WAITLISTED,
        waitlist_position=2,
        stream_link_provisioned=False,
        attendance=Attendance.IN_PERSON,
        language=Language.SV,
        first_name="Åsa",
        last_name="=Öhman",
        email="asa@example.fi",
        organisation=None,
        needs=None,
        registered_at=datetime(2026, 9, 1, tzinfo=UTC),
        cancelled_at=None,
    )
    text = registrations_csv([row])
    assert text.startswith("\ufeff")
    [parsed] = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert parsed["first_name"] == "Åsa"
    assert parsed["last_name"] == "'=Öhman"
    assert parsed["waitlist_position"] == "2"
    assert parsed["stream_link_provisioned"] == "false"
    assert parsed["organisation"] == ""
    assert parsed["status"] == "waitlisted"

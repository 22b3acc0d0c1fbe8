"""Integration events: their own contracts, each internal event's form for outside systems.

No integration event may carry personal data: every field of every model
(nested ones included) is checked against a deny-list of names, and every
free-text field against a short allow-list, so that a field added later
fails here first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from ilmo_event_contracts import (
    EVENT_TYPES,
    Attendance,
    AttendanceCheckedIn,
    CheckInMethod,
    Envelope,
    ErasureReason,
    Language,
    NotificationKind,
    NotificationSent,
    RegistrationAccepted,
    RegistrationAttendanceChanged,
    RegistrationCancelled,
    RegistrationErased,
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamJoined,
    StreamLinkProvisioned,
    StreamLinkRevoked,
    WaitlistLeft,
    events,
    integration,
)
from ilmo_event_contracts.integration import (
    BUILT_BY_PRODUCER,
    INTEGRATION_EVENT_TYPES,
    INTERNAL_ONLY,
    IntegrationEvent,
    integration_form,
)
from ilmo_shared.logging import correlation_scope
from ilmo_shared.outbox import EXCHANGE_FIELD, integration_envelope_id, outbox_entries

# Field names that name personal data or links, or that may hold free text.
DENIED = {
    "name",
    "first_name",
    "last_name",
    "email",
    "organisation",
    "needs",
    "url",
    "stream_url",
    "manage_url",
    "manage_link",
    "watch_url",
    "link",
    "reason",
    "message_id",
    "address",
    "speakers",
    "title",
    "description",
}
# The only string fields without a format or an enumeration: neither is personal.
FREE_TEXT_ALLOWED = {"event_id", "timezone"}

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
RID = uuid.UUID("7d1f6c1e-3b8a-4e0c-9a53-1f2e3d4c5b6a")


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of ``model`` and of the models its fields hold, however deep."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for candidate in _types_in(info.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names |= field_names(candidate)
    return names


def _types_in(annotation: Any) -> list[Any]:
    arguments = getattr(annotation, "__args__", None)
    if not arguments:
        return [annotation]
    return [t for argument in arguments for t in _types_in(argument)]


@pytest.mark.parametrize("model", sorted(INTEGRATION_EVENT_TYPES.values(), key=str))
def test_no_integration_event_has_a_personal_field(model: type[IntegrationEvent]) -> None:
    assert field_names(model) & DENIED == set()


@pytest.mark.parametrize("model", sorted(INTEGRATION_EVENT_TYPES.values(), key=str))
def test_no_integration_event_has_free_text_beyond_ids(model: type[IntegrationEvent]) -> None:
    schema = model.model_json_schema(mode="serialization")
    free_text = {
        name
        for name, field in schema["properties"].items()
        if field.get("type") == "string" and "format" not in field and "enum" not in field
    }
    assert free_text <= FREE_TEXT_ALLOWED


def test_integration_events_are_their_own_contracts() -> None:
    for event_type, model in INTEGRATION_EVENT_TYPES.items():
        assert model.model_config.get("frozen") is True
        assert model.model_config.get("extra") == "ignore"
        assert model.dataschema() == f"urn:ilmo:schema:integration:{event_type}:v1"
        internal = EVENT_TYPES.get(event_type)
        if internal is not None:
            assert not issubclass(model, internal)
            assert not issubclass(internal, model)
            assert internal.dataschema() != model.dataschema()


def test_every_internal_event_type_has_an_integration_form() -> None:
    # Same routing key for the same fact; event.withdrawn is only for outside systems,
    # unconfirmed, repeated and expired registrations, requests for a manage link and
    # corrected details (personal data) only for Ilmo's services.
    internal_only = {cls.event_type for cls in INTERNAL_ONLY}
    assert internal_only == {
        "registration.submitted",
        "registration.repeated",
        "registration.manage_link_requested",
        "registration.expired",
        "registration.details_changed",
        "message.requested",
    }
    assert set(EVENT_TYPES) - internal_only <= set(INTEGRATION_EVENT_TYPES)
    assert not internal_only & set(INTEGRATION_EVENT_TYPES)
    assert set(INTEGRATION_EVENT_TYPES) - set(EVENT_TYPES) == {"event.withdrawn"}


ACCEPTED = RegistrationAccepted(
    registration_id=RID,
    event_id="seminar-2026",
    attendance=Attendance.IN_PERSON,
    language=Language.SV,
    first_name="Maija",
    last_name="Meikäläinen",
    email="maija@example.fi",
    organisation="Valtiovarainministeriö",
    registered_at=NOW,
)
SAMPLES = [
    ACCEPTED,
    RegistrationCancelled(
        registration_id=RID,
        event_id="seminar-2026",
        attendance=Attendance.REMOTE,
        cancelled_at=NOW,
    ),
    RegistrationAttendanceChanged(
        registration_id=RID,
        event_id="seminar-2026",
        attendance=Attendance.REMOTE,
        attendance_version=2,
        changed_at=NOW,
    ),
    RegistrationErased(
        registration_id=RID,
        event_id="seminar-2026",
        erased_at=NOW,
        erasure_reason=ErasureReason.REQUEST,
    ),
    SeatReserved(registration_id=RID, event_id="seminar-2026", promoted=True, reserved_at=NOW),
    SeatWaitlisted(registration_id=RID, event_id="seminar-2026", position=3, waitlisted_at=NOW),
    SeatReleased(registration_id=RID, event_id="seminar-2026", released_at=NOW),
    WaitlistLeft(registration_id=RID, event_id="seminar-2026", left_at=NOW),
    StreamLinkProvisioned(
        registration_id=RID,
        event_id="seminar-2026",
        url="https://stream.example.fi/watch/secret-token",
        valid_from=NOW,
        valid_until=NOW,
    ),
    StreamLinkRevoked(registration_id=RID, event_id="seminar-2026", revoked_at=NOW),
    AttendanceCheckedIn(
        registration_id=RID,
        event_id="seminar-2026",
        checked_in_at=NOW,
        method=CheckInMethod.QR,
    ),
    StreamJoined(registration_id=RID, event_id="seminar-2026", joined_at=NOW),
    NotificationSent(
        registration_id=RID,
        event_id="seminar-2026",
        kind=NotificationKind.SEAT_CONFIRMED,
        message_id="<abc@mail.example.fi>",
        sent_at=NOW,
    ),
]


def test_the_samples_cover_every_type_not_built_by_its_producer() -> None:
    covered = {type(sample) for sample in SAMPLES} | set(BUILT_BY_PRODUCER) | set(INTERNAL_ONLY)
    assert covered == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_the_integration_form_keeps_the_fact_and_drops_what_is_personal(
    event: events.InternalEvent,
) -> None:
    form = integration_form(event)
    assert form.event_type == event.event_type
    assert form.subject() == event.subject()
    body = form.model_dump_json()
    for private in ("Maija", "Meikäläinen", "example.fi", "ministeriö", "secret-token"):
        assert private not in body
    # Everything it keeps, it keeps as it was.
    internal = event.model_dump(mode="json")
    assert all(internal[name] == value for name, value in form.model_dump(mode="json").items())


def test_a_registration_keeps_its_attendance_and_language() -> None:
    form = integration_form(ACCEPTED)
    assert isinstance(form, integration.RegistrationAccepted)
    assert (form.attendance, form.language) == (Attendance.IN_PERSON, Language.SV)


def test_types_whose_producer_knows_more_have_no_form_made_from_the_event_alone() -> None:
    failed = events.NotificationFailed(
        registration_id=RID,
        event_id="seminar-2026",
        kind=NotificationKind.SEAT_CONFIRMED,
        reason="550 5.1.1 <maija@example.fi>: Recipient address rejected",
        failed_at=NOW,
    )
    with pytest.raises(ValueError, match=r"notification\.failed"):
        integration_form(failed)


# ------------------------------------------------------------ the outbox entries


def test_one_fact_is_two_entries_one_per_exchange_with_related_ids() -> None:
    with correlation_scope("request-1"):
        internal, public = outbox_entries(
            ACCEPTED, integration_form(ACCEPTED), source="ilmo/registration", envelope_id="e-1"
        )
    assert EXCHANGE_FIELD not in internal  # internal: read as ilmo.internal
    assert public[EXCHANGE_FIELD] == "ilmo.events"
    first = Envelope.model_validate(internal["envelope"])
    second = Envelope.model_validate(public["envelope"])
    assert first.id == "e-1"
    assert second.id == integration_envelope_id("e-1") != first.id
    assert integration_envelope_id("e-1") == integration_envelope_id("e-1")  # kept on republish
    assert (second.source, second.time, second.type) == (first.source, first.time, first.type)
    assert second.correlationid == first.correlationid == "request-1"
    assert second.subject == first.subject
    assert second.dataschema == "urn:ilmo:schema:integration:registration.accepted:v1"
    assert "maija@example.fi" in internal["data"]
    assert "maija" not in public["data"].lower()


def test_a_fact_without_an_integration_form_is_one_internal_entry() -> None:
    [entry] = outbox_entries(ACCEPTED, None, source="ilmo/registration")
    assert EXCHANGE_FIELD not in entry
    assert entry["envelope"]["type"] == "registration.accepted"

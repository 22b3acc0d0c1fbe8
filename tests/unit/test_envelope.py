"""The CloudEvents envelope survives the trip through AMQP headers, and bad ones are named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ilmo_event_contracts import Envelope, EnvelopeError, RegistrationAccepted


def test_new_envelopes_have_unique_ids_and_utc_time() -> None:
    first = Envelope.new(source="ilmo/registration", type="registration.accepted")
    second = Envelope.new(source="ilmo/registration", type="registration.accepted")
    assert first.id != second.id
    assert first.time.tzinfo is not None
    assert first.specversion == "1.0"
    assert first.datacontenttype == "application/json"


def test_headers_round_trip_keeps_every_attribute() -> None:
    envelope = Envelope.new(
        source="ilmo/registration",
        type="registration.accepted",
        subject="4f1c",
        dataschema=RegistrationAccepted.dataschema(),
        correlationid="req-1",
    )
    headers = envelope.to_headers()
    assert headers["cloudEvents:id"] == envelope.id
    assert headers["cloudEvents:specversion"] == "1.0"
    assert Envelope.from_headers(headers) == envelope


def test_bytes_header_values_are_read_as_text() -> None:
    envelope = Envelope.new(source="ilmo/capacity", type="seat.reserved")
    headers = {name: str(value).encode() for name, value in envelope.to_headers().items()}
    assert Envelope.from_headers(headers) == envelope


def test_absent_optional_attributes_are_not_sent() -> None:
    headers = Envelope.new(source="ilmo/capacity", type="seat.reserved").to_headers()
    assert "cloudEvents:subject" not in headers
    assert "cloudEvents:correlationid" not in headers


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (None, "no headers"),
        ({"other": "x"}, "specversion"),
        ({"cloudEvents:specversion": "0.3", "cloudEvents:id": "1"}, "specversion"),
        (
            {"cloudEvents:specversion": "1.0", "cloudEvents:id": "1", "cloudEvents:type": "x"},
            "source",
        ),
        (
            {
                "cloudEvents:specversion": "1.0",
                "cloudEvents:id": "1",
                "cloudEvents:source": "s",
                "cloudEvents:type": "t",
                "cloudEvents:time": "not a time",
            },
            "time",
        ),
    ],
)
def test_malformed_envelopes_are_rejected_with_the_attribute_named(
    headers: dict[str, str] | None, reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_headers(headers)


def test_event_schema_uri_carries_type_and_version() -> None:
    assert RegistrationAccepted.dataschema() == "urn:ilmo:schema:registration.accepted:v1"


def test_events_ignore_unknown_fields_for_additive_changes() -> None:
    body = {
        "registration_id": "6f0a7d4e-8a44-4a53-9d36-0d0c9f7c2a11",
        "event_id": "seminar",
        "attendance": "remote",
        "language": "fi",
        "first_name": "Åsa",
        "last_name": "Öhman",
        "email": "asa@example.fi",
        "registered_at": datetime(2026, 11, 27, tzinfo=UTC).isoformat(),
        "field_from_a_later_minor_change": True,
    }
    event = RegistrationAccepted.model_validate(body)
    assert event.subject() == body["registration_id"]
    assert "field_from_a_later_minor_change" not in event.model_dump()

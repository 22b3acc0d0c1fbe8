"""The registration API's OpenAPI document says what the service does.

The end-to-end schemathesis run (tests/e2e/test_api_fuzzing.py) holds the
service to the document; these tests hold the document's own statements to
the code without a running service: each text pattern admits exactly what
the validators accept, the links lead to operations that exist, public
operations say that a token is optional, and every API operation lists the
answers the shared plumbing gives.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from ilmo_registration import openapi
from ilmo_registration.catalogue import TIMEZONE_NAME, is_https_url
from ilmo_registration.openapi_links import LINKS
from ilmo_registration.schemas import (
    DetailsChangeRequest,
    Email,
    Line100,
    OptionalLine200,
    OptionalText500,
    OptionalUrl,
    RegistrationRequest,
    StreamUrl,
    Text500,
    Timezone,
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(openapi.rendered()))


# Letters, the whitespace each trim removes or keeps, controls, separators and
# the marks of a URL: where the patterns and the validators could disagree.
_CHARACTERS = st.sampled_from(
    [
        *"aZ0é ",
        *"\t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u2028\u2029\u3000\ufeff",
        *"\x00\x07\x7f\x9f\u00ad",
        *"/?#@:[]",
        "https://",
        "HTTPS://",
        "http://",
        "Europe/Helsinki",
    ]
)
_TEXTS = st.lists(_CHARACTERS, max_size=12).map("".join)


def _accepts(kind: Any, value: str) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


def _pattern(kind: Any) -> re.Pattern[str]:
    schema = TypeAdapter(kind).json_schema()
    string = next(branch for branch in schema.get("anyOf", [schema]) if "pattern" in branch)
    return re.compile(string["pattern"])


@pytest.mark.parametrize("kind", [Line100, OptionalLine200, Text500, OptionalText500], ids=str)
@settings(max_examples=400, derandomize=True, database=None)
@given(value=_TEXTS)
def test_a_text_pattern_admits_what_its_validators_accept(kind: Any, value: str) -> None:
    # Short texts: the lengths are maxLength's to state, checked apart.
    assert bool(_pattern(kind).fullmatch(value)) == _accepts(kind, value), repr(value)


@settings(max_examples=400, derandomize=True, database=None)
@given(value=_TEXTS)
def test_the_time_zone_pattern_admits_what_the_catalogue_takes_for_a_name(value: str) -> None:
    # Whether the zone exists is the time zone database's to say, not the document's.
    named = _accepts(Timezone, value) and re.fullmatch(
        TIMEZONE_NAME, TypeAdapter(Timezone).validate_python(value)
    )
    assert bool(_pattern(Timezone).fullmatch(value)) == bool(named), repr(value)


@settings(max_examples=600, derandomize=True, database=None)
@given(value=_TEXTS)
def test_the_url_pattern_admits_what_the_catalogue_accepts(value: str) -> None:
    def accepted(kind: Any) -> bool:
        if not _accepts(kind, value):
            return False
        parsed = TypeAdapter(kind).validate_python(value)
        return parsed is None or is_https_url(parsed)

    for kind in (StreamUrl, OptionalUrl):
        assert bool(_pattern(kind).fullmatch(value)) == accepted(kind), (kind, repr(value))


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("http://127.0.0.1:8090/hls/briefing/index.m3u8", True),
        ("HTTP://LOCALHOST/x", True),
        ("http://localhost", True),
        (" http://user@127.0.0.1:8090/x ", True),
        ("http://127.0.0.1:8090@evil.example/x", False),
        ("http://127.0.0.1.evil.example/x", False),
        ("http://[::1]/x", False),
        ("http://stream.example.fi/x", False),
        ("https://stream.example.fi/x", True),
    ],
)
def test_plain_http_is_taken_to_this_machine_only(value: str, taken: bool) -> None:
    parsed = TypeAdapter(StreamUrl).validate_python(value)
    assert is_https_url(parsed) is taken, value
    for kind in (StreamUrl, OptionalUrl):
        assert bool(_pattern(kind).fullmatch(value)) is taken, (kind, value)


@pytest.mark.parametrize(
    ("address", "taken"),
    [("maija@example.fi", True), ("maija@kunta.TEST", False), ("maija@host.local", False)],
)
def test_the_document_leaves_out_the_addresses_the_service_refuses(
    address: str, taken: bool
) -> None:
    refused = RegistrationRequest.model_json_schema()["properties"]["email"]["not"]["pattern"]
    assert (re.search(refused, address) is None) == taken == _accepts(Email, address)


@pytest.mark.parametrize("model", [RegistrationRequest, DetailsChangeRequest])
@pytest.mark.parametrize(
    ("needs", "consent", "accepted"),
    [("Pyörätuoli", True, True), ("Pyörätuoli", False, False), (" \x1c", False, True)],
)
def test_needs_need_the_consent_in_the_document_as_in_the_model(
    model: Any, needs: str, consent: bool, accepted: bool
) -> None:
    rule = model.model_json_schema()
    assert rule["then"] == {
        "properties": {"needs_consent": {"const": True}},
        "required": ["needs_consent"],
    }
    given_needs = re.search(rule["if"]["properties"]["needs"]["pattern"], needs) is not None
    assert (consent or not given_needs) == accepted
    fields = {"needs": needs, "needs_consent": consent}
    if model is RegistrationRequest:
        fields |= {
            "first_name": "Maija",
            "last_name": "Virtanen",
            "email": "maija@example.fi",
            "attendance": "remote",
            "language": "fi",
            "privacy_notice_version": "0123456789abcdef",
        }
    try:
        model.model_validate(fields)
    except ValidationError:
        assert not accepted
    else:
        assert accepted


def test_every_link_leads_to_an_operation_with_the_parameters_it_fills(
    document: dict[str, Any],
) -> None:
    operations = {
        operation["operationId"]: operation
        for methods in document["paths"].values()
        for operation in methods.values()
    }
    declared = 0
    for methods in document["paths"].values():
        for operation in methods.values():
            for answer in operation["responses"].values():
                for name, link in answer.get("links", {}).items():
                    declared += 1
                    target = operations[link["operationId"]]
                    names = {parameter["name"] for parameter in target.get("parameters", [])}
                    assert set(link["parameters"]) <= names, name
    assert declared == len(LINKS)


def test_schemathesis_reads_every_operation_and_follows_every_link(
    document: dict[str, Any],
) -> None:
    # As the end-to-end run reads it: the document's own links only.
    config = SchemathesisConfig.from_dict(
        {"cache": {"enabled": False}, "phases": {"stateful": {"inference": {"algorithms": []}}}}
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    assert all(isinstance(result, Ok) for result in schema.get_all_operations())
    assert schema.statistic.transitions.total == len(LINKS)


def test_public_operations_say_that_a_token_is_optional(document: dict[str, Any]) -> None:
    for path in ("/api/v1/events", "/api/v1/events/{event_id}"):
        assert document["paths"][path]["get"]["security"] == [{}, {"bearer": []}], path
    assert document["paths"]["/api/v1/events"]["post"]["security"] == [{"bearer": []}]


def test_every_api_operation_lists_what_the_plumbing_answers(document: dict[str, Any]) -> None:
    for path, methods in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            statuses = set(operation["responses"])
            assert "503" in statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= statuses, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in answer["content"], (method, path, status)

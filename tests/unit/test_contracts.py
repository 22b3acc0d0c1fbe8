"""The checked-in JSON Schemas and AsyncAPI document match the event classes."""

from __future__ import annotations

import json

from ilmo_event_contracts import EVENT_TYPES
from ilmo_event_contracts.integration import INTEGRATION_EVENT_TYPES
from ilmo_event_contracts.publication import asyncapi_document, rendered_files
from ilmo_registration import openapi


def test_published_contract_files_are_up_to_date() -> None:
    stale = [
        str(path)
        for path, content in rendered_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]
    assert stale == [], "run `uv run ilmo-contracts` and commit the result"


def test_the_checked_in_openapi_document_is_the_one_the_registration_service_serves() -> None:
    checked_in = openapi.CHECKED_IN.read_text(encoding="utf-8").splitlines()
    served = openapi.rendered().splitlines()
    # The first line that differs, rather than both documents, says where to look.
    differing = [
        number
        for number, (old, new) in enumerate(zip(checked_in, served, strict=False), 1)
        if old != new
    ]
    if not differing and len(checked_in) != len(served):
        differing = [min(len(checked_in), len(served)) + 1]
    assert not differing, (
        f"contracts/openapi.json differs from the code from line {differing[0]}: "
        f"run `{openapi.REGENERATE}` (or `make contracts`) and commit the result"
    )


def test_every_event_type_is_a_past_tense_routing_key_with_a_channel_on_its_exchange() -> None:
    channels = {
        (c["bindings"]["amqp"]["exchange"]["name"], c["address"], c["tags"][0]["name"])
        for c in asyncapi_document()["channels"].values()
    }
    assert channels == {("ilmo.internal", t, "internal") for t in EVENT_TYPES} | {
        ("ilmo.events", t, "integration") for t in INTEGRATION_EVENT_TYPES
    }
    for event_type in {*EVENT_TYPES, *INTEGRATION_EVENT_TYPES}:
        aggregate, _, verb = event_type.partition(".")
        assert aggregate, event_type
        assert verb, event_type
        assert verb.split(".")[-1].endswith(("ed", "left", "sent", "withdrawn", "checked_in")), (
            event_type
        )


def test_each_channel_says_who_may_read_it() -> None:
    for channel in asyncapi_document()["channels"].values():
        exchange = channel["bindings"]["amqp"]["exchange"]["name"]
        if exchange == "ilmo.events":
            assert "For outside systems" in channel["description"]
            assert "no personal data" in channel["description"]
        else:
            assert "Ilmo's own services only" in channel["description"]


def test_integration_schemas_have_their_own_files_and_ids() -> None:
    for path, content in rendered_files().items():
        if path.name == "asyncapi.json":
            continue
        schema = json.loads(content)
        integration = path.parent.name == "integration"
        assert schema["$id"].startswith("urn:ilmo:schema:integration:") == integration, path


def test_each_schema_names_its_version_and_requires_the_ids() -> None:
    for path, content in rendered_files().items():
        if path.name == "asyncapi.json":
            continue
        schema = json.loads(content)
        assert schema["$id"].endswith(f":v{path.name.rsplit('.v', 1)[1].split('.')[0]}")
        assert "event_id" in schema["required"], path.name

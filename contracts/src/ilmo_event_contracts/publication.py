"""The published form of the contracts: JSON Schema per event and one AsyncAPI document.

Two audiences, two exchanges: the integration events on ``ilmo.events``, for
outside systems (``schemas/integration/``), and the internal events on
``ilmo.internal``, for Ilmo's own services only (``schemas/``). The AsyncAPI
document has a channel per routing key on each exchange, tagged and described
by audience.

Integrators build against these checked-in files, not against our Python
classes; ``ilmo-contracts`` regenerates them and a unit test fails whenever
the classes and the files disagree, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ilmo_event_contracts.events import EVENT_TYPES, INTERNAL_EXCHANGE, InternalEvent
from ilmo_event_contracts.integration import (
    INTEGRATION_EVENT_TYPES,
    INTEGRATION_EXCHANGE,
    IntegrationEvent,
)

CONTRACTS_DIR = Path(__file__).resolve().parents[2]

PRODUCERS = {
    "event": "registration",
    "registration": "registration",
    "message": "registration",
    "attendance": "registration",
    "seat": "capacity",
    "waitlist": "capacity",
    "stream": "streaming",
    "notification": "notification",
}


AnyEvent = type[InternalEvent] | type[IntegrationEvent]

INTERNAL = "internal"
INTEGRATION = "integration"

AUDIENCES: dict[str, tuple[str, dict[str, Any], str]] = {
    # audience: (exchange, event classes by type, who reads it)
    INTEGRATION: (
        INTEGRATION_EXCHANGE,
        dict(INTEGRATION_EVENT_TYPES),
        "For outside systems. Carries ids, event ids, attendance modes, languages, "
        "states, counts and times; no personal data.",
    ),
    INTERNAL: (
        INTERNAL_EXCHANGE,
        dict(EVENT_TYPES),
        "For Ilmo's own services only: carries personal data (names, email addresses, "
        "personal stream links). Outside systems cannot read this exchange.",
    ),
}


def schema_file_name(event_class: AnyEvent) -> str:
    return f"{event_class.event_type}.v{event_class.schema_version}.json"


def schema_path(event_class: AnyEvent) -> str:
    """The schema's path under ``contracts/``: integration schemas have their own folder."""
    folder = "schemas/integration" if issubclass(event_class, IntegrationEvent) else "schemas"
    return f"{folder}/{schema_file_name(event_class)}"


def json_schema(event_class: AnyEvent) -> dict[str, Any]:
    """The JSON Schema of an event's data (the AMQP message body)."""
    schema = event_class.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": event_class.dataschema(),
        **schema,
    }


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document: one channel per routing key on each of the two exchanges."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for audience, (exchange, event_types, readers) in AUDIENCES.items():
        for event_type, event_class in sorted(event_types.items()):
            key = f"{audience}_{event_type.replace('.', '_')}"
            messages[key] = {
                "name": event_type,
                "title": f"{event_class.__name__} ({audience})",
                "summary": (event_class.__doc__ or "").strip().splitlines()[0],
                "contentType": "application/json",
                "tags": [{"name": audience}],
                "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
                "payload": {"$ref": f"./{schema_path(event_class)}"},
            }
            channels[key] = {
                "address": event_type,
                "title": f"{event_type} on {exchange}",
                "description": f"{exchange}: {readers}",
                "tags": [{"name": audience}],
                "messages": {key: {"$ref": f"#/components/messages/{key}"}},
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": exchange,
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                        },
                    }
                },
            }
            operations[f"publish_{key}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"Published by the {PRODUCERS[event_type.split('.')[0]]} service.",
                "tags": [{"name": audience}],
                "bindings": {"amqp": {"deliveryMode": 2}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ilmo events",
            "version": "2.0.0",
            "description": (
                "Events of the Ilmo registration platform on two durable topic exchanges, "
                "one per audience; routing key = event type. "
                f"{INTEGRATION_EXCHANGE} (tag 'integration') is for outside systems: bind "
                "your own durable queue to it; its events carry no personal data. "
                f"{INTERNAL_EXCHANGE} (tag 'internal') is for Ilmo's own services only and "
                "carries personal data. Deduplicate on the CloudEvents id (cloudEvents:id "
                "header, AMQP message_id)."
            ),
            "tags": [
                {"name": INTEGRATION, "description": AUDIENCES[INTEGRATION][2]},
                {"name": INTERNAL, "description": AUDIENCES[INTERNAL][2]},
            ],
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"CloudEventsHeaders": _headers_schema()},
        },
    }


def _headers_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "required": [
            "cloudEvents:id",
            "cloudEvents:source",
            "cloudEvents:type",
            "cloudEvents:specversion",
            "cloudEvents:time",
        ],
        "properties": {
            "cloudEvents:id": text,
            "cloudEvents:source": text,
            "cloudEvents:type": text,
            "cloudEvents:specversion": {"const": "1.0"},
            "cloudEvents:time": {"type": "string", "format": "date-time"},
            "cloudEvents:subject": text,
            "cloudEvents:datacontenttype": {"const": "application/json"},
            "cloudEvents:dataschema": text,
            "cloudEvents:correlationid": text,
        },
    }


def rendered_files() -> dict[Path, str]:
    """Every published contract file with its exact content."""
    classes: list[AnyEvent] = [*EVENT_TYPES.values(), *INTEGRATION_EVENT_TYPES.values()]
    files = {CONTRACTS_DIR / schema_path(cls): _dump(json_schema(cls)) for cls in classes}
    files[CONTRACTS_DIR / "asyncapi.json"] = _dump(asyncapi_document())
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    """``ilmo-contracts``: write the schemas and the AsyncAPI document."""
    for path, content in rendered_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(path.relative_to(CONTRACTS_DIR.parent), file=sys.stdout)

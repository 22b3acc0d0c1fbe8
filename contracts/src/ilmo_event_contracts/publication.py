"""The published form of the contracts: JSON Schema per event and one AsyncAPI document.

Integrators build against these checked-in files, not against our Python
classes; ``ilmo-contracts`` regenerates them and a unit test fails whenever
the classes and the files disagree, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ilmo_event_contracts.events import EVENT_TYPES, EXCHANGE, IntegrationEvent

CONTRACTS_DIR = Path(__file__).resolve().parents[2]

PRODUCERS = {
    "event": "registration",
    "registration": "registration",
    "seat": "capacity",
    "waitlist": "capacity",
    "stream": "streaming",
    "notification": "notification",
}


def schema_file_name(event_class: type[IntegrationEvent]) -> str:
    return f"{event_class.event_type}.v{event_class.schema_version}.json"


def json_schema(event_class: type[IntegrationEvent]) -> dict[str, Any]:
    """The JSON Schema of an event's data (the AMQP message body)."""
    schema = event_class.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": event_class.dataschema(),
        **schema,
    }


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document: one channel per routing key on ``ilmo.events``."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, event_class in sorted(EVENT_TYPES.items()):
        key = event_type.replace(".", "_")
        messages[key] = {
            "name": event_type,
            "title": event_class.__name__,
            "summary": (event_class.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
            "payload": {"$ref": f"./schemas/{schema_file_name(event_class)}"},
        }
        channels[key] = {
            "address": event_type,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": EXCHANGE,
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
            "bindings": {"amqp": {"deliveryMode": 2}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ilmo events",
            "version": "1.0.0",
            "description": (
                "Events of the Ilmo registration platform on the durable topic exchange "
                "ilmo.events. Routing key = event type. Bind your own durable queue; "
                "deduplicate on the CloudEvents id (cloudEvents:id header, AMQP message_id)."
            ),
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
    files = {
        CONTRACTS_DIR / "schemas" / schema_file_name(cls): _dump(json_schema(cls))
        for cls in EVENT_TYPES.values()
    }
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

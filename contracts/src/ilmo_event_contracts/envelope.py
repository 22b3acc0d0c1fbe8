"""The CloudEvents 1.0 envelope carried in AMQP properties and headers.

The body of an AMQP message is the event's data as JSON; everything a router,
an auditor or a deduplicating consumer needs without parsing the body lives in
the envelope. Attribute names follow CloudEvents 1.0, and the headers use the
``cloudEvents:`` prefix of the CloudEvents AMQP binding so that generic
CloudEvents tooling can read them. The AMQP ``message_id``, ``type``,
``timestamp``, ``app_id`` and ``correlation_id`` properties repeat the same
values for RabbitMQ's own tools (management UI, tracing, shovels).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
HEADER_PREFIX = "cloudEvents:"


class EnvelopeError(ValueError):
    """An incoming message whose envelope is missing or malformed."""


class Envelope(BaseModel):
    """CloudEvents context attributes of one event.

    ``id`` is assigned once, when the event is recorded in an outbox, and never
    changes across redeliveries or republishing: consumers deduplicate on it.
    ``correlationid`` is an extension attribute carrying the id of the HTTP
    request (or the message) that caused the event, so one registrant's whole
    journey can be followed in the logs of every service.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    specversion: str = SPEC_VERSION
    time: datetime
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: str = CONTENT_TYPE
    dataschema: str | None = Field(default=None, max_length=300)
    correlationid: str | None = Field(default=None, max_length=200)

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        subject: str | None = None,
        dataschema: str | None = None,
        correlationid: str | None = None,
        id: str | None = None,
    ) -> Envelope:
        """A fresh envelope with the current UTC time and ``id``, or a new unique one."""
        return cls(
            id=id if id is not None else str(uuid.uuid4()),
            source=source,
            type=type,
            time=datetime.now(UTC),
            subject=subject,
            dataschema=dataschema,
            correlationid=correlationid,
        )

    def to_headers(self) -> dict[str, Any]:
        """The envelope as AMQP application headers (``cloudEvents:<name>``)."""
        values = self.model_dump(mode="json", exclude_none=True)
        return {f"{HEADER_PREFIX}{name}": str(value) for name, value in values.items()}

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any] | None) -> Envelope:
        """Read the envelope back from AMQP headers.

        Raises ``EnvelopeError`` naming what is wrong, so that the consumer can
        dead-letter the message with a reason instead of crashing.
        """
        if not headers:
            raise EnvelopeError("message has no headers, so no CloudEvents envelope")
        attributes = {
            name.removeprefix(HEADER_PREFIX): _as_text(value)
            for name, value in headers.items()
            if isinstance(name, str) and name.startswith(HEADER_PREFIX)
        }
        if attributes.get("specversion") != SPEC_VERSION:
            raise EnvelopeError(
                f"unsupported CloudEvents specversion {attributes.get('specversion')!r}"
            )
        try:
            return cls.model_validate(attributes)
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) or "envelope" for e in error.errors())
            raise EnvelopeError(f"invalid CloudEvents attributes: {fields}") from error


def _as_text(value: Any) -> Any:
    """AMQP tables may carry header values as bytes; attributes are text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value

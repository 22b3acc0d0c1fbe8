"""Link facts as the events other services (and, without the link, integrators) read.

``stream.joined`` carries ids and the time only, in both forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ilmo_event_contracts import (
    InternalEvent,
    StreamJoined,
    StreamLinkProvisioned,
    StreamLinkRevoked,
)
from ilmo_event_contracts.integration import integration_form
from ilmo_shared.outbox import Outbox
from ilmo_streaming.domain import Fact, Joined, Provisioned, Revoked

# Envelope ids are derived from the registration id and the fact: should a
# fact ever be recorded twice (two processes racing on a database without
# atomic conditional updates), consumers see one event twice and deduplicate.
_ENVELOPE_IDS = uuid.UUID("6c0b9e51-3f0e-4c55-9d7e-2a8f1b4e7d93")

LinkUrl = Callable[[uuid.UUID], str]


def link_event(fact: Fact, link_url: LinkUrl) -> InternalEvent:
    match fact:
        case Provisioned():
            return StreamLinkProvisioned(
                registration_id=fact.registration_id,
                event_id=fact.event_id,
                url=link_url(fact.registration_id),
                valid_from=fact.valid_from,
                valid_until=fact.valid_until,
                attendance_version=fact.attendance_version,
            )
        case Revoked():
            return StreamLinkRevoked(
                registration_id=fact.registration_id,
                event_id=fact.event_id,
                revoked_at=fact.revoked_at,
            )
        case Joined():
            return StreamJoined(
                registration_id=fact.registration_id,
                event_id=fact.event_id,
                joined_at=fact.joined_at,
            )


def envelope_id(fact: Fact) -> str:
    """One id per fact: a link's revocation, its first join, its provisioning per version.

    The provisioning of version 1 keeps the id it had before switching existed.
    """
    if isinstance(fact, Revoked):
        return str(uuid.uuid5(_ENVELOPE_IDS, f"{fact.registration_id}/revoked"))
    if isinstance(fact, Joined):
        return str(uuid.uuid5(_ENVELOPE_IDS, f"{fact.registration_id}/joined"))
    suffix = "" if fact.attendance_version == 1 else f"/{fact.attendance_version}"
    return str(uuid.uuid5(_ENVELOPE_IDS, f"{fact.registration_id}/provisioned{suffix}"))


def outbox_entries(
    facts: Sequence[Fact], outbox: Outbox, link_url: LinkUrl
) -> list[dict[str, Any]]:
    """Outbox entries for ``facts`` in both forms, each with its deterministic envelope id.

    The integration form leaves the personal link out.
    """
    entries: list[dict[str, Any]] = []
    for fact in facts:
        event = link_event(fact, link_url)
        entries += outbox.entries(event, integration_form(event), envelope_id=envelope_id(fact))
    return entries

"""Prometheus metrics of the streaming service (served at ``/metrics``).

Labels carry outcomes and event ids (which are public), never a registration
id or a token.
"""

from __future__ import annotations

from prometheus_client import Counter

JOINS = Counter(
    "ilmo_streaming_joins_total",
    "Attempts to open a personal stream link, by outcome (redirected, signed, renewed, "
    "cancelled, revoked, unknown, not_open_yet, ended, unavailable) and event ('unknown' when "
    "the link tells no event).",
    ["outcome", "event_id"],
)
LINK_CHANGES = Counter(
    "ilmo_streaming_link_changes_total",
    "Stored link transitions, by the state reached (pending, provisioned, revoked).",
    ["state"],
)
JOINS_NOT_RECORDED = Counter(
    "ilmo_streaming_joins_not_recorded_total",
    "Joins that got the stream but whose record (first or last join) could not be written.",
)
WRITE_CONFLICTS = Counter(
    "ilmo_streaming_write_conflicts_total",
    "Writes of links or event details that lost a conditional update to another writer "
    "and were decided again.",
)


def joins_of(event_id: str) -> int:
    """How many attempts to open a link of the event got the stream (this process's count).

    Both ways count: a redirect to a public stream, and a signed URL of a
    closed one; a player's renewals do not.
    """
    return int(
        sum(
            sample.value
            for metric in JOINS.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
            and sample.labels.get("event_id") == event_id
            and sample.labels.get("outcome") in ("redirected", "signed")
        )
    )

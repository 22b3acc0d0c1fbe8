"""What the outbox relay has seen waiting: how many entries, and since when.

``ilmo_outbox_pending{outbox}`` and
``ilmo_outbox_oldest_pending_age_seconds{outbox}`` (``outbox`` = the
collection). They come from documents the relay reads anyway: no query is
added for them, since on FerretDB v1 any filter but ``_id`` reads the whole
collection. A document's entries count as pending from the moment the relay
reads them until it has removed them after the broker confirmed them, and
the age is that of the oldest entry's envelope time, taken at scrape time, so
it keeps growing while the broker is away and nothing is published.

A sweep sees at most the relay's batch of documents; beyond it the figures
are a lower bound, which is still enough to fire the backlog alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Gauge

from ilmo_shared.storage import OUTBOX_FIELD

OUTBOX_PENDING = Gauge(
    "ilmo_outbox_pending",
    "Outbox entries the relay has read and not yet seen confirmed and removed, per outbox "
    "(collection); a lower bound when a sweep found a full batch.",
    ["outbox"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "ilmo_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox entry still pending, per outbox (collection); 0 when none is.",
    ["outbox"],
)

WallClock = Callable[[], float]


def _recorded_at(entry: Mapping[str, Any]) -> float | None:
    """The entry's envelope time (fixed when the event was recorded) in epoch seconds."""
    envelope = entry.get("envelope")
    if not isinstance(envelope, Mapping):
        return None
    value = envelope.get("time")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


class OutboxBacklog:
    """One outbox's pending documents, as the relay last saw them (pure bookkeeping)."""

    def __init__(self, outbox: str, clock: WallClock = time.time) -> None:
        self.outbox = outbox
        self._clock = clock
        # document id -> (entries, time of its oldest entry)
        self._pending: dict[Any, tuple[int, float]] = {}
        OUTBOX_PENDING.labels(outbox).set_function(self.pending)
        OUTBOX_OLDEST_AGE.labels(outbox).set_function(self.oldest_age)

    def seen(self, documents: Sequence[Mapping[str, Any]], *, whole: bool = False) -> None:
        """The relay read these documents' entries; ``whole``: a sweep, nothing else is pending."""
        if whole:
            self._pending.clear()
        now = self._clock()
        for document in documents:
            entries = document.get(OUTBOX_FIELD) or []
            if not entries:
                self._pending.pop(document.get("_id"), None)
                continue
            times = [t for t in map(_recorded_at, entries) if t is not None]
            self._pending[document.get("_id")] = (len(entries), min(times, default=now))

    def published(self, documents: Sequence[Mapping[str, Any]]) -> None:
        """These documents' entries were confirmed and removed."""
        for document in documents:
            self._pending.pop(document.get("_id"), None)

    def pending(self) -> float:
        return float(sum(entries for entries, _ in self._pending.values()))

    def oldest_age(self) -> float:
        if not self._pending:
            return 0.0
        oldest = min(recorded for _, recorded in self._pending.values())
        return max(0.0, self._clock() - oldest)

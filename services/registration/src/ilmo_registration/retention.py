"""The retention sweep as a background worker: ``UseCases.sweep_retention`` every so often.

FerretDB v1 has no TTL indexes, and erasure must also tell the other
services (``registration.erased``), which a database-side expiry could not:
so expiry is an application sweep. It runs in every replica; two sweeps at
once are harmless, because each erasure is one conditional write that only
an unerased registration matches (the loser changes and announces nothing).

The first sweep runs five minutes after start (or one interval, if that is
shorter), so a restart neither competes with it nor skips it, then one every
``ILMO_RETENTION_SWEEP_INTERVAL_SECONDS`` (default hourly). Administrators
(and tests) run one at once with ``POST /api/v1/admin/retention/sweep``.
A failed sweep is logged and tried again at the next interval.
"""

from __future__ import annotations

import structlog

from ilmo_registration.usecases import UseCases
from ilmo_shared.periodic import Periodic

# The first sweep waits this long after start, so starting never competes with it.
FIRST_SWEEP_DELAY_SECONDS = 300.0

log = structlog.get_logger(__name__)


def retention_sweeper(
    usecases: UseCases,
    *,
    interval_seconds: float,
    first_delay_seconds: float = FIRST_SWEEP_DELAY_SECONDS,
) -> Periodic:
    """The worker that runs the retention sweep while the service does its work."""

    async def sweep() -> None:
        result = await usecases.sweep_retention()
        if result.events:
            # Counts and nothing else: which registrations is in the events.
            log.info(
                "retention_swept",
                events=result.events,
                needs_erased=result.needs_erased,
                registrations_erased=result.registrations_erased,
            )

    return Periodic(
        "retention_sweep", sweep, interval=interval_seconds, first_delay=first_delay_seconds
    )

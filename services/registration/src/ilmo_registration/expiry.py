"""The sweep that removes registrations nobody confirmed in time.

An expired registration already blocks nobody (a new registration of the
address replaces it, and a late confirmation is refused), so the sweep only
bounds how long its personal data stays: at most one sweep interval past
expiry. It asks for expired pending registrations with one query per pass
(FerretDB v1 reads the collection for it: once a minute by default is cheap)
and removes each with its own conditional write (``UseCases.sweep_expired``),
so several replicas sweeping at once remove each one once.
"""

from __future__ import annotations

import structlog

from ilmo_registration.keyed_registration import KeyedRegistration
from ilmo_registration.usecases import UseCases
from ilmo_shared.periodic import Periodic

log = structlog.get_logger(__name__)


def expiry_sweeper(usecases: UseCases, interval: float) -> Periodic:
    """The worker that removes the expired unconfirmed registrations every ``interval`` s."""

    async def sweep() -> None:
        removed = await usecases.sweep_expired()
        if removed:
            log.info("expired_registrations_removed", count=removed)

    return Periodic("expiry_sweep", sweep, interval=interval, first_delay=0)


def claim_sweeper(keyed: KeyedRegistration, interval: float) -> Periodic:
    """The worker that removes the claims of expired Idempotency-Keys every ``interval`` s.

    Their sealed manage tokens go with them: a key past its time gives nothing back.
    """

    async def sweep() -> None:
        removed = await keyed.remove_expired()
        if removed:
            log.info("expired_idempotency_keys_removed", count=removed)

    return Periodic("idempotency_key_sweep", sweep, interval=interval, first_delay=interval)

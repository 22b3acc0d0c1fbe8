"""Message handlers: what capacity and streaming report about a registration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter

from ilmo_event_contracts import Envelope, RegistrationErased, StreamJoined
from ilmo_registration.domain import STATUS_REPORTS, StatusReport
from ilmo_registration.door import Door
from ilmo_registration.storage import RegistrationStore, ReportOutcome
from ilmo_shared.messaging.subscription import Subscription

STATUS_REPORTS_TAKEN = Counter(
    "ilmo_registration_status_reports_total",
    "Status reports from other services, by type and outcome.",
    ["type", "outcome"],
)

log = structlog.get_logger(__name__)


async def status_reported(
    store: RegistrationStore, report: StatusReport, envelope: Envelope
) -> None:
    """Record the report on the registration; repeats and stale reports change nothing.

    A report about a registration this service does not have cannot become
    right by retrying, so it is noted and dropped rather than retried.
    """
    outcome = await store.apply_report(str(report.registration_id), report)
    STATUS_REPORTS_TAKEN.labels(envelope.type, outcome.value).inc()
    if outcome is ReportOutcome.UNKNOWN_REGISTRATION:
        log.warning(
            "status_report_for_unknown_registration",
            registration_id=str(report.registration_id),
            envelope_id=envelope.id,
            type=envelope.type,
        )


def status_subscription(service: str, store: RegistrationStore) -> Subscription:
    """``<service>.status-updates``: seat and stream-link reports, in one queue.

    One active consumer at a time (the others stand by), so reports about one
    registration are not applied by two processes at once.
    """

    async def handle(report: StatusReport, envelope: Envelope) -> None:
        await status_reported(store, report, envelope)

    subscription = Subscription(service, "status-updates", single_active_consumer=True)
    for report_class in STATUS_REPORTS:
        subscription.on(report_class, handle)
    return subscription


def erasure_subscription(
    service: str, erase_parked: Callable[[str], Awaitable[int]]
) -> Subscription:
    """``<service>.erasures``: the service's own ``registration.erased``, to clear parked messages.

    The registration's tombstone is written with the event; what is left
    is a status report parked in this service's dead-letter queue (a
    ``stream.link.provisioned`` carries the personal link), which only this
    service's broker user may read.
    """

    async def handle(event: RegistrationErased, _envelope: Envelope) -> None:
        await erase_parked(str(event.registration_id))

    return Subscription(service, "erasures").on(RegistrationErased, handle)


async def stream_joined(door: Door, joined: StreamJoined, envelope: Envelope) -> None:
    """Record the registrant's first watch of the stream; a repeat or a later join changes nothing.

    As for status reports, a join of a registration this service does not
    have cannot become right by retrying: noted and dropped.
    """
    outcome = await door.record_watch(str(joined.registration_id), joined.joined_at)
    STATUS_REPORTS_TAKEN.labels(envelope.type, outcome.value).inc()
    if outcome is ReportOutcome.UNKNOWN_REGISTRATION:
        log.warning(
            "stream_join_for_unknown_registration",
            registration_id=str(joined.registration_id),
            envelope_id=envelope.id,
        )


def attendance_subscription(service: str, door: Door) -> Subscription:
    """``<service>.attendance``: streaming's ``stream.joined``, the first watch of each registrant.

    A queue of its own, beside the status updates: a burst of joins when
    the stream starts does not hold up seat and link reports.
    """

    async def handle(joined: StreamJoined, envelope: Envelope) -> None:
        await stream_joined(door, joined, envelope)

    return Subscription(service, "attendance").on(StreamJoined, handle)

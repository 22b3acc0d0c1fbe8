"""Message handlers of the streaming service: plain functions given their dependencies.

Each handler turns one incoming event into transitions of registrations'
links (see ``domain``), each stored with its outgoing event in one write
(see ``storage``), then wakes the outbox relay. The subscriber runs several
handlers at once, so messages about one registration or one event may be
handled concurrently and out of order; the transitions make that harmless:

- a registrant entitled before the event's details are known waits as
  pending. The handler stores the pending link *then* looks for the details
  again, while the details handler stores the details *then* lists pending
  links: whichever runs second sees the other's write, so no link is left
  pending (both may provision it; the second finds it provisioned already);
- a cancellation handled before the acceptance leaves a tombstone that the
  acceptance cannot undo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from uuid import UUID

import structlog

from ilmo_event_contracts import (
    Envelope,
    EventDetails,
    EventPublished,
    EventUpdated,
    RegistrationAccepted,
    RegistrationCancelled,
    SeatReserved,
    SeatWaitlisted,
)
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.outbox import NotifyRelay
from ilmo_streaming import domain
from ilmo_streaming.domain import Change, EventStream
from ilmo_streaming.metrics import LINK_CHANGES
from ilmo_streaming.storage import LINKS, StreamEventStore, StreamLinkStore, Transition

Clock = Callable[[], datetime]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LinkKeeper:
    """What the handlers work with; built once in ``app.build_app``."""

    links: StreamLinkStore
    streams: StreamEventStore
    notify: NotifyRelay
    clock: Clock

    async def change(self, registration_id: UUID, transition: Transition) -> Change | None:
        change = await self.links.change(registration_id, transition)
        if change is not None:
            LINK_CHANGES.labels(change.link.state.value).inc()
            if change.facts:
                self.notify(LINKS, str(registration_id))
            # Ids only, and per message, so below INFO.
            log.debug(
                "stream_link_changed",
                event_id=change.link.event_id,
                registration_id=str(registration_id),
                state=change.link.state.value,
                facts=len(change.facts),
            )
        return change

    async def grant(self, registration_id: UUID, event_id: str) -> None:
        """Give the registrant a link, now or as soon as the event's details are known."""
        known = await self.streams.get(event_id)
        now = self.clock()
        await self.change(
            registration_id,
            lambda current: domain.grant(current, registration_id, event_id, known, now),
        )
        if known is None:
            # The details may have been stored since they were read, and their
            # handler may have listed the pending links before this one was
            # stored: look again now that it is.
            stream = await self.streams.get(event_id)
            if stream is not None:
                await self.provision(registration_id, stream)

    async def provision(self, registration_id: UUID, stream: EventStream) -> None:
        now = self.clock()
        await self.change(registration_id, lambda current: domain.provision(current, stream, now))


async def event_details_changed(keeper: LinkKeeper, event: EventDetails, _: Envelope) -> None:
    """``event.published`` / ``event.updated``: keep the newest details, provision pending links.

    Pending links are looked for on every such message, even one that changed
    nothing, so a redelivery finishes a pass that failed half-way.
    """
    stream, changed = await keeper.streams.apply(event, keeper.clock())
    if changed:
        log.info(
            "stream_details_stored",
            event_id=stream.event_id,
            revision=stream.revision,
            opens_at=stream.opens_at.isoformat(),
            closes_at=stream.closes_at.isoformat(),
        )
    pending = await keeper.links.pending_for(stream.event_id)
    for registration_id in pending:
        await keeper.provision(registration_id, stream)
    if pending:
        log.info("pending_stream_links_provisioned", event_id=stream.event_id, count=len(pending))


async def registration_accepted(
    keeper: LinkKeeper, event: RegistrationAccepted, _: Envelope
) -> None:
    """A remote registrant gets a link; an in-person one only if waitlisted later."""
    if domain.entitled_on_acceptance(event.attendance):
        await keeper.grant(event.registration_id, event.event_id)


async def seat_waitlisted(keeper: LinkKeeper, event: SeatWaitlisted, _: Envelope) -> None:
    """No seat yet: the registrant can follow the stream meanwhile."""
    await keeper.grant(event.registration_id, event.event_id)


async def seat_reserved(_keeper: LinkKeeper, event: SeatReserved, _: Envelope) -> None:
    """A seat (perhaps after waiting): a link already provisioned is kept, so nothing changes."""
    log.debug("seat_reserved_link_kept", event_id=event.event_id, promoted=event.promoted)


async def registration_cancelled(
    keeper: LinkKeeper, event: RegistrationCancelled, _: Envelope
) -> None:
    """The link stops working; if it was not provisioned yet, it never will be."""
    registration_id, event_id, now = event.registration_id, event.event_id, keeper.clock()
    await keeper.change(
        registration_id, lambda current: domain.revoke(current, registration_id, event_id, now)
    )


def link_subscription(service: str, keeper: LinkKeeper) -> Subscription:
    """``streaming.stream-links``: everything that gives or takes a link, on one queue.

    Competing consumers: transitions are per registration and conditional
    (atomic on MongoDB), so replicas need not take turns; within a process the
    document locks serialize them.
    """
    details = partial(event_details_changed, keeper)
    return (
        Subscription(service, "stream-links")
        .on(EventPublished, details)
        .on(EventUpdated, details)
        .on(RegistrationAccepted, partial(registration_accepted, keeper))
        .on(SeatWaitlisted, partial(seat_waitlisted, keeper))
        .on(SeatReserved, partial(seat_reserved, keeper))
        .on(RegistrationCancelled, partial(registration_cancelled, keeper))
    )

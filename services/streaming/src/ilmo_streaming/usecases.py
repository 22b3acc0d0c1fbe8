"""What gives, takes, opens or counts personal stream links, each as one use case.

``LinkKeeper`` changes links as messages say; ``LinkQueries`` answers the
HTTP side (a viewer opening a link, an operator counting them) and writes
only the record of a join (the first and last time a link led to the
stream).

Each change is a transition of registrations' links (``domain``), stored
with its outgoing event in one write (``storage``, which also wakes the
outbox relay), then counted and logged. The subscriber runs several handlers
at once, so use cases about one registration or one event may run
concurrently and out of order; the transitions make that harmless:

- a registrant entitled before the event's details are known waits as
  pending. ``grant`` stores the pending link *then* looks for the details
  again, while ``apply_details`` stores the details *then* lists pending
  links: whichever runs second sees the other's write, so no link is left
  pending (both may provision it; the second finds it provisioned already);
- a cancellation handled before the acceptance leaves a tombstone that the
  acceptance cannot undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import structlog
from pymongo.errors import PyMongoError

from ilmo_event_contracts import Attendance, EventDetails
from ilmo_shared.clock import Clock
from ilmo_shared.storage import ConcurrentChangeError
from ilmo_streaming import domain
from ilmo_streaming.domain import (
    Change,
    EventStream,
    JoinDecision,
    Play,
    Redirect,
    decide_join,
)
from ilmo_streaming.metrics import JOINS_NOT_RECORDED, LINK_CHANGES
from ilmo_streaming.playback import PlaybackSigner, path_at_origin, signed_until
from ilmo_streaming.storage import LinkCounts, StreamEventStore, StreamLinkStore, Transition
from ilmo_streaming.tokens import TOKEN_LENGTH, LinkTokens

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LinkKeeper:
    """Keeps each registration's link in step with what happens to it; built in ``app``."""

    links: StreamLinkStore
    streams: StreamEventStore
    clock: Clock

    async def apply_details(self, details: EventDetails) -> None:
        """An event's details (a revision): keep the newest, provision the links waiting for them.

        Pending links are looked for every time, even when the details changed
        nothing, so a redelivery finishes a pass that failed half-way. The
        details of a cancelled event (``event.cancelled``) are kept the same
        way; from then on its links answer that it was cancelled, and the
        links still pending are never provisioned.
        """
        stream, changed = await self.streams.apply(details, self.clock())
        if changed:
            log.info(
                "stream_details_stored",
                event_id=stream.event_id,
                revision=stream.revision,
                opens_at=stream.opens_at.isoformat(),
                closes_at=stream.closes_at.isoformat(),
                cancelled=stream.cancelled,
            )
        if stream.cancelled:
            return
        pending = await self.links.pending_for(stream.event_id)
        for registration_id in pending:
            await self.provision(registration_id, stream)
        if pending:
            log.info(
                "pending_stream_links_provisioned", event_id=stream.event_id, count=len(pending)
            )

    async def accept(self, registration_id: UUID, event_id: str, attendance: Attendance) -> None:
        """A registration was accepted: a remote registrant gets a link now, others may later."""
        if domain.entitled_on_acceptance(attendance):
            await self.grant(registration_id, event_id)

    async def grant(
        self, registration_id: UUID, event_id: str, attendance_version: int = 1
    ) -> None:
        """Give the registrant a link, now or as soon as the event's details are known."""
        known = await self.streams.recent(event_id)
        now = self.clock()
        await self._change(
            registration_id,
            lambda current: domain.grant(
                current, registration_id, event_id, known, now, attendance_version
            ),
        )
        await self._provision_if_missed(registration_id, event_id, known)

    async def switch(
        self,
        registration_id: UUID,
        event_id: str,
        attendance: Attendance,
        attendance_version: int,
    ) -> None:
        """The registrant switched attendance: to remote, a link (new, or announced again)."""
        known = await self.streams.recent(event_id)
        now = self.clock()
        await self._change(
            registration_id,
            lambda current: domain.switch(
                current, registration_id, event_id, attendance, attendance_version, known, now
            ),
        )
        if attendance is Attendance.REMOTE:
            await self._provision_if_missed(registration_id, event_id, known)

    async def _provision_if_missed(
        self, registration_id: UUID, event_id: str, known: EventStream | None
    ) -> None:
        if known is None:
            # The details may have been stored since they were read, and
            # ``apply_details`` may have listed the pending links before this
            # one was stored: look again now that it is.
            stream = await self.streams.get(event_id)
            if stream is not None:
                await self.provision(registration_id, stream)

    async def provision(self, registration_id: UUID, stream: EventStream) -> None:
        """The event's details are known: a link waiting for them is provisioned."""
        now = self.clock()
        await self._change(registration_id, lambda current: domain.provision(current, stream, now))

    async def revoke(self, registration_id: UUID, event_id: str) -> None:
        """The registration was cancelled: its link stops working, or is never provisioned."""
        now = self.clock()
        await self._change(
            registration_id, lambda current: domain.revoke(current, registration_id, event_id, now)
        )

    async def _change(self, registration_id: UUID, transition: Transition) -> Change | None:
        change = await self.links.change(registration_id, transition)
        if change is not None:
            LINK_CHANGES.labels(change.link.state.value).inc()
            # Ids only, and per message, so below INFO.
            log.debug(
                "stream_link_changed",
                event_id=change.link.event_id,
                registration_id=str(registration_id),
                state=change.link.state.value,
                facts=len(change.facts),
            )
        return change


@dataclass(frozen=True)
class LinkOverview:
    """An event's links counted by state, and its details if they are known."""

    counts: LinkCounts
    stream: EventStream | None


# A signed playback URL is this long-lived unless the service is told otherwise.
PLAYBACK_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class SignedPlayback:
    """A playback URL signed for one link, and when its player should ask for the next."""

    playlist_url: str
    expires_at: datetime
    renew_after_seconds: int


class PlaybackUnavailableError(Exception):
    """The event's stream is closed, but this service cannot sign URLs of it.

    No playback key is configured, or the event's ``stream_url`` is not at
    the origin the key is for: a deployment's or an organiser's mistake, so
    the viewer gets 503 and the operators an error in the log.
    """


@dataclass(frozen=True)
class LinkQueries:
    """What the HTTP side asks about links; built in ``app``. Reads only.

    ``signer`` signs playback URLs of closed streams (None: no playback key
    configured), each valid for ``playback_lifetime`` and never beyond the
    link's window.
    """

    tokens: LinkTokens
    links: StreamLinkStore
    streams: StreamEventStore
    clock: Clock
    signer: PlaybackSigner | None = None
    playback_lifetime: timedelta = PLAYBACK_LIFETIME

    async def join(self, token: str) -> JoinDecision:
        """What a viewer opening the link ``token`` gets now; a join to the stream is recorded.

        A token this service did not make is unknown without a database
        read. Two reads by ``_id`` (the link, then its event's details, so
        the window is the event's current one). PyMongoError while the
        database does not answer.
        """
        registration_id = self.tokens.registration_of(token) if len(token) == TOKEN_LENGTH else None
        link = await self.links.get(registration_id) if registration_id else None
        stream = await self.streams.get(link.event_id) if link and link.issued else None
        now = self.clock()
        decision = decide_join(link, stream, now)
        if isinstance(decision, Redirect | Play) and registration_id is not None:
            await self._record_join(registration_id, now)
        return decision

    def sign(self, play: Play) -> SignedPlayback:
        """A playlist URL of the closed stream, signed for this link until it must be renewed.

        The player is asked to renew at half the URL's life, so that one
        failed renewal still leaves time for another before the URL expires.
        PlaybackUnavailableError when it cannot be signed.
        """
        if self.signer is None:
            raise PlaybackUnavailableError("no playback key is configured (ILMO_PLAYBACK_SECRET)")
        path = path_at_origin(play.stream.stream_url, self.signer.base_url)
        if path is None:
            raise PlaybackUnavailableError("the event's stream_url is not at the playback origin")
        now = self.clock()
        expires_at = signed_until(now, play.stream.closes_at, self.playback_lifetime)
        holder = self.tokens.holder_of(play.registration_id)
        return SignedPlayback(
            playlist_url=self.signer.sign(holder, path, expires_at),
            expires_at=expires_at,
            renew_after_seconds=max(1, int((expires_at - now).total_seconds() / 2)),
        )

    async def _record_join(self, registration_id: UUID, now: datetime) -> None:
        """Record the join (the first one with ``stream.joined``), without failing the viewer.

        The viewer came to watch: a database that fails now costs this
        join's record (counted and logged; the next join records it), not
        the stream.
        """
        try:
            change = await self.links.change(
                registration_id, lambda current: domain.join(current, now)
            )
        except (PyMongoError, ConcurrentChangeError) as error:
            JOINS_NOT_RECORDED.inc()
            log.warning("stream_join_not_recorded", error=type(error).__name__)
            return
        if change is not None and change.facts:
            log.debug("stream_first_join_recorded", event_id=change.link.event_id)

    async def overview(self, event_id: str) -> LinkOverview | None:
        """The links of ``event_id``; None if streaming knows neither the event nor any link."""
        stream = await self.streams.get(event_id)
        counts = await self.links.counts(event_id)
        if stream is None and counts.pending + counts.provisioned + counts.revoked == 0:
            return None
        return LinkOverview(counts, stream)

"""Wiring of the streaming service: the one place its parts meet."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.dead_letters import ParkedErasure
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_shared.settings import secret
from ilmo_streaming.api import WATCH_PAGES, operator_router, watch_router
from ilmo_streaming.handlers import link_subscription
from ilmo_streaming.playback import PlaybackSigner, SecureLinkSigner
from ilmo_streaming.player_assets import player_assets
from ilmo_streaming.settings import StreamingSettings
from ilmo_streaming.storage import LINKS, StreamEventStore, StreamLinkStore
from ilmo_streaming.tokens import LinkTokens, watch_url
from ilmo_streaming.usecases import LinkKeeper, LinkQueries

SERVICE = "streaming"


def build_app(settings: StreamingSettings, *, clock: Clock = utc_now) -> FastAPI:
    tokens = LinkTokens(secret(settings, "stream_link_secret").get_secret_value())
    infrastructure = Infrastructure.create(SERVICE, settings)
    base_url = settings.watch_base_url
    # One set of locks for every writer of a document in this process, the relay included.
    locks = infrastructure.locks
    streams = StreamEventStore(
        infrastructure.database, locks=locks, recent_seconds=settings.event_cache_seconds
    )
    links = StreamLinkStore(
        infrastructure.database,
        outbox=infrastructure.outbox(LINKS),
        link_url=lambda registration_id: watch_url(base_url, tokens.token_for(registration_id)),
        locks=locks,
    )
    keeper = LinkKeeper(links=links, streams=streams, clock=clock)
    queries = LinkQueries(
        tokens=tokens,
        links=links,
        streams=streams,
        clock=clock,
        signer=playback_signer(settings),
        playback_lifetime=timedelta(seconds=settings.playback_url_seconds),
    )
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo streaming",
            subscriptions=[
                link_subscription(
                    SERVICE, keeper, ParkedErasure(infrastructure.broker, SERVICE).erase
                )
            ],
            routers=[watch_router(queries), player_assets()],
            operator_routers=[operator_router(queries)],
            prepare_storage=links.create_indexes,
            pages=WATCH_PAGES,
        ),
    )


def playback_signer(settings: StreamingSettings) -> PlaybackSigner | None:
    """The signer of closed streams' playback URLs, if a playback key is configured."""
    if settings.playback_origin_url is None or settings.playback_secret is None:
        return None
    return SecureLinkSigner(
        str(settings.playback_origin_url),
        settings.playback_secret.get_secret_value(),
        settings.playback_key_id,
    )

"""Wiring of the streaming service: the one place its parts meet."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI

from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_shared.storage import DocumentLocks
from ilmo_streaming.api import Clock, Dependencies, operator_router, watch_router
from ilmo_streaming.handlers import LinkKeeper, link_subscription
from ilmo_streaming.settings import StreamingSettings
from ilmo_streaming.storage import StreamEventStore, StreamLinkStore
from ilmo_streaming.tokens import LinkTokens, watch_url

SERVICE = "streaming"


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: StreamingSettings, *, clock: Clock = utc_now) -> FastAPI:
    if settings.stream_link_secret is None:
        raise ValueError("the streaming service needs ILMO_STREAM_LINK_SECRET")
    infrastructure = Infrastructure.create(SERVICE, settings)
    tokens = LinkTokens(settings.stream_link_secret.get_secret_value())
    base_url = settings.watch_base_url
    # One set of locks for every writer of a document in this process, the relay included.
    locks = DocumentLocks()
    streams = StreamEventStore(infrastructure.database, locks=locks)
    links = StreamLinkStore(
        infrastructure.database,
        source=infrastructure.source,
        link_url=lambda registration_id: watch_url(base_url, tokens.token_for(registration_id)),
        locks=locks,
    )
    relay = OutboxRelay(infrastructure.publisher, [links.links], locks=locks)
    keeper = LinkKeeper(links=links, streams=streams, notify=relay.notify, clock=clock)
    deps = Dependencies(tokens=tokens, links=links, streams=streams, clock=clock)
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo streaming",
            subscriptions=[link_subscription(SERVICE, keeper)],
            routers=[watch_router(deps), operator_router(deps)],
            prepare_storage=links.create_indexes,
            relay=relay,
        ),
    )

"""Wiring of the streaming service: the one place its parts meet."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_streaming import handlers
from ilmo_streaming.settings import StreamingSettings
from ilmo_streaming.storage import ViewerStore

SERVICE = "streaming"


def build_app(settings: StreamingSettings) -> FastAPI:
    infrastructure = Infrastructure.create(SERVICE, settings)
    viewers = ViewerStore(infrastructure.database)
    registrations = Subscription(SERVICE, "registrations").on(
        RegistrationAccepted, partial(handlers.registration_accepted, viewers)
    )
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo streaming",
            subscriptions=[registrations],
            prepare_storage=viewers.create_indexes,
        ),
    )

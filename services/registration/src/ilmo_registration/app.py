"""Wiring of the registration service: the one place its parts meet."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_registration.api import registration_router
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.storage import RegistrationStore
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app

SERVICE = "registration"


def build_app(settings: RegistrationSettings) -> FastAPI:
    infrastructure = Infrastructure.create(SERVICE, settings)
    store = RegistrationStore(infrastructure.database, source=infrastructure.source)
    relay = OutboxRelay(infrastructure.publisher, [store.registrations])
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo registration",
            routers=[registration_router(store, relay)],
            prepare_storage=store.create_indexes,
            relay=relay,
        ),
    )

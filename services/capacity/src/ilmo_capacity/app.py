"""Wiring of the capacity service: the one place its parts meet."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from ilmo_capacity import handlers
from ilmo_capacity.settings import CapacitySettings
from ilmo_capacity.storage import SeatRequestStore
from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app

SERVICE = "capacity"


def build_app(settings: CapacitySettings) -> FastAPI:
    infrastructure = Infrastructure.create(SERVICE, settings)
    store = SeatRequestStore(infrastructure.database)
    # One active consumer at a time: seat decisions for an event must not race.
    registrations = Subscription(SERVICE, "registrations", single_active_consumer=True).on(
        RegistrationAccepted, partial(handlers.registration_accepted, store)
    )
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo capacity",
            subscriptions=[registrations],
            prepare_storage=store.create_indexes,
        ),
    )

"""Wiring of the capacity service: the one place its parts meet."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from ilmo_capacity import handlers
from ilmo_capacity.api import seats_router
from ilmo_capacity.settings import CapacitySettings
from ilmo_capacity.storage import COLLECTION, SeatInventoryStore
from ilmo_capacity.usecases import Seats
from ilmo_event_contracts import (
    EventPublished,
    EventUpdated,
    RegistrationAccepted,
    RegistrationCancelled,
)
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app

SERVICE = "capacity"


def seat_subscription(seats: Seats) -> Subscription:
    """Everything that changes an event's seats, on one queue, in the order it arrived.

    One active consumer at a time (the others stand by): decisions about seats
    must not race between replicas. Inside the active one the store takes a
    lock per event, and the store's versioned writes are the last defence.
    """
    details = partial(handlers.event_details_changed, seats)
    return (
        Subscription(SERVICE, "seat-decisions", single_active_consumer=True)
        .on(EventPublished, details)
        .on(EventUpdated, details)
        .on(RegistrationAccepted, partial(handlers.registration_accepted, seats))
        .on(RegistrationCancelled, partial(handlers.registration_cancelled, seats))
    )


def build_app(settings: CapacitySettings) -> FastAPI:
    infrastructure = Infrastructure.create(SERVICE, settings)
    store = SeatInventoryStore(
        infrastructure.database,
        outbox=infrastructure.outbox(COLLECTION),
        locks=infrastructure.locks,
    )
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo capacity",
            subscriptions=[seat_subscription(Seats(store))],
            routers=[seats_router(store)],
            prepare_storage=store.create_indexes,
        ),
    )

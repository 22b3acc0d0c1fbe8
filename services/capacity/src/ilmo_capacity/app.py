"""Wiring of the capacity service: the one place its parts meet."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_capacity.api import seats_router
from ilmo_capacity.handlers import seat_subscription
from ilmo_capacity.seat_gauges import SeatGaugeKeeper
from ilmo_capacity.settings import CapacitySettings
from ilmo_capacity.storage import COLLECTION, SeatInventoryStore
from ilmo_capacity.usecases import Seats
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.dead_letters import ParkedErasure
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app

SERVICE = "capacity"


def build_app(settings: CapacitySettings, *, clock: Clock = utc_now) -> FastAPI:
    """The service; ``clock`` is the time seat decisions are judged at (the promotion cutoff).

    The store keeps the real time for its housekeeping (snapshot retention).
    """
    infrastructure = Infrastructure.create(SERVICE, settings)
    store = SeatInventoryStore(
        infrastructure.database,
        outbox=infrastructure.outbox(COLLECTION),
        locks=infrastructure.locks,
    )
    seats = Seats(store, clock)
    gauge_keeper = SeatGaugeKeeper(seats.gauges, store.latest_states)
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo capacity",
            subscriptions=[
                seat_subscription(
                    SERVICE, seats, ParkedErasure(infrastructure.broker, SERVICE).erase
                )
            ],
            # Seat counts are for operators; nothing of capacity is public.
            operator_routers=[seats_router(seats)],
            prepare_storage=store.create_indexes,
            workers=[gauge_keeper],
        ),
    )

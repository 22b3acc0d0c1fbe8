"""Wiring of the registration service: the one place its parts meet."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_registration.api import (
    Clock,
    Dependencies,
    catalogue_router,
    registration_router,
    utc_now,
)
from ilmo_registration.handlers import status_subscription
from ilmo_registration.manage import manage_router
from ilmo_registration.problems import install_problem_handlers
from ilmo_registration.security import AdminGuard, ManageLinks
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.storage import EventStore, RegistrationStore
from ilmo_shared.outbox import OutboxRelay
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_shared.storage import DocumentLocks

SERVICE = "registration"


def build_app(settings: RegistrationSettings, *, clock: Clock = utc_now) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("the registration service needs ILMO_ADMIN_TOKEN")
    if settings.manage_link_secret is None:
        raise ValueError("the registration service needs ILMO_MANAGE_LINK_SECRET")
    infrastructure = Infrastructure.create(SERVICE, settings)
    locks = DocumentLocks()
    events = EventStore(infrastructure.database, source=infrastructure.source, locks=locks)
    registrations = RegistrationStore(
        infrastructure.database, source=infrastructure.source, locks=locks
    )
    relay = OutboxRelay(
        infrastructure.publisher, [events.events, registrations.registrations], locks=locks
    )
    deps = Dependencies(
        events=events,
        registrations=registrations,
        relay=relay,
        admin=AdminGuard(settings.admin_token),
        manage_links=ManageLinks(settings.manage_link_secret),
        settings=settings,
        clock=clock,
    )

    async def prepare_storage() -> None:
        await events.create_indexes()
        await registrations.create_indexes()

    app = create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo registration",
            subscriptions=[status_subscription(SERVICE, registrations)],
            routers=[catalogue_router(deps), registration_router(deps), manage_router(deps)],
            prepare_storage=prepare_storage,
            relay=relay,
        ),
    )
    app.description = (
        "Event catalogue and registrations for hybrid events. Errors are RFC 9457 problem "
        "details (application/problem+json) whose `type` is a relative URI under /problems/."
    )
    install_problem_handlers(app)
    return app

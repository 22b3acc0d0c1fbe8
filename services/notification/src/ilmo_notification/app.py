"""Wiring of the notification service: the one place its parts meet."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from ilmo_notification import handlers
from ilmo_notification.settings import NotificationSettings
from ilmo_notification.storage import ContactStore
from ilmo_shared.contracts import RegistrationAccepted
from ilmo_shared.messaging.subscription import Subscription
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app

SERVICE = "notification"


def build_app(settings: NotificationSettings) -> FastAPI:
    infrastructure = Infrastructure.create(SERVICE, settings)
    contacts = ContactStore(infrastructure.database)
    registrations = Subscription(SERVICE, "registrations").on(
        RegistrationAccepted, partial(handlers.registration_accepted, contacts)
    )
    return create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo notification",
            subscriptions=[registrations],
            prepare_storage=contacts.create_indexes,
        ),
    )

"""Wiring of the notification service: the one place its parts meet."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_notification.api import broadcasts_router, mails_router
from ilmo_notification.dispatcher import MailDispatcher
from ilmo_notification.domain import MailRetryPolicy
from ilmo_notification.handlers import email_subscription
from ilmo_notification.mailer import SmtpMailer, SmtpSettings
from ilmo_notification.rendering import MailRenderer
from ilmo_notification.scheduler import BroadcastScheduler
from ilmo_notification.settings import NotificationSettings
from ilmo_notification.storage import (
    MAILS,
    ContactStore,
    EventDetailsStore,
    MailAttemptStore,
    MailStore,
    NotificationStores,
    RosterStore,
    ScheduleStore,
)
from ilmo_notification.usecases import Broadcasts, Notifications
from ilmo_notification.waiting import MailsWaitingSampler
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.dead_letters import ParkedErasure
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_shared.settings import secret

SERVICE = "notification"


def build_app(settings: NotificationSettings, *, clock: Clock = utc_now) -> FastAPI:
    manage_link_secret = secret(settings, "manage_link_secret")
    infrastructure = Infrastructure.create(SERVICE, settings)
    database = infrastructure.database
    stores = NotificationStores(
        contacts=ContactStore(database, clock=clock),
        event_details=EventDetailsStore(database, clock=clock),
        mails=MailStore(
            database, outbox=infrastructure.outbox(MAILS), locks=infrastructure.locks, clock=clock
        ),
        attempts=MailAttemptStore(database, clock=clock),
        roster=RosterStore(database, locks=infrastructure.locks),
        schedule=ScheduleStore(database, locks=infrastructure.locks, clock=clock),
    )
    renderer = MailRenderer(
        mail_from=settings.mail_from,
        registration_public_url=str(settings.registration_public_url),
        manage_link_secret=manage_link_secret.get_secret_value(),
    )
    mailer = SmtpMailer(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            timeout=settings.smtp_timeout_seconds,
        )
    )
    dispatcher = MailDispatcher(
        stores,
        renderer,
        mailer,
        policy=MailRetryPolicy(
            max_attempts=settings.mail_max_attempts,
            base_seconds=settings.mail_retry_base_seconds,
            max_seconds=settings.mail_retry_max_seconds,
        ),
        concurrency=settings.mail_concurrency,
        poll_seconds=settings.mail_poll_seconds,
        batch_size=settings.mail_batch_size,
        lease_seconds=settings.mail_sending_lease_seconds,
        clock=clock,
    )
    scheduler = BroadcastScheduler(
        stores,
        wake_dispatcher=dispatcher.wake,
        poll_seconds=settings.schedule_poll_seconds,
        clock=clock,
    )
    broadcasts = Broadcasts(stores, scheduler.wake, clock)
    waiting = MailsWaitingSampler(
        stores.mails, interval=settings.mail_waiting_sample_seconds, clock=clock
    )
    app = create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo notification",
            subscriptions=[
                email_subscription(
                    SERVICE,
                    Notifications(stores, dispatcher.wake),
                    broadcasts,
                    ParkedErasure(infrastructure.broker, SERVICE).erase,
                    clock,
                )
            ],
            operator_routers=[
                mails_router(stores.mails, infrastructure.authorization, broadcasts),
                broadcasts_router(broadcasts),
            ],
            prepare_storage=stores.prepare,
            workers=[dispatcher, scheduler, waiting],
        ),
    )
    # For tests and tools that drive the service in-process.
    app.state.stores = stores
    app.state.dispatcher = dispatcher
    app.state.scheduler = scheduler
    app.state.broadcasts = broadcasts
    return app

"""Wiring of the registration service: the one place its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI, Request

from ilmo_registration import CATALOGUE
from ilmo_registration.api import catalogue_router, erasure_router, registration_router
from ilmo_registration.audit import AuditTrail
from ilmo_registration.audit_api import audit_router
from ilmo_registration.calendar import calendar_router
from ilmo_registration.confirm import confirm_router
from ilmo_registration.console.audit_page import audit_page_router
from ilmo_registration.console.cancellation import cancellation_router
from ilmo_registration.console.check_in import check_in_router
from ilmo_registration.console.continuation import continuation_router
from ilmo_registration.console.dashboard import dashboard_router
from ilmo_registration.console.events import events_router
from ilmo_registration.console.messages import messages_router
from ilmo_registration.console.other_services import OtherServices
from ilmo_registration.console.pages import refusal
from ilmo_registration.console.provider import Provider
from ilmo_registration.console.registrations import registrations_router
from ilmo_registration.console.session import (
    ConsoleAnswer,
    ConsoleSessions,
    SessionPolicy,
    answer,
    document_refusals,
)
from ilmo_registration.console.sign_in import sign_in_router
from ilmo_registration.csrf import FormTokens
from ilmo_registration.domain import ConfirmationPolicy
from ilmo_registration.door import Door
from ilmo_registration.expiry import claim_sweeper, expiry_sweeper
from ilmo_registration.handlers import (
    attendance_subscription,
    erasure_subscription,
    status_subscription,
)
from ilmo_registration.keyed_registration import KeyedRegistration
from ilmo_registration.manage import manage_router
from ilmo_registration.manage_attendance import attendance_router
from ilmo_registration.manage_details import details_router
from ilmo_registration.manage_link_api import manage_link_api_router
from ilmo_registration.manage_link_pages import manage_link_pages_router
from ilmo_registration.message_api import message_api_router
from ilmo_registration.openapi_links import document_links
from ilmo_registration.pages import error_page_response
from ilmo_registration.public import public_router
from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.retention import retention_sweeper
from ilmo_registration.security import ManageLinks
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.storage import (
    EVENT_COLLECTION,
    MESSAGE_COLLECTION,
    REGISTRATION_COLLECTION,
    EventStore,
    MessageStore,
    PrivacyNoticeStore,
    RegistrationStore,
)
from ilmo_registration.storage.audit import AuditStore
from ilmo_registration.storage.check_ins import CHECK_IN_COLLECTION, CheckInStore
from ilmo_registration.storage.console_sessions import ConsoleSessionStore
from ilmo_registration.storage.idempotency import IdempotencyStore
from ilmo_registration.storage.listing import RegistrationListing
from ilmo_registration.usecases import UseCases
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.dead_letters import ParkedErasure
from ilmo_shared.http.problems import PageErrors
from ilmo_shared.messaging.catch_up import CatchUpStream
from ilmo_shared.runtime import Infrastructure, ServiceParts, create_app
from ilmo_shared.settings import secret

SERVICE = "registration"
# Where the service serves pages for people: their errors are pages too.
PAGE_PREFIXES = ("/manage/", "/confirm/", "/events/", "/static/", "/console/")


@dataclass(frozen=True)
class Pages(PageErrors):
    """The pages' addresses: the prefixes, and the list of events at the root itself."""

    def serves(self, request: Request) -> bool:
        return request.url.path in ("/", "/console") or super().serves(request)


def console_provider(settings: RegistrationSettings) -> Provider | None:
    """The console's client at the identity provider; None until all three settings are given."""
    issuer, client_id, client_secret = (
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
    )
    if issuer is None or client_id is None or client_secret is None:
        return None
    return Provider(
        str(issuer),
        client_id,
        client_secret.get_secret_value(),
        audience=settings.oidc_audience,
        scope=settings.oidc_console_scope,
    )


def provider_origin(settings: RegistrationSettings) -> str | None:
    issuer = settings.oidc_issuer
    if issuer is None:
        return None
    default = {"http": 80, "https": 443}.get(issuer.scheme)
    port = f":{issuer.port}" if issuer.port not in (None, default) else ""
    return f"{issuer.scheme}://{issuer.host}{port}"


def build_app(settings: RegistrationSettings, *, clock: Clock = utc_now) -> FastAPI:
    manage_links = ManageLinks(secret(settings, "manage_link_secret"))
    infrastructure = Infrastructure.create(SERVICE, settings)
    events = EventStore(
        infrastructure.database,
        outbox=infrastructure.outbox(EVENT_COLLECTION),
        locks=infrastructure.locks,
        recent_seconds=settings.event_cache_seconds,
    )
    registrations = RegistrationStore(
        infrastructure.database,
        outbox=infrastructure.outbox(REGISTRATION_COLLECTION),
        locks=infrastructure.locks,
        listing=RegistrationListing(infrastructure.database, infrastructure.locks),
    )
    notices = PrivacyNoticeStore(
        infrastructure.database, recent_seconds=settings.event_cache_seconds
    )
    messages = MessageStore(
        infrastructure.database, outbox=infrastructure.outbox(MESSAGE_COLLECTION)
    )
    audit = AuditTrail(AuditStore(infrastructure.database), clock)
    authorization = infrastructure.authorization
    confirmations = ConfirmationPolicy(
        expires_after=timedelta(minutes=settings.confirmation_expiry_minutes),
        repeat_interval=timedelta(minutes=settings.repeat_mail_interval_minutes),
        link_interval=timedelta(minutes=settings.manage_link_mail_interval_minutes),
    )
    claims = IdempotencyStore(infrastructure.database)
    usecases = UseCases(
        events,
        registrations,
        notices,
        manage_links,
        clock,
        confirmations,
        messages,
        idempotency=claims,
    )
    keyed = KeyedRegistration(
        usecases,
        claims,
        secret(settings, "manage_link_secret").get_secret_value().encode(),
        lifetime=timedelta(hours=settings.idempotency_key_hours),
    )
    door = Door(
        usecases,
        CheckInStore(infrastructure.database, outbox=infrastructure.outbox(CHECK_IN_COLLECTION)),
    )
    sessions = ConsoleSessions(
        ConsoleSessionStore(infrastructure.database),
        usecases.now,
        SessionPolicy(
            idle=timedelta(minutes=settings.console_idle_minutes),
            absolute=timedelta(hours=settings.console_session_hours),
            secure=settings.public_base_url.scheme == "https",
            warn_before=timedelta(seconds=settings.console_timeout_warning_seconds),
        ),
        refusal,
    )
    services = OtherServices.from_settings(settings)
    rate_limits = RateLimits(settings)
    rate_limits.warn_if_off()
    form_tokens = FormTokens.from_secret(secret(settings, "manage_link_secret"))

    async def prepare_storage() -> None:
        await events.create_indexes()
        await registrations.create_indexes()
        await notices.keep_default(usecases.now())
        await messages.create_indexes()

    app = create_app(
        infrastructure,
        ServiceParts(
            title="Ilmo registration",
            catalogue=CATALOGUE,
            cors_origins=settings.cors_allowed_origins,
            description="Event catalogue and registrations for hybrid events.",
            subscriptions=[
                status_subscription(SERVICE, registrations),
                erasure_subscription(SERVICE, ParkedErasure(infrastructure.broker, SERVICE).erase),
                attendance_subscription(SERVICE, door),
            ],
            routers=[
                catalogue_router(usecases, authorization, audit, settings),
                registration_router(usecases, settings, rate_limits, keyed),
                manage_router(usecases),
                attendance_router(usecases),
                details_router(usecases),
                calendar_router(usecases, settings),
                erasure_router(usecases, authorization, audit),
                audit_router(authorization, audit),
                message_api_router(usecases, authorization, audit),
                confirm_router(usecases),
                public_router(
                    usecases,
                    rate_limits,
                    form_tokens,
                    keyed,
                    expiry_hours=max(1, round(settings.confirmation_expiry_minutes / 60)),
                ),
                manage_link_api_router(usecases, rate_limits),
                manage_link_pages_router(usecases, rate_limits, form_tokens),
                sign_in_router(
                    sessions,
                    console_provider(settings),
                    authorization.verifier,
                    public_url=settings.public_url(""),
                ),
                events_router(usecases, sessions, audit, services),
                cancellation_router(usecases, sessions, audit),
                messages_router(usecases, sessions, audit, services),
                registrations_router(usecases, sessions, audit, services),
                dashboard_router(usecases, sessions, services),
                audit_page_router(sessions, audit),
                check_in_router(door, sessions, audit),
                continuation_router(sessions),
            ],
            prepare_storage=prepare_storage,
            workers=[
                retention_sweeper(
                    usecases, interval_seconds=settings.retention_sweep_interval_seconds
                ),
                expiry_sweeper(usecases, settings.confirmation_sweep_seconds),
                claim_sweeper(keyed, settings.idempotency_sweep_seconds),
            ],
            pages=Pages(PAGE_PREFIXES, render=error_page_response),
            # The events' publisher keeps the week of them that integrators catch up from.
            declarations=[CatchUpStream()],
        ),
    )
    # A console dependency's own answer (a redirect to sign in, a refusal page).
    app.add_exception_handler(ConsoleAnswer, answer)
    # How the console refuses, and which answer feeds which request, in the document.
    document_refusals(app)
    document_links(app)
    # Where the sign-out form's redirect leads (console.pages.content_security_policy).
    app.state.console_provider_origin = provider_origin(settings)
    return app

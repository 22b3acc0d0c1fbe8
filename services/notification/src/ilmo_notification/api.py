"""The notification service's HTTP API for operators and for the console: counts, never addresses.

Served on the operations listener only (``ServiceParts.operator_routers``),
where every route needs ``read-counts``. A registration's mails and a
resend concern one person, so they need more: the caller must be one of
Ilmo's services (``Kind.SERVICE``, a client-credentials token of a client in
``ILMO_OIDC_SERVICE_CLIENTS``), i.e. the console, which asks on behalf of an
organiser it has checked (``read-personal-data``, ``change-registrations``)
and recorded in its audit trail. Operators read the counts, not a person's
mails.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ilmo_event_contracts import Audience, NotificationKind
from ilmo_notification import CATALOGUE
from ilmo_notification.storage import MailStore
from ilmo_notification.usecases import Broadcasts
from ilmo_shared.access import Kind, Permission, Principal
from ilmo_shared.http.problems import Problem, ProblemRoute, problem_responses
from ilmo_shared.i18n import _
from ilmo_shared.identity import Authorization, forbidden


class MailSummary(BaseModel):
    """Mails by kind and state (pending, waiting, sending, sent, failed, skipped)."""

    model_config = ConfigDict(frozen=True)

    kinds: dict[str, dict[str, int]] = Field(
        description="For each kind, how many mails are in each state. 'waiting' are pending "
        "mails whose contact or event details have not arrived; 'failed' are parked for an "
        "operator."
    )


class MailEntry(BaseModel):
    """One mail of a registration: its kind and where it is. No address, no text."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    state: str
    attempts: int
    created_at: datetime | None
    sent_at: datetime | None
    resent_from: str | None = Field(
        default=None, description="For a mail sent again: the mail it repeats."
    )


class RegistrationMails(BaseModel):
    mails: list[MailEntry]


class ResendRequest(BaseModel):
    mail_id: str = Field(min_length=1, max_length=300)
    request_id: str = Field(
        pattern=r"^[A-Za-z0-9-]{8,64}$",
        description="The same request id asks for the same mail: a repeat sends nothing new.",
    )


class Resent(BaseModel):
    mail_id: str


def mails_router(
    mails: MailStore, authorization: Authorization, broadcasts: Broadcasts | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=ProblemRoute)

    async def service_only(
        principal: Annotated[Principal, authorization.requires(Permission.READ_COUNTS)],
    ) -> Principal:
        if principal.kind is not Kind.SERVICE:
            raise forbidden()
        return principal

    @router.get("/mails/summary", response_model=MailSummary, summary="Mails by kind and state")
    async def summary(
        event_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> MailSummary:
        return MailSummary(kinds=await mails.summary(event_id))

    @router.get(
        "/registrations/{registration_id}/mails",
        response_model=RegistrationMails,
        dependencies=[Depends(service_only)],
        summary="A registration's mails: kinds, states, times, attempts (Ilmo's services only)",
        responses=problem_responses(401, 403),
    )
    async def registration_mails(
        registration_id: Annotated[str, Path(max_length=64)],
        attendance_version: Annotated[int, Query(ge=1, le=1000)] = 1,
    ) -> RegistrationMails:
        registration_id = registration_id.lower()
        also = await broadcasts.broadcast_mail_ids(registration_id) if broadcasts else []
        found = await mails.of_registration(registration_id, attendance_version, also)
        return RegistrationMails(mails=[_entry(mail) for mail in found])

    @router.post(
        "/registrations/{registration_id}/mails/resend",
        response_model=Resent,
        status_code=202,
        dependencies=[Depends(service_only)],
        summary="Send a registration's mail again (Ilmo's services only)",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def resend(
        registration_id: Annotated[str, Path(max_length=64)], body: ResendRequest
    ) -> Resent:
        known = body.mail_id.startswith(f"{registration_id}:")
        resent = await mails.resend(body.mail_id, body.request_id) if known else None
        if resent is None:
            raise Problem(
                404,
                "mail-not-found",
                _("Mail not found"),
                _("This registration has no such mail."),
                catalogue=CATALOGUE,
            )
        return Resent(mail_id=resent)

    return router


def _entry(mail: Mapping[str, Any]) -> MailEntry:
    occasion = str(mail.get("occasion", ""))
    resent_from = None
    if "/resend-" in occasion:
        base = occasion.split("/", 1)[0]
        original = f"{mail['_id'].split(':', 2)[0]}:{mail['kind']}"
        resent_from = f"{original}:{base}" if base else original
    return MailEntry(
        id=str(mail["_id"]),
        kind=str(mail["kind"]),
        state=str(mail["state"]),
        attempts=int(mail.get("attempts", 0)),
        created_at=mail.get("created_at"),
        sent_at=mail.get("sent_at"),
        resent_from=resent_from,
    )


class AudienceCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    audience: Audience
    recipients: int = Field(description="How many a message to this audience would reach now.")


class MessageProgressOut(BaseModel):
    """Where an organiser's message is: counts only."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    event_id: str
    audience: Audience
    state: Literal["waiting", "sending", "done"]
    recipients: int
    sent: int
    failed: int
    pending: int
    skipped: int = Field(
        description="Not sent: the registrant cancelled or was erased before their copy went out."
    )


class ScheduleItemOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    kind: NotificationKind
    due_at: datetime
    state: Literal["scheduled", "done", "missed", "dropped"]
    audience: Audience
    recipients: int | None
    sent: int | None
    failed: int | None


class EventSchedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    items: list[ScheduleItemOut]


def broadcasts_router(broadcasts: Broadcasts) -> APIRouter:
    """Audience sizes, message progress and an event's schedule, for the console."""
    router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=ProblemRoute)

    @router.get(
        "/events/{event_id}/audience",
        response_model=AudienceCount,
        summary="How many a message to an audience of the event would reach",
    )
    async def audience(
        event_id: Annotated[str, Path(max_length=100)],
        audience: Annotated[Audience, Query()] = Audience.ALL,
    ) -> AudienceCount:
        count = await broadcasts.audience_size(event_id, audience)
        return AudienceCount(event_id=event_id, audience=audience, recipients=count)

    @router.get(
        "/messages/{message_id}",
        response_model=MessageProgressOut,
        summary="Delivery of an organiser's message",
        responses=problem_responses(404),
    )
    async def message(message_id: UUID) -> MessageProgressOut:
        progress = await broadcasts.message_progress(str(message_id))
        if progress is None:
            raise Problem(
                404,
                "message-not-found",
                _("Message not found"),
                _("No such message has arrived here (yet)."),
                catalogue=CATALOGUE,
            )
        return MessageProgressOut(
            message_id=str(message_id),
            event_id=progress.event_id,
            audience=progress.audience,
            state=progress.state,
            recipients=progress.delivery.recipients,
            sent=progress.delivery.sent,
            failed=progress.delivery.failed,
            pending=progress.delivery.pending,
            skipped=progress.delivery.skipped,
        )

    @router.get(
        "/events/{event_id}/schedule",
        response_model=EventSchedule,
        summary="The event's reminders, notices and messages: scheduled, done, missed, dropped",
    )
    async def schedule(event_id: Annotated[str, Path(max_length=100)]) -> EventSchedule:
        items = await broadcasts.schedule_of(event_id)
        return EventSchedule(
            event_id=event_id,
            items=[
                ScheduleItemOut(
                    key=item.key,
                    kind=item.kind,
                    due_at=item.due_at,
                    state=item.state.value,
                    audience=item.audience,
                    recipients=item.delivery.recipients if item.delivery else None,
                    sent=item.delivery.sent if item.delivery else None,
                    failed=item.delivery.failed if item.delivery else None,
                )
                for item in items
            ],
        )

    return router

"""Messages to an event's registrants over the JSON API (``change-events``), as from the console.

The client chooses the message's id and ``PUT``s it: a repeat (a lost
answer, a retry) stores and announces nothing more, and answers 200 with the
message as first stored instead of 201. Notification sends each recipient
one mail per id; the console's message page shows delivery.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict

from ilmo_event_contracts import Audience, LocalizedText
from ilmo_registration.api import UseCaseRoute
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import message_sent
from ilmo_registration.schemas import MessageIn
from ilmo_registration.storage.messages import StoredMessage
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import problem_responses
from ilmo_shared.identity import Authorization


class MessageView(BaseModel):
    """A message as stored: what notification sends, in the organiser's words."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    event_id: str
    audience: Audience
    title: LocalizedText
    body: LocalizedText
    requested_at: datetime

    @classmethod
    def of(cls, stored: StoredMessage) -> "MessageView":
        return cls(
            message_id=stored.id,
            event_id=stored.event_id,
            audience=stored.audience,
            title=stored.title,
            body=stored.body,
            requested_at=stored.requested_at,
        )


def message_api_router(
    usecases: UseCases, authorization: Authorization, audit: AuditTrail
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"], route_class=UseCaseRoute)

    @router.put(
        "/events/{event_id}/messages/{message_id}",
        response_model=MessageView,
        status_code=status.HTTP_201_CREATED,
        summary="Send a message to the event's registrants (admin)",
        description="The audience is `all`, `on_site`, `remote` or `waiting_list`; title and "
        "body in fi (required), sv and en (missing ones fall back to Finnish). The client "
        "chooses `message_id` (a UUID): 201 when stored now, 200 with the message as first "
        "stored when that id was sent before (nothing is sent twice).",
        responses={
            200: {"model": MessageView, "description": "That message had been sent before."},
            **problem_responses(401, 403, 404, 422),
        },
    )
    async def send_message(
        event_id: Annotated[str, Path(max_length=100)],
        message_id: UUID,
        body: MessageIn,
        response: Response,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
    ) -> MessageView:
        title, text = body.localized()
        stored, new = await usecases.send_message(event_id, message_id, body.audience, title, text)
        if new:
            await audit.record(
                principal,
                Action.MESSAGE_SENT,
                event_id=event_id,
                detail=message_sent(stored.id, stored.audience.value),
            )
        else:
            response.status_code = status.HTTP_200_OK
        return MessageView.of(stored)

    return router

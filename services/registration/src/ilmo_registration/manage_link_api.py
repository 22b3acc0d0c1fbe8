"""Asking for one's manage link again over the JSON API: "send my link again".

A registrant who lost the mails with their manage link gives the event and
their address; if the address has a live registration for the event (pending
confirmation or accepted), notification mails its link there. The answer is
the same ``202``, body and headers whether it has or not, and the same work
is done up to that decision (``UseCases.request_manage_link``), so nobody
learns who registered. Each request is counted per client and per address
(``RateLimits.check_manage_link_request``) before anything is read.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ilmo_event_contracts import Language
from ilmo_registration.api import NO_STORE, UseCaseRoute
from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.schemas import Email
from ilmo_registration.usecases import UseCases
from ilmo_shared.http.problems import problem_responses

# What every request is answered, whoever asked about whichever address.
REQUESTED = (
    "If this address has a registration for the event, a mail with the link to it is on "
    "its way. It is sent only to that address."
)


class ManageLinkRequest(BaseModel):
    """Whose link to send again: the address registered with, and the mail's language."""

    model_config = ConfigDict(extra="forbid")

    email: Email = Field(description="The address the registration was made with.")
    language: Language | None = Field(
        default=None,
        description="The language of the mail (the page the person uses); by default the "
        "language of the registration.",
    )


class ManageLinkRequestAnswer(BaseModel):
    """The one answer to a request for a manage link: it says nothing about the address."""

    event_id: str
    detail: str = Field(
        description="The same text for every request; a client shows its own words, e.g. "
        "'If you are registered, we sent the link to that address.'"
    )


def manage_link_api_router(usecases: UseCases, rate_limits: RateLimits) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registrations"], route_class=UseCaseRoute)

    @router.post(
        "/events/{event_id}/manage-link-requests",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ManageLinkRequestAnswer,
        summary="Send the link to one's registration again",
        description="For a registrant who lost the mails with their manage link (the link "
        "to see, change or cancel their registration). If the address has a registration "
        "for this event that is pending confirmation or accepted, the link is mailed to that "
        "address (while pending, with the confirmation link too), in `language` if given, "
        "else in the registration's language. The answer is the same `202` whether or not "
        "the address is registered, so it tells nobody who registered; the link goes only "
        "to the address. A registration's link is mailed at most once per "
        "`ILMO_MANAGE_LINK_MAIL_INTERVAL_MINUTES` (5), however often it is asked for. "
        "Rate limited per client address and per email address.",
        responses={
            202: {
                "description": "Asked: the same answer, body and headers, whether or not the "
                "address is registered for the event."
            },
            **problem_responses(
                422,
                _404="No such published event (`/problems/not-found`).",
                _429="Too many requests from this client address, or for this email address "
                "(`/problems/too-many-requests`); `Retry-After` gives the seconds to wait. "
                "Answered alike whether or not the address is registered.",
            ),
        },
    )
    async def request_manage_link(
        event_id: str, body: ManageLinkRequest, request: Request, response: Response
    ) -> ManageLinkRequestAnswer:
        # Counted before any database work, so a refused request costs nothing more.
        await rate_limits.check_manage_link_request(request, str(body.email))
        await usecases.request_manage_link(event_id, str(body.email), body.language)
        response.headers.update(NO_STORE)
        return ManageLinkRequestAnswer(event_id=event_id, detail=REQUESTED)

    return router

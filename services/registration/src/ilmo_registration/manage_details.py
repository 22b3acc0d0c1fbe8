"""Correcting one's details from the manage page (GDPR Art. 16).

``GET /manage/{id}/details?token=…`` shows the form filled in with what is
stored; ``POST /manage/{id}/details`` reads it (``correction_form``) and
corrects through the same use case as ``PATCH /api/v1/registrations/{id}``,
then leads back (303) to the manage page. What is wrong comes back on the
form, next to each field and in the summary, with what was typed (422).
Once no correction is possible any more (cancelled, the event over), both
lead back to the manage page, which no longer offers the form. Like the
manage page's other forms, this one needs no CSRF token of its own: it
posts the secret link token, which another site does not know.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_registration import correction_form
from ilmo_registration.domain import (
    Cancelled,
    Erased,
    EventEnded,
    NeedsWithoutConsent,
)
from ilmo_registration.forms import form_fields
from ilmo_registration.manage import (
    HTML,
    TOKEN_PARAMETER,
    back_to_manage_page,
    chosen_language,
    follow,
    gone_or_wrong,
    manage_chrome,
    manage_page_model,
)
from ilmo_registration.pages import correction_page
from ilmo_registration.rendering import page_response
from ilmo_registration.usecases import UseCases, stored_details
from ilmo_shared.http.problems import ProblemRoute

# Names of 100, an organisation of 200 and needs of 500 characters, percent-encoded.
MAX_FORM_BYTES = 16 * 1024


def details_router(usecases: UseCases) -> APIRouter:
    router = APIRouter(prefix="/manage", tags=["manage pages"], route_class=ProblemRoute)

    @router.get(
        "/{registration_id}/details",
        response_class=HTMLResponse,
        summary="The form that corrects one's details (HTML)",
        description="Filled in with what is stored. Once no correction is possible, back to "
        "the manage page.",
        responses={
            200: HTML,
            303: {"description": "Nothing to correct any more; back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
        },
        openapi_extra={"parameters": [TOKEN_PARAMETER]},
    )
    async def show_form(registration_id: str, request: Request) -> Response:
        token = request.query_params.get("token")
        found = await follow(usecases, registration_id, token)
        if isinstance(found, Response):
            return found
        assert token is not None  # follow() answered 404 otherwise
        page = manage_page_model(found, token, request)
        if not found.correctable:
            return back_to_manage_page(
                registration_id, token, chosen_language(request.query_params)
            )
        form = correction_form.filled_in(stored_details(found.registration.registrant))
        html = correction_page(page, form, [], manage_chrome(request, page.language))
        return page_response(200, html)

    @router.post(
        "/{registration_id}/details",
        response_class=HTMLResponse,
        status_code=303,
        summary="Correct one's details from the manage page (HTML form)",
        description="Corrects as `PATCH /api/v1/registrations/{id}` does, then redirects to "
        "the manage page; a form with errors comes back with them (422).",
        responses={
            303: {"description": "Corrected (or nothing to correct); back to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            410: {"description": "The registration was erased.", **HTML},
            422: {"description": "The form has errors; shown next to each field.", **HTML},
        },
    )
    async def correct_from_form(registration_id: str, request: Request) -> Response:
        fields = await form_fields(request, MAX_FORM_BYTES) or {}
        token, chosen = fields.get("token"), chosen_language(fields)
        found = await follow(usecases, registration_id, token)
        if isinstance(found, Response):
            return found
        assert token is not None
        stored = stored_details(found.registration.registrant)
        submission = correction_form.read(fields, stored)
        if submission.request is not None:
            try:
                await usecases.update_details(registration_id, token, submission.request.changes())
                return back_to_manage_page(registration_id, token, chosen)
            except (Cancelled, EventEnded):
                return back_to_manage_page(registration_id, token, chosen)
            except Erased as refused:
                return gone_or_wrong(refused)
            except NeedsWithoutConsent:
                submission = correction_form.consent_missing(submission)
        page = manage_page_model(found, token, request)
        html = correction_page(
            page, submission.input, submission.errors, manage_chrome(request, page.language)
        )
        return page_response(422, html)

    return router

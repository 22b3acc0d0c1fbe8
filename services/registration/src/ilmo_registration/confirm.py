"""The confirmation page: where the link in the "confirm your address" mail leads.

``GET /confirm/{id}?token=…`` shows a page with one button and changes
nothing: mail scanners and link previews follow links with GET, and must not
confirm anybody. The button posts ``POST /confirm/{id}`` (form field
``token``), which confirms (``UseCases.confirm``) and redirects (303) to the
registration's manage page, which shows its state. Confirming again is
harmless and leads to the same page. The token is the confirmation link
token (``ilmo_shared.manage_links``), checked before anything is read, so a
wrong token and an unknown id get the same 404 page. An expired registration
gets a page that says so (410), one whose registration closed before it was
confirmed another (409); neither stores anything.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_registration.domain import ConfirmationExpired, NotFound, RegistrationClosed
from ilmo_registration.manage import HTML, TOKEN_FORM, form_token
from ilmo_registration.page_language import of_request, switcher
from ilmo_registration.pages import (
    Chrome,
    confirm_page,
    confirmation_closed_page,
    confirmation_expired_page,
    error_page_response,
    manage_page_of,
)
from ilmo_registration.rendering import page_response, redirect
from ilmo_registration.usecases import UseCases
from ilmo_shared.http.problems import ProblemRoute

_TOKEN_PARAMETER = {
    "name": "token",
    "in": "query",
    "required": True,
    "description": "The confirmation link token from the email (ilmo_shared.manage_links).",
    "schema": {"type": "string"},
}


def confirm_router(usecases: UseCases) -> APIRouter:
    router = APIRouter(prefix="/confirm", tags=["manage pages"], route_class=ProblemRoute)

    @router.get(
        "/{registration_id}",
        response_class=HTMLResponse,
        summary="The page behind the link in the 'confirm your address' email (HTML)",
        description="A button that confirms; opening the page changes nothing. "
        "A wrong link gets the 404 page.",
        responses={200: HTML, 404: {"description": "Wrong link.", **HTML}},
        openapi_extra={"parameters": [_TOKEN_PARAMETER]},
    )
    async def show_page(registration_id: str, request: Request) -> Response:
        token = request.query_params.get("token")
        if token is None or not usecases.confirmation_link_matches(registration_id, token):
            return error_page_response(404)
        shown = of_request(request)
        chrome = Chrome(root="../", switcher=switcher(request, shown.language))
        return page_response(200, confirm_page(registration_id, token, shown.language, chrome))

    @router.post(
        "/{registration_id}",
        response_class=HTMLResponse,
        status_code=303,
        summary="Confirm the address (HTML form)",
        description="Accepts the pending registration as of now (`registration.accepted`), "
        "then redirects to its manage page. Repeating it is harmless.",
        responses={
            303: {"description": "Confirmed (or confirmed before); to the manage page."},
            404: {"description": "Wrong link.", **HTML},
            409: {"description": "Registration closed before the confirmation.", **HTML},
            410: {"description": "The registration expired unconfirmed.", **HTML},
        },
        openapi_extra={"requestBody": TOKEN_FORM},
    )
    async def confirm(registration_id: str, request: Request) -> Response:
        token = await form_token(request)
        if token is None:
            return error_page_response(404)
        try:
            await usecases.confirm(registration_id, token)
        except NotFound:
            return error_page_response(404)
        except ConfirmationExpired:
            return page_response(410, confirmation_expired_page())
        except RegistrationClosed:
            return page_response(409, confirmation_closed_page())
        manage = manage_page_of(
            registration_id, usecases.manage_links.manage_token(registration_id)
        )
        return redirect(manage)

    return router

"""Signing in to the console and out of it: OpenID Connect's authorization code flow with PKCE.

``GET /console/sign-in?next=`` keeps a new attempt (state, nonce, PKCE
verifier, where to return: only a ``/console`` address) server-side under a
short-lived cookie of its own and sends the browser to the provider.
``GET /console/signed-in`` is where the provider sends it back: the attempt
is taken (once), its state compared, the code exchanged, the ID token
verified (signature, issuer, audience = the console's client, expiry,
nonce) and the access token turned into the ``Principal`` it proves
(``TokenVerifier``, roles from ``ILMO_OIDC_ROLES_CLAIM``). Only then is a
session opened (``ConsoleSessions.open``). A person with none of Ilmo's
roles gets a page saying so, and no session; an error from the provider,
a stale or forged answer, a provider that does not answer: each a page
saying what happened, never a 500.

``POST /console/sign-out`` (CSRF-checked like every console form) deletes
the session, then sends the browser to the provider's
``end_session_endpoint`` with ``id_token_hint``, which ends the provider's
own session and comes back to ``GET /console/signed-out``.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_registration.console.pages import message
from ilmo_registration.console.provider import Attempt, Provider, ProviderUnavailable
from ilmo_registration.console.session import (
    PATH,
    ConsoleSession,
    ConsoleSessions,
    aware,
    cookie_value,
    digest,
    local_target,
)
from ilmo_registration.pages import Link
from ilmo_registration.rendering import PAGE_HEADERS
from ilmo_shared.access import Kind, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _
from ilmo_shared.identity import InvalidToken, TokenVerifier

log = structlog.get_logger(__name__)

SIGN_IN_COOKIE = "ilmo_console_sign_in"
# Time enough to type a password and answer a second factor; then start again.
ATTEMPT_LIFETIME = timedelta(minutes=10)
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}

NOT_SET_UP = _("Signing in is not set up")
NOT_SET_UP_TEXT = _(
    "This service has no identity provider for the console yet. Ask the service's administrator."
)
UNAVAILABLE = _("The sign-in service did not answer")
UNAVAILABLE_TEXT = _("You were not signed in. Try again in a moment.")
CANCELLED = _("You did not sign in")
CANCELLED_TEXT = _("Signing in was cancelled or refused at the sign-in service. Nothing changed.")
FAILED = _("Signing in did not succeed")
FAILED_TEXT = _(
    "The answer from the sign-in service could not be accepted: it came too late, twice, or "
    "for another sign-in. Start again."
)
NO_ROLE = _("You have no role in Ilmo")
NO_ROLE_TEXT = _(
    "You signed in, but you have none of Ilmo's roles (organiser, viewer, door staff or "
    "operator), so there is nothing here for you yet. Ask your administrator for a role."
)
SIGNED_OUT = _("You have signed out")
SIGNED_OUT_TEXT = _(
    "Your session in the Ilmo console has ended. Close the browser on a shared computer."
)
SIGN_IN_AGAIN = _("Sign in again")


class SignInRefused(Exception):  # noqa: N818 (what happened, as the page says it)
    """The provider's answer cannot make a session; ``reason`` is for the log, never the page."""


def sign_in_router(
    sessions: ConsoleSessions,
    provider: Provider | None,
    verifier: TokenVerifier,
    *,
    public_url: str,
) -> APIRouter:
    """The sign-in, its callback, sign-out and the signed-out page under ``/console``."""
    router = APIRouter(prefix=PATH, tags=["console"], route_class=ProblemRoute)
    redirect_uri = f"{public_url.rstrip('/')}{PATH}/signed-in"
    signed_out_uri = f"{public_url.rstrip('/')}{PATH}/signed-out"
    secure = public_url.startswith("https://")
    again = Link(f"{PATH}/sign-in", SIGN_IN_AGAIN)
    signed_in_session = sessions.signed_in()

    @router.get(
        "/sign-in",
        summary="Sign in to the console (to the identity provider)",
        responses={
            303: {"description": "To the provider, or on if signed in already."},
            502: {"description": "The provider did not answer.", **HTML},
            503: {"description": "No identity provider is set up (`ILMO_OIDC_*`).", **HTML},
        },
    )
    async def sign_in(request: Request, next: str | None = None) -> Response:
        target = local_target(next)
        if await sessions.current(request) is not None:
            return _see_other(target)
        if provider is None:
            return message(request, NOT_SET_UP, [NOT_SET_UP_TEXT], status=503)
        attempt = Attempt.new()
        try:
            location = await provider.authorization_url(attempt, redirect_uri)
        except ProviderUnavailable:
            return message(request, UNAVAILABLE, [UNAVAILABLE_TEXT], status=502, link=again)
        value = Attempt.new().state  # the cookie's own random value
        await sessions.store.delete_sign_ins_before(sessions.clock() - ATTEMPT_LIFETIME)
        await sessions.store.begin_sign_in(
            digest(value),
            {
                "state": attempt.state,
                "nonce": attempt.nonce,
                "verifier": attempt.verifier,
                "next": target,
                "created_at": sessions.clock(),
            },
        )
        response = _see_other(location)
        response.set_cookie(
            SIGN_IN_COOKIE,
            value,
            max_age=int(ATTEMPT_LIFETIME.total_seconds()),
            path=PATH,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return response

    @router.get(
        "/signed-in",
        response_class=HTMLResponse,
        summary="Where the identity provider sends the browser back (OpenID Connect callback)",
        responses={
            303: {"description": "Signed in; on to the page asked for."},
            400: {"description": "Cancelled, stale or forged answer.", **HTML},
            403: {"description": "Signed in, but with none of Ilmo's roles.", **HTML},
            502: {"description": "The provider did not answer.", **HTML},
            503: {"description": "No identity provider is set up (`ILMO_OIDC_*`).", **HTML},
        },
    )
    async def signed_in(request: Request) -> Response:
        value = cookie_value(request, SIGN_IN_COOKIE)
        kept = await sessions.store.take_sign_in(digest(value)) if value is not None else None
        params = request.query_params
        if provider is None:
            return message(request, NOT_SET_UP, [NOT_SET_UP_TEXT], status=503)
        if kept is not None and "error" in params and params.get("state") == kept["state"]:
            return _forget(message(request, CANCELLED, [CANCELLED_TEXT], status=400, link=again))
        if kept is None or _stale(kept["created_at"], sessions.clock()):
            return _forget(message(request, FAILED, [FAILED_TEXT], status=400, link=again))
        attempt = Attempt(kept["state"], kept["nonce"], kept["verifier"])
        try:
            principal, id_token = await _verified(
                provider, verifier, attempt, params.get("state"), params.get("code"), redirect_uri
            )
        except ProviderUnavailable:
            return _forget(
                message(request, UNAVAILABLE, [UNAVAILABLE_TEXT], status=502, link=again)
            )
        except SignInRefused:
            return _forget(message(request, FAILED, [FAILED_TEXT], status=400, link=again))
        if not principal.roles:
            return _forget(message(request, NO_ROLE, [NO_ROLE_TEXT], status=403))
        response = _forget(_see_other(local_target(kept["next"])))
        await sessions.open(response, principal, id_token)
        return response

    @router.post(
        "/sign-out",
        summary="Sign out of the console (and of the identity provider)",
        responses={303: {"description": "To the provider's logout, then the signed-out page."}},
    )
    async def sign_out(
        request: Request, session: Annotated[ConsoleSession, signed_in_session]
    ) -> Response:
        location = f"{PATH}/signed-out"
        if provider is not None:
            # The session here is what matters: it ends even if the provider does not answer.
            with suppress(ProviderUnavailable):
                location = await provider.logout_url(session.id_token, signed_out_uri) or location
        response = _see_other(location)
        await sessions.close(request, response)
        return response

    @router.get(
        "/signed-out",
        response_class=HTMLResponse,
        summary="After signing out (HTML)",
        responses={200: HTML},
    )
    async def signed_out(request: Request) -> Response:
        return message(request, SIGNED_OUT, [SIGNED_OUT_TEXT], link=again)

    return router


async def _verified(
    provider: Provider,
    verifier: TokenVerifier,
    attempt: Attempt,
    state: str | None,
    code: str | None,
    redirect_uri: str,
) -> tuple[Principal, str]:
    """The person the provider's answer proves, and their ID token; ``SignInRefused`` otherwise."""
    if state is None or code is None or state != attempt.state:
        raise SignInRefused("state")
    tokens = await provider.exchange(code, attempt, redirect_uri)
    try:
        identity = await verifier.claims(tokens.id_token, audience=provider.client_id)
        principal = await verifier.principal(tokens.access_token, audience=provider.audience)
    except InvalidToken as invalid:
        log.warning("console_sign_in_refused", reason=invalid.reason)
        raise SignInRefused(invalid.reason) from None
    if identity.get("nonce") != attempt.nonce or identity.get("sub") != principal.subject:
        log.warning("console_sign_in_refused", reason="nonce or subject")
        raise SignInRefused("nonce or subject")
    if principal.kind is not Kind.PERSON:
        log.warning("console_sign_in_refused", reason="not a person", kind=principal.kind.value)
        raise SignInRefused("not a person")
    return principal, tokens.id_token


def _stale(created_at: datetime, now: datetime) -> bool:
    return now - aware(created_at) > ATTEMPT_LIFETIME


def _see_other(location: str) -> Response:
    return Response(status_code=303, headers={**PAGE_HEADERS, "Location": location})


def _forget(response: Response) -> Response:
    """The attempt is used up: its cookie goes too."""
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH, httponly=True, samesite="lax")
    return response

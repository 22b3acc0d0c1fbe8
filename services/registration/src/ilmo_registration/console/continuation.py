"""Continuing a session from its timeout warning, and the script that offers it.

``POST /console/session/continue`` is what the warning's "Continue
session" button sends (``static/console-timeout.js``, with the session's
CSRF token in the form body, checked by ``ConsoleSessions`` as for every
console form). Any signed-in person may send it: it restarts their own
session's idle time and answers 204. It cannot move the absolute end; the
warning says when that is instead of offering to continue. Signed out or
expired: the usual 303 to the sign-in, which the script reads as "ended".
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from typing import Annotated

from fastapi import APIRouter, Request, Response

from ilmo_registration.console.session import ConsoleSession, ConsoleSessions
from ilmo_registration.rendering import SCRIPT, script
from ilmo_shared.http.problems import ProblemRoute

SCRIPT_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


def continuation_router(sessions: ConsoleSessions) -> APIRouter:
    """``POST /console/session/continue`` and ``GET /static/console-timeout.js``."""
    router = APIRouter(tags=["console"], route_class=ProblemRoute)
    signed_in = sessions.signed_in()

    @router.post(
        "/console/session/continue",
        summary="Continue the console session (its idle time starts again)",
        status_code=204,
        responses={303: {"description": "Not signed in any more: to the sign-in."}},
    )
    async def continue_session(
        request: Request, _session: Annotated[ConsoleSession, signed_in]
    ) -> Response:
        await sessions.extend(request)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    @router.get(
        f"/static/{SCRIPT}",
        summary="The console's timeout warning script",
        response_class=Response,
        responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
    )
    async def timeout_script() -> Response:
        return Response(script(), media_type="text/javascript", headers=SCRIPT_HEADERS)

    return router

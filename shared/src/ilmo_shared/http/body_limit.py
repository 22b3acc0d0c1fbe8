"""A cap on request bodies: ``413`` problem details (or the HTML page) past the limit.

A body is refused before it is read when its ``Content-Length`` is over the
limit, and while it streams when a chunked body grows past it: the app reads
at most the limit plus the one chunk that crossed it, never the rest. The
answer is ``/problems/content-too-large``, or a service's own 413 page under
its page prefixes, like every other error there.

The connection stays open: uvicorn reads the unread rest of a refused body
and drops it (it buffers none of it), so the client, which may still be
sending, reads the 413 rather than a connection reset, as it would if the
server closed a socket with unread bytes in it. How long a client may go on
sending is the ingress's to bound (docs/security.md).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilmo_shared.http.problems import PageErrors, api_language, http_problem
from ilmo_shared.i18n import _

CONTENT_TOO_LARGE = 413


class ContentTooLarge(HTTPException):
    """Raised from ``receive`` when the body grows past the limit.

    An ``HTTPException``, so FastAPI passes it through its body parsing and
    the app's own handlers answer it (problem details, or a page) wherever
    the app was reading; the middleware answers it if it gets that far.
    """

    # The detail's message id and values, for the problem in the client's language.
    message = _("The request body is larger than %(limit)s bytes.")

    def __init__(self, limit: int) -> None:
        self.values = {"limit": limit}
        super().__init__(CONTENT_TOO_LARGE, self.message % self.values)


class BodyLimitMiddleware:
    """Refuses a request body larger than ``max_bytes`` with 413.

    A plain ASGI middleware: it counts the bytes as the app reads them and
    buffers nothing itself.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, pages: PageErrors | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ContentTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except ContentTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if self.pages is not None and str(scope.get("path", "")).startswith(self.pages.prefixes):
            response = self.pages.render(CONTENT_TOO_LARGE, None)
        else:
            refused = ContentTooLarge(self.max_bytes)
            answer = http_problem(CONTENT_TOO_LARGE, refused.message, values=refused.values)
            language = api_language(Headers(scope=scope).get("accept-language"))
            response = answer.response(language)
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)

"""Correlation ids: one per request, in the logs and in the events the request causes."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilmo_shared.logging import correlation_scope

CORRELATION_HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    """Binds the request's correlation id (or a new one) for logs and the events it causes.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, so
    the request is not copied through an extra task and stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_HEADER)
        if incoming is not None and not (0 < len(incoming) <= 100 and incoming.isprintable()):
            incoming = None
        with correlation_scope(incoming) as correlation_id:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                await send(message)

            await self.app(scope, receive, send_with_id)

"""Correlation ids: one per request, in the logs and in the events the request causes.

Ilmo makes its own id for every request and never takes the client's: a
client's ``X-Correlation-ID`` is input from outside, and the events a request
causes travel to other systems. When a client sends one, the pair is logged
once, so that a client's report can be followed to Ilmo's id; the answer
carries Ilmo's id in the same header.
"""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilmo_shared.logging import correlation_scope

CORRELATION_HEADER = "X-Correlation-ID"
# What a client may send to be logged beside Ilmo's id; anything else is ignored.
MAX_CLIENT_ID_LENGTH = 100

log = structlog.get_logger(__name__)


def client_correlation_id(scope: Scope) -> str | None:
    """The client's correlation id if it is a short printable text, else None."""
    incoming = Headers(scope=scope).get(CORRELATION_HEADER)
    if incoming is None or not (0 < len(incoming) <= MAX_CLIENT_ID_LENGTH):
        return None
    return incoming if incoming.isprintable() else None


class CorrelationIdMiddleware:
    """Binds a new correlation id for the request's logs and the events it causes.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, so
    the request is not copied through an extra task and stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with correlation_scope(None) as correlation_id:
            client_id = client_correlation_id(scope)
            if client_id is not None:
                log.info(
                    "client_correlation_id",
                    client_correlation_id=client_id,
                    correlation_id=correlation_id,
                )

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                await send(message)

            await self.app(scope, receive, send_with_id)

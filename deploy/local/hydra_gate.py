"""One request at a time into the development Hydra: its public and admin ports, behind one lock.

Hydra keeps clients, keys and sign-in flows in SQLite (.local/hydra), and
SQLite takes one writer at a time: requests that arrive together (several
test sessions signing in at once) fail inside Hydra with "database is
locked" or "Unable to serialize access due to a concurrent update", as 500s.
Neither WAL nor a busy timeout nor a smaller connection pool cured that (the
pool then deadlocks), so this gate listens on the addresses everybody uses,
the issuer http://127.0.0.1:4444/ and the admin API 127.0.0.1:4445, and
passes each request on to Hydra's own ports (4454 and 4455, hydra.yml) only
once the one before has been answered. A Hydra request takes milliseconds,
so the queue stays short. Production providers are not behind anything
like it.

Started and stopped by ``deploy/local/infra.sh``; it can also be run directly::

    uv run --frozen python deploy/local/hydra_gate.py \\
        --listen 127.0.0.1:4444=http://127.0.0.1:4454 --listen 127.0.0.1:4445=http://127.0.0.1:4455
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

# Hop-by-hop headers, and those httpx recomputes for the body it passes on.
_NOT_FORWARDED = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)
_NOT_RETURNED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_gate(
    upstreams: Mapping[int, str], transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """An app that passes each request to the upstream of the port it came in on.

    One lock for all ports: Hydra's public and admin ports share one database.
    ``transport`` replaces the network, for tests.
    """
    lock = asyncio.Lock()
    http = httpx.AsyncClient(timeout=30.0, follow_redirects=False, transport=transport)

    async def forward(request: Request) -> Response:
        upstream = upstreams[request.scope["server"][1]]
        body = await request.body()
        headers = [
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in _NOT_FORWARDED
        ]
        outgoing = http.build_request(
            request.method,
            f"{upstream}{request.url.path}",
            params=request.url.query,
            headers=headers,
            content=body,
        )
        try:
            async with lock:
                answer = await http.send(outgoing)
        except httpx.HTTPError as error:
            return PlainTextResponse(f"Hydra does not answer at {upstream}: {error!r}", 502)
        returned = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.multi_items()
            if name.lower() not in _NOT_RETURNED
        ]
        response = Response(answer.content, status_code=answer.status_code)
        response.raw_headers = [*returned, (b"content-length", str(len(answer.content)).encode())]
        return response

    return Starlette(
        routes=[Route("/{path:path}", forward, methods=METHODS)], lifespan=_closing(http)
    )


def _closing(http: httpx.AsyncClient) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await http.aclose()

    return lifespan


def _route(text: str) -> tuple[str, int, str]:
    """``host:port=upstream`` as its parts."""
    address, _, upstream = text.partition("=")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not upstream.startswith("http://"):
        raise argparse.ArgumentTypeError(f"expected host:port=http://upstream, got {text!r}")
    return host, int(port), upstream.rstrip("/")


def serve(routes: list[tuple[str, int, str]]) -> None:
    """One server (so one set of signal handlers) listening on every route's address."""
    listening = []
    for host, port, _ in routes:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        listening.append(sock)
    app = create_gate({port: upstream for _, port, upstream in routes})
    # The upstream's own Date and Server headers are passed on as they are.
    config = uvicorn.Config(app, log_level="warning", server_header=False, date_header=False)
    uvicorn.Server(config).run(sockets=listening)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", type=_route, action="append", required=True)
    serve(parser.parse_args().listen)


if __name__ == "__main__":
    main()

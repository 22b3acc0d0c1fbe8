"""A TCP relay in front of a real server, which a test can take down and bring back.

Tests of outages must not stop the machine's shared RabbitMQ or FerretDB
(other test sessions and a developer's ``make run`` use them). Services are
pointed at a relay instead: while it is down, its port refuses connections
and every connection it carried is cut, which is what a client sees when the
server's machine goes away; brought back up on the same port, it forwards
again to the same server, whose state is unchanged.

It runs its own event loop in a thread, like the test SMTP server, so it
keeps relaying while a test blocks its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from tests.support.processes import free_port


class TcpRelay:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port`` while up."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread.start()

    def up(self) -> None:
        """Listen (again) on the same port."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def down(self) -> None:
        """Refuse new connections and cut every open one."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        self._writers |= {client, server}
        try:
            await asyncio.gather(_pipe(client_reader, server), _pipe(server_reader, client))
        finally:
            for writer in (client, server):
                self._writers.discard(writer)
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.transport.abort()


@contextmanager
def relay_to(host: str, port: int, *, up: bool = True) -> Iterator[TcpRelay]:
    """A relay to ``host:port``, listening if ``up``, closed afterwards."""
    relay = TcpRelay(host, port)
    if up:
        relay.up()
    try:
        yield relay
    finally:
        relay.close()


def through(url: str, relay: TcpRelay) -> str:
    """``url`` with its host and port replaced by the relay's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{relay.port}" if credentials else f"127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def server_of(url: str) -> tuple[str, int]:
    """The host and port ``url`` points at: what a relay forwards to."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0

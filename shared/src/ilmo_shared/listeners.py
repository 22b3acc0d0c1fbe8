"""A service process's two HTTP listeners, public and operations, served in one event loop.

Both are uvicorn servers on the same loop, sharing one lifespan (the
service's ``Lifecycle``, entered once here rather than by either server), so
the operator routes read the same stores the public ones write. The order:

1. both addresses are bound before anything starts: if either cannot be
   (in use, not an address of this host), the process logs
   ``listener_bind_failed`` naming the listener and its address and exits
   with code 1, having connected to nothing;
2. the lifespan starts the lifecycle, then both servers serve;
3. SIGTERM or Ctrl-C (or ``stop()``, which the lifecycle calls on a fatal
   fault) makes both stop accepting and finish what they hold; then the
   lifespan stops the lifecycle. A second Ctrl-C stops waiting for open
   connections. Should one server end by itself, the other is stopped too:
   a process with half its listeners is not one a supervisor would restart.

uvicorn installs its own signal handlers in ``Server.serve``, one server's
at a time; ``Listener`` turns that off and the loop's handlers here stop
both, so neither server depends on which one took the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ListenerUnavailableError(Exception):
    """An address a listener is configured for cannot be bound."""

    def __init__(self, listener: str, address: str, reason: str) -> None:
        super().__init__(f"{listener} listener at {address}: {reason}")
        self.listener = listener
        self.address = address
        self.reason = reason


class Listener(uvicorn.Server):
    """One uvicorn server that leaves signals to ``Listeners``."""

    def __init__(self, name: str, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.name = name

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the process stops both listeners together (``Listeners``)."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("listener_started", listener=self.name, address=self.address)

    @property
    def address(self) -> str:
        host = self.config.host
        return f"[{host}]:{self.config.port}" if ":" in host else f"{host}:{self.config.port}"

    def bind(self) -> socket.socket:
        """A listening socket on the configured address, or ``ListenerUnavailableError``."""
        host, port = self.config.host, self.config.port
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            return socket.create_server((host, port), family=family, backlog=self.config.backlog)
        except socket.gaierror as error:  # the host name does not resolve
            reason = str(error.strerror)
        except OSError as error:  # in use, not this host's, not allowed
            reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenerUnavailableError(self.name, self.address, reason)


@dataclass
class Listeners:
    """The servers of one process, the app whose lifespan they share, and how they stop."""

    lifespan_app: FastAPI
    servers: Sequence[Listener]
    _sockets: list[socket.socket] = field(default_factory=list)

    def bind(self) -> None:
        """Bind every server's address, or close what was bound and raise for the first refused."""
        try:
            for server in self.servers:
                self._sockets.append(server.bind())
        except ListenerUnavailableError:
            self.close()
            raise

    def close(self) -> None:
        for bound in self._sockets:
            bound.close()
        self._sockets.clear()

    def stop(self) -> None:
        """Make every server stop accepting and finish what it holds."""
        for server in self.servers:
            server.should_exit = True

    def _signalled(self, received: signal.Signals) -> None:
        """SIGTERM or Ctrl-C stops both; a second Ctrl-C stops waiting for connections."""
        if received is signal.SIGINT and any(server.should_exit for server in self.servers):
            for server in self.servers:
                server.force_exit = True
        self.stop()

    @property
    def started(self) -> bool:
        return all(server.started for server in self.servers)

    def run(self) -> None:
        """``serve`` in a new event loop of the kind uvicorn would choose (uvloop if installed)."""
        with asyncio.Runner(loop_factory=self.servers[0].config.get_loop_factory()) as runner:
            runner.run(self.serve())

    async def serve(self) -> None:
        """Serve on the bound sockets until stopped; the lifespan runs once around both."""
        loop = asyncio.get_running_loop()
        for stop_signal in STOP_SIGNALS:
            loop.add_signal_handler(stop_signal, self._signalled, stop_signal)
        try:
            async with (
                self.lifespan_app.router.lifespan_context(self.lifespan_app),
                asyncio.TaskGroup() as group,
            ):
                for server, bound in zip(self.servers, self._sockets, strict=True):
                    group.create_task(self._serve_one(server, bound), name=server.name)
        finally:
            for stop_signal in STOP_SIGNALS:
                loop.remove_signal_handler(stop_signal)

    async def _serve_one(self, server: Listener, bound: socket.socket) -> None:
        try:
            await server.serve(sockets=[bound])
        finally:
            # One ended (stopped, or failed): the process ends with it.
            self.stop()

"""CPU seconds and memory of the processes in a run, read with psutil from outside.

The services are measured by their pids (``ServiceProcess.process``); the
shared RabbitMQ and MongoDB-protocol server are found as the processes
listening on their ports, and are measured too, because on a 2-core machine
their CPU is part of the cost of a registration. Everything else that ran on
the machine meanwhile is ``other``: machine busy time minus the processes
named, the check that the machine was quiet.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of ``process`` so far (children not included)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def peak_rss(pid: int) -> int | None:
    """The process's high-water mark of resident memory (Linux ``VmHWM``), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (needs root for others' sockets)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid is not None
        ):
            return int(connection.pid)
    return None


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle, over all cores, since boot."""
    times = psutil.cpu_times()
    idle = float(times.idle) + float(getattr(times, "iowait", 0.0))
    return (
        float(sum(times))
        - idle
        - float(getattr(times, "guest", 0.0))
        - float(getattr(times, "guest_nice", 0.0))
    )


@dataclass
class Watched:
    name: str
    process: psutil.Process
    cpu_start: float = 0.0
    cpu_end: float | None = None
    rss_max: int = 0


@dataclass
class ResourceMonitor:
    """Start/stop CPU counters of named pids; samples RSS every ``interval`` seconds."""

    pids: dict[str, int]
    interval: float = 0.5
    watched: dict[str, Watched] = field(default_factory=dict)
    busy_start: float = 0.0
    busy_end: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        for name, pid in self.pids.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                self.watched[name] = Watched(name, process, cpu_seconds(process))
        self.busy_start = machine_busy_seconds()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            for watched in self.watched.values():
                with contextlib.suppress(psutil.Error):
                    watched.rss_max = max(watched.rss_max, watched.process.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.busy_end = machine_busy_seconds()
        for watched in self.watched.values():
            with contextlib.suppress(psutil.Error):
                watched.cpu_end = cpu_seconds(watched.process)

    def cpu(self, name: str) -> float | None:
        watched = self.watched.get(name)
        if watched is None or watched.cpu_end is None:
            return None
        return watched.cpu_end - watched.cpu_start

    def peak_rss(self, name: str) -> int | None:
        watched = self.watched.get(name)
        if watched is None:
            return None
        return peak_rss(watched.process.pid) or watched.rss_max or None

    @property
    def busy(self) -> float:
        return self.busy_end - self.busy_start

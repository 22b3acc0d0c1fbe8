"""Database command timings of a service process, for ``bench.run --query-log DIR``.

Not a module of the benchmark's own process: ``bench.run`` puts this folder
on the services' ``PYTHONPATH``, so Python imports it at start-up
(``sitecustomize``) in each service process, before the service creates its
``AsyncMongoClient``. It registers a PyMongo ``CommandListener`` (PyMongo's
documented monitoring API, applied to every client created afterwards) that
sums, per (command, collection, shape of the filter), how many times it ran
and how long the server took, and writes that to
``$ILMO_BENCH_QUERY_LOG/<service>-<pid>.json`` every few seconds and at exit.
The service's code is not touched; the listener costs a little CPU per
command.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pymongo import monitoring

FOLDER = os.environ.get("ILMO_BENCH_QUERY_LOG")


def shape(value: Any) -> Any:
    """The structure of a filter with the values left out: ``{"_id": "?"}``."""
    if isinstance(value, Mapping):
        return {str(k): shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shape(value[0])] if value else []
    return "?"


def describe(command_name: str, command: Mapping[str, Any]) -> tuple[str, str, str]:
    collection = command.get(command_name)
    if not isinstance(collection, str):
        collection = str(command.get("collection", ""))
    detail: Any = None
    if command_name in ("find", "count", "distinct"):
        detail = {"filter": shape(command.get("filter", {}))}
        if "sort" in command:
            detail["sort"] = shape(command["sort"])
    elif command_name == "update":
        updates = command.get("updates") or [{}]
        detail = {"q": shape(updates[0].get("q", {})), "u": sorted(updates[0].get("u", {}))}
    elif command_name == "delete":
        deletes = command.get("deletes") or [{}]
        detail = {"q": shape(deletes[0].get("q", {}))}
    elif command_name == "findAndModify":
        detail = {"query": shape(command.get("query", {}))}
    elif command_name == "aggregate":
        detail = {"pipeline": shape(command.get("pipeline", []))}
    return command_name, collection, json.dumps(detail, sort_keys=True) if detail else ""


class Timings(monitoring.CommandListener):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pending: dict[tuple[Any, int], tuple[str, str, str]] = {}
        self._stats: dict[tuple[str, str, str], list[float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        key = describe(event.command_name, event.command)
        with self._lock:
            self._pending[(event.connection_id, event.request_id)] = key

    def _done(self, event: Any, failed: bool) -> None:
        with self._lock:
            key = self._pending.pop((event.connection_id, event.request_id), None)
            if key is None:
                return
            entry = self._stats.setdefault(key, [0, 0.0, 0.0, 0])
            entry[0] += 1
            seconds = event.duration_micros / 1e6
            entry[1] += seconds
            entry[2] = max(entry[2], seconds)
            entry[3] += int(failed)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event, failed=False)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event, failed=True)

    def dump(self) -> None:
        with self._lock:
            rows: list[dict[str, Any]] = [
                {
                    "command": command,
                    "collection": collection,
                    "shape": detail,
                    "count": int(count),
                    "seconds": total,
                    "max_seconds": longest,
                    "failed": int(failed),
                }
                for (command, collection, detail), (count, total, longest, failed) in (
                    self._stats.items()
                )
            ]
        rows.sort(key=lambda row: -float(row["seconds"]))
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(rows, indent=1))
        temporary.replace(self._path)


def _install(folder: str) -> None:
    service = Path(sys.argv[0]).name.removeprefix("ilmo-") or "python"
    path = Path(folder) / f"{service}-{os.getpid()}.json"
    timings = Timings(path)
    monitoring.register(timings)
    stop = threading.Event()

    def every_few_seconds() -> None:
        while not stop.wait(3.0):
            timings.dump()

    threading.Thread(target=every_few_seconds, name="bench-query-log", daemon=True).start()

    def at_exit() -> None:
        stop.set()
        timings.dump()

    atexit.register(at_exit)


if FOLDER:
    _install(FOLDER)

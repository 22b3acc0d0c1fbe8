"""CPU per consumed or relayed message of the small steps around a handler (docs/performance.md).

Each step is run ``--repeats`` times in this process and reported as CPU
microseconds per call (``time.process_time``: the worker thread's CPU
counts too, and a busy machine changes it less than wall time):

- the thread-pool round trip FastStream made per message to resolve a
  context parameter (``anyio.to_thread.run_sync``), which our consumers no
  longer make;
- FastStream's default decoding of a body (``json.loads``), which they no
  longer do either, beside the one validation they need
  (``model_validate_json``);
- the envelope's pydantic round trip per relayed entry and per consumed
  message, to judge whether skipping it would pay.

``uv run python -m bench.per_message``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

import anyio.to_thread

from ilmo_event_contracts import Attendance, Envelope, RegistrationAccepted
from ilmo_shared.outbox import outbox_entry
from tests.support.capacity import accepted


def cpu_microseconds(step: Callable[[], object], repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        step()
    return (time.process_time() - start) / repeats * 1e6


async def thread_hop_microseconds(repeats: int) -> float:
    def lookup() -> None:
        return None

    start = time.process_time()
    for _ in range(repeats):
        await anyio.to_thread.run_sync(lookup)
    return (time.process_time() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20_000)
    repeats = parser.parse_args().repeats
    event = accepted("seminar-2026", attendance=Attendance.REMOTE)
    entry = outbox_entry(event, source="ilmo/registration")
    body = str(entry["data"]).encode()
    headers = Envelope.model_validate(entry["envelope"]).to_headers()
    figures = {
        "thread-pool round trip (anyio.to_thread.run_sync)": asyncio.run(
            thread_hop_microseconds(repeats)
        ),
        "json.loads of the body (FastStream's default decoder)": cpu_microseconds(
            lambda: json.loads(body), repeats
        ),
        "model_validate_json of the body (the consumer's validation)": cpu_microseconds(
            lambda: RegistrationAccepted.model_validate_json(body), repeats
        ),
        "Envelope.model_validate + to_headers (relay, per entry)": cpu_microseconds(
            lambda: Envelope.model_validate(entry["envelope"]).to_headers(), repeats
        ),
        "Envelope.from_headers (consumer, per message)": cpu_microseconds(
            lambda: Envelope.from_headers(headers), repeats
        ),
    }
    print("| step | CPU µs per call |\n| --- | ---: |")
    for step, microseconds in figures.items():
        print(f"| {step} | {microseconds:.1f} |")


if __name__ == "__main__":
    main()

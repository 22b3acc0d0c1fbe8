"""The broker baseline: what RabbitMQ itself does here, with the guarantees Ilmo asks for.

A plain aio-pika publisher and a plain aio-pika consumer, each in its own
process (so that neither Python process is the other's bottleneck), push
``--messages`` persistent messages of ``--size`` bytes through one durable
quorum queue in the given vhost:

- the publisher's channel has publisher confirms on, and keeps up to
  ``--window`` messages awaiting their confirm (a bounded window, not one at
  a time, and not unbounded);
- the consumer acknowledges each message by itself (``--prefetch`` unacked at
  most).

The rate is end to end: messages / (last message consumed - first message
published). ``run_baseline`` runs the pair and returns the figures;
``python -m bench.baseline publish|consume ...`` are the two halves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


@dataclass(frozen=True)
class BaselineResult:
    messages: int
    window: int
    prefetch: int
    size: int
    publish_seconds: float  # first publish to last confirm
    end_to_end_seconds: float  # first publish to last consumed
    messages_per_second: float  # end to end
    publish_confirmed_per_second: float
    publisher_cpu_seconds: float
    consumer_cpu_seconds: float
    consumed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def publish(url: str, queue: str, messages: int, window: int, size: int) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        body = (b"x" * size)[:size]
        slots = asyncio.Semaphore(window)
        nacked = 0

        async def one(n: int) -> None:
            nonlocal nacked
            try:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(n),
                        content_type="application/json",
                    ),
                    routing_key=queue,
                )
            except aio_pika.exceptions.DeliveryError:
                nacked += 1
            finally:
                slots.release()

        cpu = time.process_time()
        first = time.time()
        tasks = []
        for n in range(messages):
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        last = time.time()
        return {
            "first_published": first,
            "last_confirmed": last,
            "nacked": nacked,
            "cpu_seconds": time.process_time() - cpu,
        }
    finally:
        await connection.close()


async def consume(
    url: str, queue: str, messages: int, prefetch: int, ready: Path, wait_seconds: float
) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await channel.declare_queue(queue, durable=True, arguments=QUORUM)
        done = asyncio.Event()
        seen = 0
        first: float | None = None
        last: float | None = None

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal seen, first, last
            await message.ack()
            last = time.time()
            if first is None:
                first = last
            seen += 1
            if seen >= messages:
                done.set()

        cpu = time.process_time()
        await declared.consume(on_message)
        await asyncio.to_thread(ready.write_text, "ready")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=wait_seconds)
        return {
            "first_consumed": first,
            "last_consumed": last,
            "consumed": seen,
            "cpu_seconds": time.process_time() - cpu,
        }
    finally:
        await connection.close()


def run_baseline(
    amqp_url: str,
    *,
    messages: int = 20_000,
    window: int = 256,
    prefetch: int = 256,
    size: int = 600,
    timeout: float = 300.0,
) -> BaselineResult:
    """Run the publisher and the consumer as two processes; the queue is deleted afterwards."""
    queue = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="ilmo-bench-baseline-") as folder:
        work = Path(folder)
        ready = work / "ready"
        common = [sys.executable, "-m", "bench.baseline"]
        consumer = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [
                *common,
                "consume",
                "--url",
                amqp_url,
                "--queue",
                queue,
                "--messages",
                str(messages),
                "--prefetch",
                str(prefetch),
                "--ready-file",
                str(ready),
                "--timeout",
                str(timeout),
                "--output",
                str(work / "consumer.json"),
            ],
        )
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if consumer.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("baseline consumer did not start")
                time.sleep(0.05)
            subprocess.run(  # noqa: S603 - our own module, fixed arguments
                [
                    *common,
                    "publish",
                    "--url",
                    amqp_url,
                    "--queue",
                    queue,
                    "--messages",
                    str(messages),
                    "--window",
                    str(window),
                    "--size",
                    str(size),
                    "--output",
                    str(work / "publisher.json"),
                ],
                check=True,
                timeout=timeout,
            )
            consumer.wait(timeout=timeout)
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
        published = json.loads((work / "publisher.json").read_text())
        consumed = json.loads((work / "consumer.json").read_text())
    asyncio.run(_delete_queue(amqp_url, queue))
    if consumed["consumed"] < messages or consumed["last_consumed"] is None:
        raise RuntimeError(f"baseline: consumed {consumed['consumed']} of {messages}")
    end_to_end = float(consumed["last_consumed"]) - float(published["first_published"])
    publishing = float(published["last_confirmed"]) - float(published["first_published"])
    return BaselineResult(
        messages=messages,
        window=window,
        prefetch=prefetch,
        size=size,
        publish_seconds=publishing,
        end_to_end_seconds=end_to_end,
        messages_per_second=messages / end_to_end,
        publish_confirmed_per_second=messages / publishing,
        publisher_cpu_seconds=float(published["cpu_seconds"]),
        consumer_cpu_seconds=float(consumed["cpu_seconds"]),
        consumed=int(consumed["consumed"]),
    )


async def _delete_queue(url: str, queue: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    publisher = roles.add_parser("publish")
    consumer = roles.add_parser("consume")
    both = roles.add_parser("run", help="both halves, then print the result")
    for role in (publisher, consumer, both):
        role.add_argument(
            "--url", default=os.environ.get("ILMO_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
        )
        role.add_argument("--messages", type=int, default=20_000)
    for role in (publisher, consumer):
        role.add_argument("--queue", required=True)
        role.add_argument("--output", type=Path, required=True)
    for role in (publisher, both):
        role.add_argument("--window", type=int, default=256)
        role.add_argument("--size", type=int, default=600)
    for role in (consumer, both):
        role.add_argument("--prefetch", type=int, default=256)
    consumer.add_argument("--ready-file", type=Path, required=True)
    consumer.add_argument("--timeout", type=float, default=300.0)
    arguments = parser.parse_args(argv)
    if arguments.role == "publish":
        result = asyncio.run(
            publish(
                arguments.url, arguments.queue, arguments.messages, arguments.window, arguments.size
            )
        )
    elif arguments.role == "consume":
        result = asyncio.run(
            consume(
                arguments.url,
                arguments.queue,
                arguments.messages,
                arguments.prefetch,
                arguments.ready_file,
                arguments.timeout,
            )
        )
    else:
        result = run_baseline(
            arguments.url,
            messages=arguments.messages,
            window=arguments.window,
            prefetch=arguments.prefetch,
            size=arguments.size,
        ).as_dict()
        print(json.dumps(result, indent=2))
        return 0
    arguments.output.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

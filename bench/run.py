"""The benchmark of issue 6: the whole pipeline, end to end, against the broker's own limit.

Run as ``uv run python -m bench.run --mode closed --concurrency 32
--registrations 5000 --runs 3`` (``make bench``). Each run:

1. takes its own RabbitMQ vhost and databases (``tests/support``), and first
   measures the broker baseline in a vhost of its own (``bench.baseline``);
2. starts an SMTP server that times each mail (``bench.mail``), an observer
   queue bound with ``#`` to ``ilmo.events`` (``bench.completion``), and the
   four services as processes (``tests/support/processes.py``);
3. creates one event (``--seats`` in-person seats; registrants confirm
   their address unless ``--email-confirmation off``), then runs the load
   generator as a separate process (``bench.load``): N registrations,
   ``--remote-share`` of them remote, closed loop at a concurrency or open
   loop at a rate; meanwhile each "confirm your address" mail is followed as
   its person would, link then button (``bench.confirm``), at the same
   concurrency;
4. waits until every accepted registration is complete (seat decided, mails
   in the SMTP server, stream link provisioned where owed) or nothing has
   progressed for ``--stall-timeout`` seconds, with CPU and memory of every
   process read by psutil meanwhile (``bench.resources``).

The result (every run's figures and the medians) goes to
``.local/bench/<timestamp>.json``, and a Markdown table next to it and to
stdout (``bench.report``). ``docs/performance.md`` explains each figure.
Nothing here asserts a time: it measures and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import psutil

from bench import report
from bench.baseline import run_baseline
from bench.completion import (
    CONFIRM_ADDRESS,
    LINK_PROVISIONED,
    RECEIVED,
    REMOTE,
    SEAT_RESERVED,
    SEAT_WAITLISTED,
    CompletionTracker,
    EventObserver,
)
from bench.confirm import Confirmer
from bench.mail import TimedSmtpServer
from bench.profile import Recording, summarize
from bench.resources import ResourceMonitor, listening_pid
from bench.stats import distribution, middle_rate, rate
from ilmo_shared.storage import connect
from tests.support.cluster import LocalCluster
from tests.support.infrastructure import (
    IsolatedInfrastructure,
    create_isolated_infrastructure,
    first_node,
    remove_test_vhost,
)
from tests.support.processes import SERVICES, ServiceProcess, running_services
from tests.support.registration import ADMIN, event_payload

REPO = Path(__file__).resolve().parents[1]
QUERY_LOG_HOOK = Path(__file__).resolve().parent / "querylog"
FERRETDB_REQUESTS = re.compile(r'^ferretdb_client_requests_total\{command="([^"]+)"[^}]*\} (\S+)$')


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ machine


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        try:
            return subprocess.run(  # noqa: S603 - git with fixed arguments
                ["git", *args],  # noqa: S607
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "services", "shared")),
    }


def broker_version(infrastructure: IsolatedInfrastructure) -> str | None:
    with (
        contextlib.suppress(httpx.HTTPError, KeyError, ValueError),
        infrastructure.management() as api,
    ):
        return str(api.get("/api/overview").json()["rabbitmq_version"])
    return None


# ------------------------------------------------------------------ pieces of a run


def bench_event(seats: int, email_confirmation: bool) -> dict[str, Any]:
    """The seminar: in two weeks, registration open, ``seats`` seats on site."""
    return event_payload(
        id=f"bench-{uuid.uuid4().hex[:8]}",
        in_person_capacity=seats,
        email_confirmation=email_confirmation,
    )


async def create_event(services: dict[str, ServiceProcess], event: dict[str, Any]) -> None:
    """Create the event and wait until capacity and streaming know it."""
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{services['registration'].url}/api/v1/events", json=event, headers=ADMIN
        )
        if created.status_code != 201:
            raise RuntimeError(f"could not create the event: {created.status_code} {created.text}")
        for url in (
            f"{services['capacity'].operations_url}/api/v1/events/{event['id']}/seats",
            f"{services['streaming'].operations_url}/api/v1/events/{event['id']}/stream-links",
        ):
            deadline = time.monotonic() + 60
            while (await client.get(url, headers=ADMIN)).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url}: the event never arrived")
                await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # notification stores the details too; no endpoint tells when


async def run_load(
    arguments: argparse.Namespace, services: dict[str, ServiceProcess], event_id: str, out: Path
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.load",
        "--url",
        services["registration"].url,
        "--event-id",
        event_id,
        "--registrations",
        str(arguments.registrations),
        "--mode",
        arguments.mode,
        "--concurrency",
        str(arguments.concurrency),
        "--rate",
        str(arguments.rate),
        "--remote-share",
        str(arguments.remote_share),
        "--seed",
        str(arguments.seed),
        "--output",
        str(out),
    ]
    process = await asyncio.create_subprocess_exec(*command, cwd=REPO)
    if await process.wait() != 0:
        raise RuntimeError(f"load generator exited with {process.returncode}")
    loaded: dict[str, Any] = json.loads(await asyncio.to_thread(out.read_text))
    return loaded


async def wait_for_completion(
    tracker: CompletionTracker, accepted: list[str], stall_timeout: float, max_wait: float
) -> bool:
    """Until every accepted registration is complete; False after a stall or ``max_wait``."""
    started = time.monotonic()
    last_count, last_change, last_report = -1, time.monotonic(), time.monotonic()
    while True:
        done = sum(tracker.completed_at(r) is not None for r in accepted)
        if done == len(accepted):
            return True
        now = time.monotonic()
        if now - last_report >= 15:
            log(f"  {done}/{len(accepted)} complete")
            last_report = now
        if done != last_count:
            last_count, last_change = done, now
        if now - last_change > stall_timeout or now - started > max_wait:
            return False
        await asyncio.sleep(0.25)


async def wait_for_quiet(tracker: CompletionTracker, quiet: float, cap: float) -> None:
    """Until no message arrived on ``ilmo.events`` for ``quiet`` seconds (at most ``cap``)."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        last = tracker.last_message_at
        if last is not None and time.time() - last >= quiet:
            return
        await asyncio.sleep(0.25)


async def ferretdb_profile(metrics_url: str, seconds: float, folder: Path) -> None:
    """A CPU profile of FerretDB (Go's pprof on its debug address), and its top functions."""
    base = metrics_url.rsplit("/debug/", 1)[0]
    try:
        async with httpx.AsyncClient(timeout=seconds + 30) as client:
            answer = await client.get(
                f"{base}/debug/pprof/profile", params={"seconds": str(int(seconds))}
            )
    except httpx.HTTPError as error:
        log(f"no FerretDB profile: {error!r}")
        return
    if answer.status_code != 200:
        log(f"no FerretDB profile: HTTP {answer.status_code}")
        return
    profile = folder / "ferretdb.pprof"
    await asyncio.to_thread(profile.write_bytes, answer.content)
    go = shutil.which("go")
    if go is None:
        return
    for name, extra in (("ferretdb-top.txt", []), ("ferretdb-top-cumulative.txt", ["-cum"])):
        process = await asyncio.create_subprocess_exec(
            go,
            "tool",
            "pprof",
            "-top",
            "-nodecount=60",
            *extra,
            str(profile),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
        await asyncio.to_thread((folder / name).write_bytes, out)


def ferretdb_requests(url: str | None) -> Counter[str] | None:
    """FerretDB's own count of commands served, by command (its debug metrics); None if absent."""
    if not url:
        return None
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return None
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        match = FERRETDB_REQUESTS.match(line)
        if match is not None:
            counts[match.group(1)] += int(float(match.group(2)))
    return counts or None


def query_summary(folder: Path, registrations: int, top: int = 25) -> str:
    """The database commands of each service (``--query-log``), costliest first, as Markdown."""
    out = []
    for path in sorted(folder.glob("*.json")):
        rows = json.loads(path.read_text())
        total = sum(float(r["seconds"]) for r in rows) or 1.0
        out += [
            f"### {path.stem}",
            "",
            f"{sum(int(r['count']) for r in rows)} commands, {total:.1f} s awaited in all",
            "",
            "| command | collection | shape | count | per registration | total s | share"
            " | mean ms | max ms |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows[:top]:
            count, seconds = int(r["count"]), float(r["seconds"])
            out.append(
                f"| {r['command']} | {r['collection']} | `{r['shape']}` | {count} | "
                f"{count / max(1, registrations):.2f} | {seconds:.1f} | "
                f"{100 * seconds / total:.0f} % | {1000 * seconds / max(1, count):.1f} | "
                f"{1000 * float(r['max_seconds']):.0f} |"
            )
        out.append("")
    return "\n".join(out)


def management_publish_count(infrastructure: IsolatedInfrastructure) -> int | None:
    """Messages published into the run's vhost, by the management API (lags up to ~5 s)."""
    with (
        contextlib.suppress(httpx.HTTPError, KeyError, ValueError, TypeError),
        infrastructure.management() as api,
    ):
        answer = api.get(f"/api/vhosts/{quote(infrastructure.vhost, safe='')}")
        return int(answer.json()["message_stats"]["publish"])
    return None


async def drop_databases(infrastructure: IsolatedInfrastructure) -> None:
    client = connect(infrastructure.mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"test_{infrastructure.run_id}_"):
                await client.drop_database(name)
    finally:
        await client.close()


# ------------------------------------------------------------------ one run


async def one_run(arguments: argparse.Namespace, number: int, folder: Path) -> dict[str, Any]:
    log(f"run {number}: broker baseline ({arguments.baseline_messages} messages)")
    baseline_vhost = create_isolated_infrastructure()
    try:
        baseline = await asyncio.to_thread(
            run_baseline,
            first_node(baseline_vhost.amqp_url),
            messages=arguments.baseline_messages,
            window=arguments.baseline_window,
            prefetch=arguments.baseline_window,
            size=arguments.baseline_size,
        )
    finally:
        remove_test_vhost(baseline_vhost)
    log(f"run {number}: baseline {baseline.messages_per_second:.0f} messages/s")

    infrastructure = create_isolated_infrastructure()
    confirming = arguments.email_confirmation == "on"
    tracker = CompletionTracker(first_mail=CONFIRM_ADDRESS if confirming else RECEIVED)
    confirmer = Confirmer(arguments.concurrency)
    smtp = TimedSmtpServer(tracker.on_mail, confirmations=confirmer.offer if confirming else None)
    smtp.up()
    confirmer.start()
    observer = EventObserver(tracker.on_message)
    # On a cluster the observer takes node 1, the services all nodes (node 1 first).
    await observer.start(first_node(infrastructure.amqp_url))
    recordings: list[Recording] = []
    try:
        environment = {
            "ILMO_SMTP_HOST": smtp.host,
            "ILMO_SMTP_PORT": str(smtp.port),
            "ILMO_SMTP_TLS": "none",  # the timing server is plain SMTP
        }
        query_dir: Path | None = None
        if arguments.query_log is not None:
            query_dir = arguments.query_log / f"run-{number}"
            query_dir.mkdir(parents=True, exist_ok=True)
            environment["ILMO_BENCH_QUERY_LOG"] = str(query_dir)
            environment["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(QUERY_LOG_HOOK), os.environ.get("PYTHONPATH", "")) if p
            )
        with running_services(infrastructure, extra_environment=environment) as services:
            event = bench_event(arguments.seats, confirming)
            await create_event(services, event)
            pids = {name: s.process.pid for name, s in services.items() if s.process is not None}
            # A cluster's nodes are rabbitmq, rabbitmq-2, rabbitmq-3 (summed in ``measure``).
            nodes = infrastructure.amqp_url.split(",")
            for name, url in (
                *((f"rabbitmq-{i}" if i > 1 else "rabbitmq", n) for i, n in enumerate(nodes, 1)),
                ("ferretdb", infrastructure.mongodb_url),
            ):
                pid = listening_pid(urlsplit(url).port or 0)
                if pid is not None:
                    pids[name] = pid
            database_profile: asyncio.Task[None] | None = None
            if arguments.profile is not None:
                profile_dir = arguments.profile / f"run-{number}"
                profile_dir.mkdir(parents=True, exist_ok=True)
                for name in SERVICES:
                    recording = Recording(name, pids[name], profile_dir / f"{name}.txt")
                    recording.start()
                    recordings.append(recording)
                if arguments.ferretdb_metrics:
                    database_profile = asyncio.create_task(
                        ferretdb_profile(
                            arguments.ferretdb_metrics,
                            arguments.ferretdb_profile_seconds,
                            profile_dir,
                        )
                    )
            monitor = ResourceMonitor(pids)
            messages_before = sum(tracker.messages.values())
            database_before = ferretdb_requests(arguments.ferretdb_metrics)
            bench_cpu = time.process_time()
            monitor.start()
            load_started = time.time()
            log(
                f"run {number}: {arguments.registrations} registrations, {arguments.mode} loop "
                + (
                    f"at concurrency {arguments.concurrency}"
                    if arguments.mode == "closed"
                    else f"at {arguments.rate:g}/s"
                )
            )
            loaded = await run_load(
                arguments, services, event["id"], folder / f"load-{number}.json"
            )
            requests = loaded["requests"]
            accepted = [r["registration_id"] for r in requests if r["status"] == 202]
            log(
                f"run {number}: load done, {len(accepted)} accepted; "
                f"{tracker.completed} complete so far; waiting for the rest"
            )
            if arguments.http_only:
                complete = False
            else:
                complete = await wait_for_completion(
                    tracker, accepted, arguments.stall_timeout, arguments.max_wait
                )
                await wait_for_quiet(tracker, quiet=3.0, cap=60.0)
            monitor.stop()
            bench_cpu = time.process_time() - bench_cpu
            database_after = ferretdb_requests(arguments.ferretdb_metrics)
            for recording in recordings:
                recording.stop()
            if database_profile is not None:
                await database_profile
            await asyncio.sleep(max(0.0, (tracker.last_message_at or 0) + 6 - time.time()))
            published = management_publish_count(infrastructure)
            figures = measure(
                arguments,
                tracker,
                loaded,
                accepted,
                monitor,
                bench_cpu,
                messages_before,
                load_started,
                smtp,
                published,
                confirmer,
            )
            if database_before is not None and database_after is not None:
                commands = database_after - database_before
                figures["database_commands_per_registration"] = {
                    command: n / max(1, len(accepted)) for command, n in commands.most_common()
                }
            figures["baseline"] = baseline.as_dict()
            per_s = figures["messages"]["per_s"]
            figures["ratio_to_baseline"] = (
                per_s / baseline.messages_per_second if per_s is not None else None
            )
            figures["run_id"] = infrastructure.run_id
            figures["event_id"] = event["id"]
            figures["all_complete"] = complete
            figures["service_logs"] = str(services["registration"].log_path.parent)
            figures["profiled"] = arguments.profile is not None
            figures["http_only"] = arguments.http_only
            if not complete:
                figures["incomplete_examples"] = {
                    r: tracker.missing(r)
                    for r in [r for r in accepted if tracker.completed_at(r) is None][:20]
                }
            log(
                f"run {number}: {figures['end_to_end']['completed']} complete, "
                f"{figures['end_to_end']['completions_per_s'] or 0:.1f}/s"
            )
    finally:
        for recording in recordings:
            recording.stop()
        await observer.stop()
        smtp.down()
        await confirmer.stop()
        if not arguments.keep:
            remove_test_vhost(infrastructure)
            await drop_databases(infrastructure)
    if recordings and arguments.profile is not None:
        summarize(arguments.profile / f"run-{number}")
    if query_dir is not None:
        (query_dir / "summary.md").write_text(query_summary(query_dir, len(accepted)))
    return figures


def measure(
    arguments: argparse.Namespace,
    tracker: CompletionTracker,
    loaded: dict[str, Any],
    accepted: list[str],
    monitor: ResourceMonitor,
    bench_cpu: float,
    messages_before: int,
    load_started: float,
    smtp: TimedSmtpServer,
    management_published: int | None,
    confirmer: Confirmer,
) -> dict[str, Any]:
    requests = loaded["requests"]
    meta = loaded["meta"]
    ok = [r for r in requests if r["status"] == 202]
    first_sent = min(r["sent"] for r in requests)
    last_answer = max(r["sent"] + r["latency"] for r in requests)
    statuses = Counter(str(r["status"]) for r in requests)

    sent_at = {r["registration_id"]: r["sent"] for r in ok}
    completions = {r: at for r in accepted if (at := tracker.completed_at(r)) is not None}
    to_complete = [completions[r] - sent_at[r] for r in completions]
    last_completion = max(completions.values()) if completions else None
    outcome: Counter[str] = Counter()
    for registration_id in accepted:
        progress = tracker.registrations.get(registration_id)
        if progress is None:
            continue
        if progress.attendance == REMOTE:
            outcome["remote"] += 1
        elif progress.seat == SEAT_RESERVED:
            outcome["seat_reserved"] += 1
        elif progress.seat == SEAT_WAITLISTED:
            outcome["waitlisted"] += 1

    names = [*SERVICES, "rabbitmq", "ferretdb"]
    cpu = {name: monitor.cpu(name) for name in names}
    # A cluster's broker CPU is its nodes' together (bench --cluster).
    other_nodes = [monitor.cpu(name) for name in monitor.pids if name.startswith("rabbitmq-")]
    if cpu["rabbitmq"] is not None:
        cpu["rabbitmq"] += sum(v for v in other_nodes if v is not None)
    cpu["services"] = sum(v for k, v in cpu.items() if k in SERVICES and v is not None)
    cpu["load_generator"] = float(meta["cpu_seconds"])
    cpu["bench"] = bench_cpu
    named = sum(v for k, v in cpu.items() if k != "services" and v is not None)
    cpu["other"] = max(0.0, monitor.busy - named)
    cpu["machine_busy"] = monitor.busy
    count = len(accepted) or 1
    observed = sum(tracker.messages.values()) - messages_before
    last_message = tracker.last_message_at
    return {
        "registrations": len(requests),
        "http": {
            "accepted": len(ok),
            "not_accepted": len(requests) - len(ok),
            "statuses": dict(statuses),
            "accepted_per_s": rate(len(ok), last_answer - first_sent),
            "load_seconds": last_answer - first_sent,
            "latency": distribution([r["latency"] for r in ok]),
            "latency_from_due": distribution(
                [r["sent"] + r["latency"] - r["due"] for r in ok if r["due"] is not None]
            )
            if arguments.mode == "open"
            else None,
        },
        "end_to_end": {
            "completed": len(completions),
            "incomplete": len(accepted) - len(completions),
            "completions_per_s": rate(
                len(completions),
                None if last_completion is None else last_completion - first_sent,
            ),
            "completions_per_s_middle": middle_rate(list(completions.values())),
            "seconds": distribution(to_complete),
            "last_completion_after_s": None
            if last_completion is None
            else last_completion - first_sent,
            "stages": {
                name: distribution(seconds)
                for name, seconds in sorted(tracker.stages(sent_at).items())
            },
            "outcome": dict(outcome),
            "outcome_text": f"{outcome['seat_reserved']} / {outcome['waitlisted']} / "
            f"{outcome['remote']}",
        },
        "cpu_seconds": cpu,
        "cpu_ms_per_registration": {
            k: None if v is None else 1000 * v / count for k, v in cpu.items()
        },
        "peak_rss_bytes": {name: monitor.peak_rss(name) for name in names},
        "messages": {
            "observed": observed,
            "by_type": dict(tracker.messages),
            "per_s": rate(observed, None if last_message is None else last_message - load_started),
            "management_vhost_publish": management_published,
        },
        "mails": {"received": smtp.count, "bytes": smtp.bytes, "by_kind": dict(tracker.mails)},
        "confirmation": confirmation_figures(arguments, confirmer, sent_at),
        "stream_links_seen": tracker.messages[LINK_PROVISIONED],
    }


def confirmation_figures(
    arguments: argparse.Namespace, confirmer: Confirmer, sent_at: dict[str, float]
) -> dict[str, Any]:
    """What the extra step costs a person and the API: the mail's wait, the two requests."""
    done = [c for c in confirmer.results if c.status == 303]
    return {
        "email_confirmation": arguments.email_confirmation,
        "confirmed": len(done),
        "failed": len(confirmer.results) - len(done),
        "step_latency": distribution([c.latency for c in done]),
        "post_to_mail": distribution(
            [c.mail_at - sent_at[c.registration_id] for c in done if c.registration_id in sent_at]
        ),
        "confirmed_per_s": rate(
            len(done),
            (max(c.started + c.latency for c in done) - min(c.started for c in done))
            if done
            else None,
        ),
    }


# ------------------------------------------------------------------ main


async def bench(arguments: argparse.Namespace, command: str) -> int:
    """The runs, on the shared broker or (``--cluster N``) on a cluster of the bench's own."""
    if not arguments.cluster:
        return await bench_runs(arguments, command)
    cluster = LocalCluster.in_temporary_folder("ilmo-bench-cluster-", arguments.cluster)
    log(f"starting a {arguments.cluster}-node RabbitMQ cluster in {cluster.directory}")
    try:
        await asyncio.to_thread(cluster.up)
        # What create_isolated_infrastructure reads: every vhost of the bench
        # (the baseline's and each run's) is then made on the cluster.
        os.environ["ILMO_AMQP_URL"] = cluster.urls
        os.environ["ILMO_RABBITMQ_MANAGEMENT_URL"] = cluster.management_url(1)
        return await bench_runs(arguments, command)
    finally:
        await asyncio.to_thread(cluster.remove)


async def bench_runs(arguments: argparse.Namespace, command: str) -> int:
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    folder = arguments.output_dir / stamp
    folder.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    runs = []
    for number in range(1, arguments.runs + 1):
        runs.append(await one_run(arguments, number, folder))
    probe = create_isolated_infrastructure()
    try:
        machine["rabbitmq"] = broker_version(probe)
    finally:
        remove_test_vhost(probe)
    settings = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(arguments).items()
    }
    settings["command"] = command
    settings["started"] = started.isoformat()
    document = report.result(settings, machine, runs)
    markdown_path, text = report.write(document, arguments.output_dir / f"{stamp}.json")
    print(text)
    log(f"wrote {arguments.output_dir / f'{stamp}.json'} and {markdown_path}")
    if arguments.http_only:
        return 0
    return 0 if all(run["all_complete"] for run in runs) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: clients")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop: registrations/s")
    parser.add_argument("--registrations", type=int, default=5000, help="N per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the table shows medians")
    parser.add_argument("--seats", type=int, default=300, help="in-person seats of the event")
    parser.add_argument("--remote-share", type=float, default=0.7)
    parser.add_argument(
        "--email-confirmation",
        choices=("on", "off"),
        default="on",
        help="whether the event asks registrants to confirm their address (the default)",
    )
    parser.add_argument("--seed", type=int, default=1, help="who registers how")
    parser.add_argument("--baseline-messages", type=int, default=20_000)
    parser.add_argument("--baseline-window", type=int, default=256, help="confirms in flight")
    parser.add_argument("--baseline-size", type=int, default=600, help="message body bytes")
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=120.0,
        help="give up waiting when no registration completed for this many seconds",
    )
    parser.add_argument("--max-wait", type=float, default=3600.0, help="seconds after the load")
    parser.add_argument(
        "--ferretdb-metrics",
        default=f"http://{os.environ.get('ILMO_FERRETDB_DEBUG_ADDR', '127.0.0.1:8089')}"
        "/debug/metrics",
        help="FerretDB's metrics URL, to count database commands per registration ('' skips)",
    )
    parser.add_argument(
        "--ferretdb-profile-seconds",
        type=float,
        default=30.0,
        help="with --profile: seconds of FerretDB CPU profile (pprof), from the load's start",
    )
    parser.add_argument(
        "--http-only",
        action="store_true",
        help="measure the HTTP API only: stop after the load, without waiting for completion",
    )
    parser.add_argument("--output-dir", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record py-spy profiles of the services into this folder (perturbs the figures)",
    )
    parser.add_argument(
        "--query-log",
        type=Path,
        default=None,
        help="time every database command of the services into this folder (bench/querylog)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep each run's vhost and databases for inspection"
    )
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        choices=(0, 3),
        help="3: run against a three-node RabbitMQ cluster of the bench's own (cluster.sh)",
    )
    arguments = parser.parse_args(argv)
    command = "uv run python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    return asyncio.run(bench(arguments, command))


if __name__ == "__main__":
    sys.exit(main())

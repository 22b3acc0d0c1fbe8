"""The result of a benchmark: one JSON document and a Markdown table of its figures.

Each run's figures are a nested mapping (see ``bench.run.measure``); the
result holds every run's and, per figure, the median over the runs. The
table has one row per figure, one column per run and the median last.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.stats import median_figures

SERVICES = ("registration", "capacity", "notification", "streaming")

Format = Callable[[Any], str]


def number(digits: int) -> Format:
    def render(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:,.{digits}f}".replace(",", " ")
        return str(value)

    return render


def milliseconds(value: Any) -> str:
    return number(1)(None if value is None else float(value) * 1000)


def megabytes(value: Any) -> str:
    return number(0)(None if value is None else float(value) / 2**20)


def pair(value: Any) -> str:
    """A stage's "p50 / p95" in seconds."""
    if not isinstance(value, Mapping) or value.get("p50") is None:
        return "-"
    return f"{value['p50']:.2f} / {value['p95']:.2f}"


def dig(figures: Mapping[str, Any], path: str) -> Any:
    """``figures["a"]["b"]`` for ``"a.b"``; None where the path is missing.

    A key may hold dots itself (``"event:seat.reserved"``): at each level the
    longest part of the path that is a key is taken.
    """
    value: Any = figures
    parts = path.split(".")
    while parts:
        if not isinstance(value, Mapping):
            return None
        # The longest run of parts that names a key at this level.
        for end in range(len(parts), 0, -1):
            key = ".".join(parts[:end])
            if key in value:
                value, parts = value[key], parts[end:]
                break
        else:
            return None
    return value


# (label, path in a run's figures, format)
ROWS: list[tuple[str, str, Format]] = [
    ("registrations sent", "registrations", number(0)),
    ("email confirmation", "confirmation.email_confirmation", str),
    ("accepted (202)", "http.accepted", number(0)),
    ("refused or failed", "http.not_accepted", number(0)),
    ("accepted registrations/s at the API", "http.accepted_per_s", number(1)),
    ("POST latency p50 (ms)", "http.latency.p50", milliseconds),
    ("POST latency p95 (ms)", "http.latency.p95", milliseconds),
    ("POST latency p99 (ms)", "http.latency.p99", milliseconds),
    ("POST latency max (ms)", "http.latency.max", milliseconds),
    ("POST latency from due time p99 (ms, open loop)", "http.latency_from_due.p99", milliseconds),
    ("addresses confirmed (link, then button)", "confirmation.confirmed", number(0)),
    ("confirmations failed", "confirmation.failed", number(0)),
    ("confirm step (GET page + POST) p50 (ms)", "confirmation.step_latency.p50", milliseconds),
    ("confirm step (GET page + POST) p95 (ms)", "confirmation.step_latency.p95", milliseconds),
    ("confirm step (GET page + POST) p99 (ms)", "confirmation.step_latency.p99", milliseconds),
    ("confirmations/s", "confirmation.confirmed_per_s", number(1)),
    ("completed end to end", "end_to_end.completed", number(0)),
    ("not completed", "end_to_end.incomplete", number(0)),
    ("completions/s (first POST to last completion)", "end_to_end.completions_per_s", number(1)),
    ("completions/s (10-90 % of completions)", "end_to_end.completions_per_s_middle", number(1)),
    ("POST→complete p50 (s)", "end_to_end.seconds.p50", number(2)),
    ("POST→complete p95 (s)", "end_to_end.seconds.p95", number(2)),
    ("POST→complete p99 (s)", "end_to_end.seconds.p99", number(2)),
    *(
        (f"POST→{label} p50 / p95 (s)", f"end_to_end.stages.{stage}", pair)
        for label, stage in (
            ("mail confirm_address", "mail:confirm_address"),
            ("registration.accepted seen", "event:registration.accepted"),
            ("seat decision", "event:seat decision"),
            ("stream.link.provisioned", "event:stream.link.provisioned"),
            ("mail registration_received", "mail:registration_received"),
            ("mail seat_confirmed", "mail:seat_confirmed"),
            ("mail waitlisted", "mail:waitlisted"),
            ("mail stream_link", "mail:stream_link"),
        )
    ),
    ("seat reserved / waitlisted / remote", "end_to_end.outcome_text", str),
    *(
        (f"CPU ms per registration: {name}", f"cpu_ms_per_registration.{name}", number(2))
        for name in (*SERVICES, "services", "rabbitmq", "ferretdb", "load_generator", "bench")
    ),
    ("CPU ms per registration: other processes", "cpu_ms_per_registration.other", number(2)),
    *((f"peak RSS {name} (MiB)", f"peak_rss_bytes.{name}", megabytes) for name in SERVICES),
    *(
        (
            f"database {command}s per registration",
            f"database_commands_per_registration.{command}",
            number(1),
        )
        for command in ("find", "getMore", "insert", "update", "delete", "aggregate")
    ),
    ("pipeline messages on ilmo.events", "messages.observed", number(0)),
    ("pipeline messages/s", "messages.per_s", number(1)),
    ("broker baseline messages/s", "baseline.messages_per_second", number(1)),
    ("pipeline / baseline", "ratio_to_baseline", number(3)),
    ("mails received", "mails.received", number(0)),
]


def table(runs: Sequence[Mapping[str, Any]], medians: Mapping[str, Any] | None) -> str:
    """The Markdown table: a row per figure, a column per run, then the median."""
    header = ["figure", *(f"run {n + 1}" for n in range(len(runs)))]
    if medians is not None:
        header.append("median")
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
    ]
    for label, path, render in ROWS:
        cells = [render(dig(run, path)) for run in runs]
        if all(cell in ("-", "None") for cell in cells):
            continue
        if medians is not None:
            median = dig(medians, path)
            cells.append(render(median) if median is not None else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def result(
    settings: Mapping[str, Any], machine: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    return {
        "settings": dict(settings),
        "machine": dict(machine),
        "runs": list(runs),
        "medians": median_figures(runs),
    }


def write(document: Mapping[str, Any], json_path: Path) -> tuple[Path, str]:
    """Write the JSON and, next to it, the Markdown (returned too)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    settings = document["settings"]
    machine = document["machine"]
    text = "\n".join(
        [
            f"# Ilmo benchmark {settings.get('started', '')}",
            "",
            f"`{settings.get('command', '')}`",
            "",
            f"machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model')}), "
            f"{megabytes(machine.get('memory_bytes'))} MiB, load average before "
            f"{machine.get('load_average_before')}; commit {machine.get('commit')}"
            f"{' (services/ or shared/ modified)' if machine.get('dirty') else ''}",
            "",
            table(document["runs"], document["medians"] if len(document["runs"]) > 1 else None),
            "",
        ]
    )
    markdown_path = json_path.with_suffix(".md")
    markdown_path.write_text(text)
    return markdown_path, text

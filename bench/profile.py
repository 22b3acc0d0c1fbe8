"""Profiles of the service processes under load, with py-spy, and a summary of where time goes.

``bench.run --profile DIR`` starts one ``py-spy record --format raw
--nonblocking`` per service for the measured part of each run (use it with
``--runs 1``: profiling perturbs the figures) and stops it (SIGINT, which
makes py-spy write its file) when the run is complete; it also takes a CPU
profile of FerretDB through Go's pprof on FerretDB's debug address.
py-spy leaves out samples it sees as idle, but a busy event loop is often
caught in ``select`` while the kernel counts it running, so ``summarize``
also sets aside samples whose top frame only waits (``WAITING``): the rest
is roughly where the process spent CPU. It reads the collapsed stacks and
lists the functions with most samples, by self time (the frame on top) and
by inclusive time (anywhere on the stack), and the share of each library,
by the file the top frame is in.

``python -m bench.profile DIR`` summarizes again what a run recorded.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str:
    """The py-spy executable next to this interpreter, or on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    if here.exists():
        return str(here)
    found = shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy not found: uv sync --all-packages (it is a dev dependency)")
    return found


@dataclass
class Recording:
    """py-spy recording one process into ``output`` (collapsed stacks)."""

    name: str
    pid: int
    output: Path
    rate: int = 100
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        log = self.output.with_suffix(".log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - py-spy with fixed arguments
            [
                py_spy(),
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--function",
                "--nonblocking",
                "--rate",
                str(self.rate),
                "--output",
                str(self.output),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def parse_frame(frame: str) -> tuple[str, str]:
    """(function, file) of one py-spy frame such as ``send (aiosmtplib/smtp.py:123)``."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match.group("function"), match.group("file")


def library(file: str) -> str:
    """Which package a (shortened) py-spy file name belongs to."""
    if not file:
        return "?"
    if file.startswith("<"):
        return file
    parts = file.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    head = parts[0]
    if head.endswith(".py"):
        head = head[:-3]
    if len(parts) == 1 and head in STDLIB_HINTS:
        return f"stdlib:{head}"
    return head


# Modules py-spy shows without a package directory that are the standard library.
STDLIB_HINTS = {
    "asyncio",
    "selectors",
    "ssl",
    "socket",
    "threading",
    "json",
    "uuid",
    "typing",
    "enum",
    "dataclasses",
    "functools",
    "contextlib",
    "copy",
    "datetime",
    "logging",
    "re",
    "random",
    "hashlib",
    "hmac",
    "base64",
    "collections",
}


# Top frames that are a thread waiting, not working. py-spy's own idle
# detection misses many of them (an event loop that wakes often is caught in
# ``select`` while the kernel still counts it running), so they are set aside.
WAITING = {
    ("EpollSelector.select", "selectors.py"),
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("Queue.get", "queue.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("Thread.join", "threading.py"),
    ("_wait_for_tstate_lock", "threading.py"),
}


@dataclass
class Summary:
    samples: int = 0
    waiting: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    libraries: Counter[str] = field(default_factory=Counter)


def summarize_lines(lines: list[str]) -> Summary:
    """Count self and inclusive samples per function from collapsed stacks (root first)."""
    summary = Summary()
    for line in lines:
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [parse_frame(f) for f in stack.split(";") if f]
        frames = [f for f in frames if not f[0].startswith(("process ", "thread "))]
        if not frames:
            continue
        function, file = frames[-1]
        if (function, file) in WAITING:
            summary.waiting += count
            continue
        summary.samples += count
        summary.self_time[f"{function} ({file})"] += count
        summary.libraries[library(file)] += count
        for name in {f"{fn} ({fl})" for fn, fl in frames}:
            summary.inclusive[name] += count
    return summary


def markdown(name: str, summary: Summary, top: int = 15) -> str:
    """A Markdown section: the libraries, then the top functions by self and inclusive time."""
    if summary.samples == 0:
        return f"### {name}\n\nno samples\n"
    share = summary.samples

    def pct(n: int) -> str:
        return f"{100 * n / share:.1f} %"

    out = [
        f"### {name}",
        "",
        f"{summary.samples} samples at work ({summary.waiting} more waiting in select, a lock or"
        " a queue, left out); shares are of the samples at work",
        "",
    ]
    out += ["| library (top frame) | share |", "| --- | ---: |"]
    out += [f"| {lib} | {pct(n)} |" for lib, n in summary.libraries.most_common(top)]
    out += ["", "| function (self) | share |", "| --- | ---: |"]
    out += [f"| `{fn}` | {pct(n)} |" for fn, n in summary.self_time.most_common(top)]
    out += ["", "| function (inclusive) | share |", "| --- | ---: |"]
    out += [f"| `{fn}` | {pct(n)} |" for fn, n in summary.inclusive.most_common(top * 2)]
    return "\n".join(out) + "\n"


def summarize(folder: Path, top: int = 15) -> str:
    """Summaries of every py-spy ``*.txt`` recording in ``folder`` (written to ``summary.md``)."""
    sections = []
    for recording in sorted(folder.glob("*.txt")):
        if recording.stem.startswith("ferretdb"):
            continue  # pprof's text output of FerretDB, not a py-spy recording
        lines = recording.read_text(errors="replace").splitlines()
        sections.append(markdown(recording.stem, summarize_lines(lines), top))
    text = "\n".join(sections)
    (folder / "summary.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=15)
    arguments = parser.parse_args(argv)
    print(summarize(arguments.folder, arguments.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The verdict of deploy/image/audit.sh: vulnerable, not audited, or audited and clean.

pip-audit says "No known vulnerabilities found" and exits 0 even when it
could ask no vulnerability service about any package: PyPI's per-version
JSON API answering 404 turns every dependency into a *skipped* one, and a
service it cannot reach at all ends it with a traceback and no report. Read
naively, "no data" passes as "no vulnerabilities". This module keeps them
apart. For each package of the lock it asks: did some service answer for
it, and did any answer name a known vulnerability?

- Any known vulnerability, from any service: VULNERABLE, exit 1, the list.
- Otherwise, a package no service answered for: NOT AUDITED, with why; exit
  0 (these machines cannot reach a vulnerability database), or 1 with
  ``--require-data`` (a connected CI, where no data is a fault).
- Otherwise: AUDITED, every package, no known vulnerability; exit 0.

    python audit_report.py DIRECTORY SERVICE...

reads, for each SERVICE (``pypi``, ``osv``), what audit.sh left in
DIRECTORY: ``<service>.json`` (pip-audit's ``--format json``, absent when it
failed before writing) and ``<service>.log`` (its error output). The
verdict goes to standard output and to ``DIRECTORY/summary.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one locked package."""

    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()

    def line(self) -> str:
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fixed = (
            f"; fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "; no fix yet"
        )
        return f"{self.package} {self.version}: {self.id}{also}{fixed}"


@dataclass(frozen=True)
class ServiceAnswer:
    """What one vulnerability service said, through pip-audit."""

    service: str
    # package -> version, for every package the service had data on
    audited: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    # package -> why there is no data on it
    skipped: dict[str, str] = field(default_factory=dict)
    # Why pip-audit produced no report at all (unreachable service, crash).
    failure: str | None = None


class Outcome(Enum):
    VULNERABLE = "VULNERABLE"
    NOT_AUDITED = "NOT AUDITED"
    AUDITED = "AUDITED"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    text: str

    def exit_status(self, *, require_data: bool) -> int:
        if self.outcome is Outcome.VULNERABLE:
            return 1
        if self.outcome is Outcome.NOT_AUDITED and require_data:
            return 1
        return 0


def answer_from(service: str, report: dict[str, Any] | None, failure: str) -> ServiceAnswer:
    """A service's answer from pip-audit's JSON report (None: no report was written)."""
    if report is None:
        return ServiceAnswer(service, failure=failure or "pip-audit wrote no report")
    audited: dict[str, str] = {}
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    for dependency in report.get("dependencies", []):
        name = str(dependency["name"])
        if "skip_reason" in dependency:
            skipped[name] = str(dependency["skip_reason"])
            continue
        version = str(dependency.get("version", "?"))
        audited[name] = version
        findings.extend(
            Finding(
                name,
                version,
                str(vulnerability["id"]),
                tuple(str(a) for a in vulnerability.get("aliases", [])),
                tuple(str(v) for v in vulnerability.get("fix_versions", [])),
            )
            for vulnerability in dependency.get("vulns", [])
        )
    return ServiceAnswer(service, audited, tuple(findings), skipped)


def verdict(answers: list[ServiceAnswer]) -> Verdict:
    """The audit's outcome over every service asked (a package counts if any answered).

    The packages are those pip-audit considered: the lock's, less those whose
    environment marker excludes this platform (``pywin32 ; sys_platform == 'win32'``).
    """
    findings = sorted(
        {finding for answer in answers for finding in answer.findings},
        key=lambda f: (f.package, f.id),
    )
    audited = {name for answer in answers for name in answer.audited}
    unanswered: dict[str, list[str]] = {}
    for answer in answers:
        for name, reason in answer.skipped.items():
            if name not in audited:
                unanswered.setdefault(name, []).append(f"{answer.service}: {reason}")
    failures = [f"{a.service}: {a.failure}" for a in answers if a.failure is not None]
    total = len(audited) + len(unanswered)
    missing = total - len(audited)
    if findings:
        lines = [f"VULNERABLE: {len(findings)} known vulnerabilities in the locked dependencies:"]
        lines += [f"  {finding.line()}" for finding in findings]
        if missing:
            lines.append(f"  (and {missing} of {total} packages could not be audited)")
        return Verdict(Outcome.VULNERABLE, "\n".join(lines))
    if not audited or unanswered:
        why = failures + [_skips(answer) for answer in answers if answer.skipped]
        lines = [
            "*" * 72,
            f"NOT AUDITED: no vulnerability data for {missing} of {total} locked packages.",
            "No vulnerability service answered for them; this is NOT a clean audit.",
            "Why:",
            *(f"  {reason}" for reason in why),
            "*" * 72,
        ]
        return Verdict(Outcome.NOT_AUDITED, "\n".join(lines))
    return Verdict(
        Outcome.AUDITED,
        f"AUDITED: {len(audited)} locked packages, no known vulnerabilities "
        f"(asked: {', '.join(a.service for a in answers if a.audited)}).",
    )


def _skips(answer: ServiceAnswer) -> str:
    """One service's skipped packages in a line: the first reason, and how many more."""
    first = min(answer.skipped)
    more = len(answer.skipped) - 1
    return f"{answer.service}: {answer.skipped[first]}" + (f" (and {more} more)" if more else "")


def read_answer(directory: Path, service: str) -> ServiceAnswer:
    report_path = directory / f"{service}.json"
    log_path = directory / f"{service}.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    # The last line of a traceback or error message says what went wrong.
    failure = next((line.strip() for line in reversed(log.splitlines()) if line.strip()), "")
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        report = None
    return answer_from(service, report, failure)


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("services", nargs="+")
    parser.add_argument(
        "--require-data", action="store_true", help="NOT AUDITED fails (exit 1) too"
    )
    options = parser.parse_args(arguments)
    answers = [read_answer(options.directory, service) for service in options.services]
    found = verdict(answers)
    (options.directory / "summary.txt").write_text(found.text + "\n")
    print(found.text)
    return found.exit_status(require_data=options.require_data)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

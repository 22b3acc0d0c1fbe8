"""The dependency audit's verdict (deploy/image/audit_report.py): no data is no clean bill.

The reports here have the shape pip-audit 2.10 writes with ``--format json``;
the "no data" one is what it wrote on this machine, where PyPI's per-version
JSON API answers 404 (every package skipped, and pip-audit itself says "No
known vulnerabilities found") and api.osv.dev does not resolve (a traceback,
no report).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[2] / "deploy" / "image" / "audit_report.py"
OSV_UNREACHABLE = (
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev', port=443): "
    "Max retries exceeded with url: /v1/query"
)


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_report", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_report"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def skipped(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})",
    }


def clean(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "version": version, "vulns": []}


def vulnerable(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "vulns": [
            {
                "id": "PYSEC-2026-1",
                "fix_versions": ["3.1.6"],
                "aliases": ["CVE-2026-0001"],
                "description": "...",
            }
        ],
    }


def report(*dependencies: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(dependencies), "fixes": []}


def test_every_package_skipped_and_osv_unreachable_is_not_audited(audit: ModuleType) -> None:
    answers = [
        audit.answer_from(
            "pypi", report(skipped("jinja2", "3.1.4"), skipped("pymongo", "4.13")), ""
        ),
        audit.answer_from("osv", None, OSV_UNREACHABLE),
    ]
    found = audit.verdict(answers)
    assert found.outcome is audit.Outcome.NOT_AUDITED
    assert "NOT AUDITED: no vulnerability data for 2 of 2 locked packages" in found.text
    assert OSV_UNREACHABLE in found.text
    assert "could not be audited: jinja2 (3.1.4) (and 1 more)" in found.text
    # Exit 0 where no service can be reached, 1 where data is required (a connected CI).
    assert found.exit_status(require_data=False) == 0
    assert found.exit_status(require_data=True) == 1


def test_a_known_vulnerability_fails_with_the_list_whatever_else_is_missing(
    audit: ModuleType,
) -> None:
    answers = [
        audit.answer_from(
            "pypi", report(vulnerable("jinja2", "3.1.4"), skipped("pymongo", "4.13")), ""
        ),
        audit.answer_from("osv", None, OSV_UNREACHABLE),
    ]
    found = audit.verdict(answers)
    assert found.outcome is audit.Outcome.VULNERABLE
    assert "jinja2 3.1.4: PYSEC-2026-1 (CVE-2026-0001); fixed in 3.1.6" in found.text
    assert "(and 1 of 2 packages could not be audited)" in found.text
    assert found.exit_status(require_data=False) == 1


def test_the_same_vulnerability_from_two_services_is_listed_once(audit: ModuleType) -> None:
    answers = [
        audit.answer_from("pypi", report(vulnerable("jinja2", "3.1.4")), ""),
        audit.answer_from("osv", report(vulnerable("jinja2", "3.1.4")), ""),
    ]
    found = audit.verdict(answers)
    assert found.text.count("PYSEC-2026-1") == 1


def test_every_package_answered_and_none_vulnerable_is_audited(audit: ModuleType) -> None:
    answers = [
        audit.answer_from("pypi", report(clean("jinja2", "3.1.6"), clean("pymongo", "4.13")), ""),
        audit.answer_from("osv", None, OSV_UNREACHABLE),
    ]
    found = audit.verdict(answers)
    assert found.outcome is audit.Outcome.AUDITED
    assert found.text.startswith("AUDITED: 2 locked packages, no known vulnerabilities")
    assert found.exit_status(require_data=True) == 0


def test_a_package_counts_as_audited_when_either_service_answered_for_it(
    audit: ModuleType,
) -> None:
    pypi = audit.answer_from(
        "pypi", report(clean("jinja2", "3.1.6"), skipped("pymongo", "4.13")), ""
    )
    osv = audit.answer_from("osv", report(skipped("jinja2", "3.1.6"), clean("pymongo", "4.13")), "")
    assert audit.verdict([pypi, osv]).outcome is audit.Outcome.AUDITED
    only_pypi = audit.verdict([pypi, audit.answer_from("osv", None, OSV_UNREACHABLE)])
    assert only_pypi.outcome is audit.Outcome.NOT_AUDITED
    assert "no vulnerability data for 1 of 2" in only_pypi.text


def test_the_script_reads_what_audit_sh_leaves_and_writes_the_summary(
    audit: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pypi.json").write_text(
        json.dumps(report(skipped("jinja2", "3.1.4"), skipped("pymongo", "4.13")))
    )
    (tmp_path / "pypi.log").write_text("No known vulnerabilities found\n")
    # OSV: a traceback and no report.
    (tmp_path / "osv.log").write_text(
        f"Traceback (most recent call last):\n  ...\n{OSV_UNREACHABLE}\n"
    )

    assert audit.main([str(tmp_path), "pypi", "osv"]) == 0
    shown = capsys.readouterr().out
    assert "NOT AUDITED: no vulnerability data for 2 of 2 locked packages" in shown
    assert f"osv: {OSV_UNREACHABLE}" in shown
    assert (tmp_path / "summary.txt").read_text() == shown
    assert audit.main([str(tmp_path), "pypi", "osv", "--require-data"]) == 1
    capsys.readouterr()

    (tmp_path / "pypi.json").write_text(json.dumps(report(vulnerable("jinja2", "3.1.4"))))
    assert audit.main([str(tmp_path), "pypi", "osv"]) == 1
    assert capsys.readouterr().out.startswith("VULNERABLE: 1 known vulnerabilities")

"""The alert rules are valid, and each alert fires when it should and only then.

``promtool`` (Debian's prometheus package; ``make promtool``) checks the rule files and runs their
unit tests in deploy/prometheus/tests, which feed each alert synthetic
series that must fire it and series that must not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.promtool import run_promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "deploy/prometheus/tests").glob("*.yml"))
OPERATIONS = ROOT / "docs/operations.md"


def test_the_rule_files_are_valid() -> None:
    assert RULES, "no rule files in deploy/prometheus/rules"
    checked = run_promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_behaves_as_its_unit_tests_say() -> None:
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    tested = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def alert_names(path: Path) -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", path.read_text(), flags=re.MULTILINE)


@pytest.mark.parametrize("rules", RULES, ids=lambda path: path.name)
def test_every_alert_is_tested_and_links_its_runbook(rules: Path) -> None:
    tests = "\n".join(path.read_text() for path in RULE_TESTS)
    text = rules.read_text()
    for name in alert_names(rules):
        assert f"alertname: {name}\n" in tests, f"{name} has no promtool unit test"
        assert f"runbook_url: docs/operations.md#{name.lower()}\n" in text, (
            f"{name}: runbook_url must be docs/operations.md#{name.lower()}"
        )

"""Every alert leads to its runbook, and every runbook to an alert.

An alert's ``runbook_url`` is what the person paged at night opens first: a
link to a heading that was renamed, or never written, leaves them with
nothing. So the alert rules (``deploy/prometheus/rules/*.yml``) and the
runbook headings of ``docs/operations.md`` are read with their own parsers
(YAML; Markdown headings outside code blocks, anchored the way GitHub
renders them) and compared both ways: each alert's anchor is a heading, and
each ``### Ilmo…`` heading names an alert that exists (no orphan runbooks
for alerts that were renamed or removed).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOK_PREFIX = "docs/operations.md#"

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_RUNBOOK_HEADING = re.compile(r"^Ilmo[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Heading:
    """One Markdown heading: its level, its text, and the anchor GitHub gives it."""

    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Alert:
    """One alerting rule as far as its runbook is concerned."""

    name: str
    rules_file: str
    runbook_url: str | None


def github_slug(text: str) -> str:
    """The anchor GitHub derives from a heading's text.

    Lower-case; inline code's backticks and every other character that is
    not a letter, digit, underscore, hyphen or space dropped; each space a
    hyphen (so two spaces stay two hyphens, as GitHub has it).
    """
    kept = []
    for character in text.lower():
        category = unicodedata.category(character)
        if character in "-_ " or category[0] in "LN" or category == "Mn":
            kept.append("-" if character == " " else character)
    return "".join(kept)


def headings(markdown: str) -> list[Heading]:
    """The document's ATX headings, outside fenced code, with unique GitHub anchors.

    A repeated anchor gets ``-1``, ``-2`` … as GitHub appends them, so a
    second ``### Example`` does not answer for the first.
    """
    found: list[Heading] = []
    seen: Counter[str] = Counter()
    fence: str | None = None
    for line in markdown.splitlines():
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None:
            continue
        match = _HEADING.match(line)
        if match is None:
            continue
        text = match.group(2)
        slug = github_slug(text)
        anchor = slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"
        seen[slug] += 1
        found.append(Heading(len(match.group(1)), text, anchor))
    return found


def alerts_in(rules_dir: Path) -> list[Alert]:
    """Every alerting rule (not recording rules) of every rules file in the folder."""
    alerts: list[Alert] = []
    for path in sorted(rules_dir.glob("*.yml")) + sorted(rules_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in document.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                annotations = rule.get("annotations") or {}
                alerts.append(Alert(rule["alert"], path.name, annotations.get("runbook_url")))
    return alerts


def runbook_headings(markdown: str) -> list[Heading]:
    """The level-3 headings that are an alert's name: one runbook each."""
    return [h for h in headings(markdown) if h.level == 3 and _RUNBOOK_HEADING.match(h.text)]


# ---------------------------------------------------------------- the parsers themselves


def test_a_slug_is_lower_case_with_hyphens_and_without_punctuation() -> None:
    assert github_slug("IlmoServiceDown") == "ilmoservicedown"
    assert github_slug("Backup and restore") == "backup-and-restore"
    assert github_slug("Upgrading without losing messages") == "upgrading-without-losing-messages"
    assert github_slug("`ilmo-dlq`: replay, then watch (2 min)") == (
        "ilmo-dlq-replay-then-watch-2-min"
    )
    assert github_slug("Rotating secrets: ILMO_MANAGE_LINK_SECRET") == (
        "rotating-secrets-ilmo_manage_link_secret"
    )
    # An en dash is punctuation: dropped, its spaces stay two hyphens.
    assert github_slug("Sähköposti \u2013 jono") == "sähköposti--jono"


def test_headings_inside_code_blocks_are_not_headings_and_repeats_are_numbered() -> None:
    markdown = "\n".join(
        [
            "# Operations",
            "```sh",
            "# IlmoServiceDown is not a heading here",
            "```",
            "### IlmoServiceDown",
            "~~~",
            "```",
            "### IlmoFake",
            "~~~",
            "## Example",
            "## Example ##",
        ]
    )
    assert [(h.level, h.text, h.anchor) for h in headings(markdown)] == [
        (1, "Operations", "operations"),
        (3, "IlmoServiceDown", "ilmoservicedown"),
        (2, "Example", "example"),
        (2, "Example", "example-1"),
    ]
    assert [h.text for h in runbook_headings(markdown)] == ["IlmoServiceDown"]


def test_alerts_are_read_from_every_group_and_recording_rules_are_left_out(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.yml").write_text(
        "groups:\n"
        "  - name: one\n"
        "    rules:\n"
        "      - record: job:up:sum\n"
        "        expr: sum(up)\n"
        "      - alert: IlmoA\n"
        "        expr: up == 0\n"
        "        annotations: {runbook_url: docs/operations.md#ilmoa}\n"
        "  - name: two\n"
        "    rules:\n"
        "      - alert: IlmoB\n"
        "        expr: up == 0\n",
        encoding="utf-8",
    )
    assert alerts_in(tmp_path) == [
        Alert("IlmoA", "a.yml", "docs/operations.md#ilmoa"),
        Alert("IlmoB", "a.yml", None),
    ]


# ---------------------------------------------------------------- the repository's files


@pytest.fixture(scope="module")
def runbooks() -> list[Heading]:
    return runbook_headings(OPERATIONS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def alerts() -> list[Alert]:
    found = alerts_in(RULES_DIR)
    assert found, f"no alerting rules in {RULES_DIR.relative_to(ROOT)}/*.yml"
    return found


def test_every_alert_links_to_a_runbook_heading(alerts: list[Alert]) -> None:
    anchors = {h.anchor for h in headings(OPERATIONS.read_text(encoding="utf-8"))}
    problems = []
    for alert in alerts:
        expected = RUNBOOK_PREFIX + alert.name.lower()
        if alert.runbook_url != expected:
            problems.append(
                f"{alert.rules_file}: {alert.name} has runbook_url {alert.runbook_url!r}, "
                f"expected {expected!r}"
            )
        elif alert.name.lower() not in anchors:
            problems.append(
                f"{alert.rules_file}: {alert.name}'s runbook_url points to no heading "
                f"of docs/operations.md (write `### {alert.name}`)"
            )
    assert not problems, "\n".join(problems)


def test_every_runbook_names_an_alert_that_exists(
    alerts: list[Alert], runbooks: list[Heading]
) -> None:
    names = {alert.name for alert in alerts}
    orphans = [h.text for h in runbooks if h.text not in names]
    assert not orphans, f"runbooks for alerts no rules file defines: {orphans}"


def test_each_alert_has_one_runbook(runbooks: list[Heading]) -> None:
    repeated = [text for text, n in Counter(h.text for h in runbooks).items() if n > 1]
    assert not repeated, f"more than one runbook heading for {repeated}"

"""The PromQL that operators read: every query of the Grafana dashboards and the alert rules.

One reading of those files for both of their tests: ``tests/deploy/test_dashboards.py``
checks that each query is valid PromQL (``promtool``), and
``tests/e2e/test_exported_metrics.py`` that each metric a query names is
really exported by the services or RabbitMQ. Metric names come from a real
PromQL parser (``promql_parser``), never from regular expressions over the
query text: a label value, a function name or a ``by (...)`` clause is not a
metric.

Grafana queries hold variables (``$event``, ``${service}``,
``$__rate_interval``) that PromQL does not know; ``concrete`` puts an example
value in their place, so that the query Prometheus would receive is the one
checked. A variable a dashboard does not define is an error, not something
to skip: Grafana would send it to Prometheus as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
ALERT_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "ilmo.yml"

# Grafana's own variables, with values of the kind Grafana gives them.
GRAFANA_BUILTINS = {
    "__rate_interval": "2m",
    "__interval": "30s",
    "__interval_ms": "30000",
    "__range": "6h",
    "__range_s": "21600",
    "__range_ms": "21600000",
}
# $name, ${name}, ${name:format} and the deprecated [[name]]; not $1, which
# label_replace's replacement means (Grafana leaves it alone too).
VARIABLE = re.compile(
    r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::\w+)?\]\]"
)
# A Prometheus variable's query: label_values(selector, label) or label_values(label).
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?\w+\s*\)\s*$")
QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$")


class UnknownVariableError(ValueError):
    """A query names a variable that neither Grafana nor the dashboard defines."""


@dataclass(frozen=True)
class Query:
    """One PromQL expression, where it was written, and as Prometheus would receive it."""

    source: str
    written: str
    promql: str


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels folded inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard.get("templating", {}).get("list", [])
    return found


def variable_query(variable: Mapping[str, Any]) -> str:
    """A query variable's query text (Grafana writes a string or, lately, an object)."""
    query = variable.get("query", "")
    if isinstance(query, Mapping):
        return str(query.get("query", ""))
    return str(query)


def example_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """A value for each of the dashboard's variables, as a user might pick it."""
    examples = dict(GRAFANA_BUILTINS)
    for variable in variables(dashboard):
        name = str(variable["name"])
        options = [o for o in variable.get("options", []) if o.get("value") not in (None, "")]
        if variable.get("type") == "datasource":
            examples[name] = "prometheus"
        elif variable.get("type") in ("custom", "interval") and options:
            examples[name] = str(options[0]["value"])
        else:
            examples[name] = f"example-{name}"
    return examples


def concrete(expression: str, values: Mapping[str, str]) -> str:
    """``expression`` with each Grafana variable replaced by its value in ``values``."""

    def value_of(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise UnknownVariableError(f"${name} is not a variable of the dashboard: {expression}")
        return values[name]

    return VARIABLE.sub(value_of, expression)


def _variable_promql(query: str) -> str | None:
    """The PromQL inside a variable's query, or None for ``label_values(label)``."""
    if match := LABEL_VALUES.match(query):
        return match.group("selector")
    if match := QUERY_RESULT.match(query):
        return match.group("expr")
    raise ValueError(f"a variable query this check does not read: {query}")


def dashboard_queries(path: Path) -> list[Query]:
    """Each panel target's expression and each query variable's selector, made concrete."""
    dashboard = load_dashboard(path)
    values = example_values(dashboard)
    found: list[Query] = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            written = str(target.get("expr", ""))
            panel_name = f"panel {panel.get('id')} {panel.get('title')!r}"
            source = f"{path.name}: {panel_name} target {target.get('refId')}"
            found.append(Query(source, written, concrete(written, values)))
    for variable in variables(dashboard):
        if variable.get("type") != "query":
            continue
        written = variable_query(variable)
        selector = _variable_promql(written)
        if selector is not None:
            source = f"{path.name}: variable {variable['name']}"
            found.append(Query(source, written, concrete(selector, values)))
    return found


def rule_groups(path: Path) -> list[dict[str, Any]]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    groups: list[dict[str, Any]] = loaded.get("groups", [])
    return groups


def rule_queries(path: Path) -> list[Query]:
    """Each alerting and recording rule's expression in a Prometheus rules file."""
    found: list[Query] = []
    for group in rule_groups(path):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            source = f"{path.name}: group {group.get('name')} rule {name}"
            found.append(Query(source, str(rule["expr"]), str(rule["expr"])))
    return found


def recorded_names(path: Path) -> set[str]:
    """The series a rules file's recording rules make (Prometheus makes them, no exporter)."""
    return {
        str(rule["record"])
        for group in rule_groups(path)
        for rule in group.get("rules", [])
        if "record" in rule
    }


@dataclass(frozen=True)
class Selector:
    """One vector selector: the metric it names and the labels it matches on."""

    metric: str | None
    labels: frozenset[str]


def selectors(promql: str) -> list[Selector]:
    """Every vector selector of an expression (``promql_parser`` raises on invalid PromQL)."""
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers}
            for alternative in node.matchers.or_matchers:
                labels.update(m.name for m in alternative)
            metric = node.name
            if metric is None:
                # {__name__="x"} names a metric too; a regex over names names none.
                named = [
                    m.value
                    for m in node.matchers.matchers
                    if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
                ]
                metric = named[0] if named else None
            found.append(Selector(metric, frozenset(labels - {"__name__"})))
        return True

    promql_parser.walk(promql_parser.parse(promql), pre_visit=visit)
    return found


def metric_names(promql: str) -> set[str]:
    """The metrics an expression reads."""
    return {s.metric for s in selectors(promql) if s.metric is not None}

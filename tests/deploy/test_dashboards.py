"""The Grafana dashboards in deploy/grafana/dashboards load, read well, and query valid PromQL.

No infrastructure: each dashboard's JSON is read as Grafana would import it,
every PromQL query in it (panel targets and variable queries, with Grafana's
variables replaced by example values) goes through promtool as a recording
rule, and the metric names come from a PromQL parser. Whether those metrics
are really exported is tests/e2e/test_exported_metrics.py's question.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.promtool import run_promtool
from tests.support.queries import (
    DASHBOARDS,
    Query,
    concrete,
    dashboard_paths,
    dashboard_queries,
    example_values,
    load_dashboard,
    metric_names,
    panels,
    selectors,
    variable_query,
    variables,
)

EXPECTED = {
    "ilmo-overview.json": "ilmo-overview",
    "ilmo-event.json": "ilmo-event",
    "ilmo-broker.json": "ilmo-broker",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
# Labels that name one machine or pod: a dashboard that matches on them shows one
# installation only.
INSTANCE_LABELS = {"instance", "pod", "node", "kubernetes_pod_name", "hostname"}
PATHS = dashboard_paths()


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def _visible(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in panels(dashboard) if panel.get("type") != "row"]


def test_the_three_dashboards_are_there_with_stable_uids() -> None:
    found = {path.name: load_dashboard(path).get("uid") for path in PATHS}
    assert found == EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_the_dashboard_is_a_grafana_dashboard(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard.get("title"), "a dashboard needs a title"
    assert dashboard.get("description"), "say what the dashboard is for"
    assert int(dashboard["schemaVersion"]) >= 39
    assert "id" not in dashboard or dashboard["id"] is None, "an exported id clashes on import"
    ids = [int(panel["id"]) for panel in panels(dashboard)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"panel ids used twice: {duplicates}"
    datasources = [v for v in variables(dashboard) if v.get("type") == "datasource"]
    assert [(v["name"], v["query"]) for v in datasources] == [("datasource", "prometheus")]


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_every_panel_says_what_it_shows_and_where_from(path: Path) -> None:
    titles = [panel.get("title") for panel in _visible(load_dashboard(path))]
    assert len(set(titles)) == len(titles), f"two panels with one title: {titles}"
    for panel in _visible(load_dashboard(path)):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        assert panel.get("title"), where
        assert panel.get("description"), f"{where}: no description for the person on call"
        assert panel.get("datasource") == DATASOURCE, where
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
        targets = panel.get("targets", [])
        assert targets, f"{where}: no query"
        refs = [target.get("refId") for target in targets]
        assert len(set(refs)) == len(refs), f"{where}: refIds {refs}"
        for target in targets:
            assert target.get("datasource") == DATASOURCE, f"{where} {target.get('refId')}"
            assert str(target.get("expr", "")).strip(), f"{where} {target.get('refId')}: no expr"


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_panels_lie_within_the_grid_without_overlapping(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(load_dashboard(path)):
        grid = panel["gridPos"]
        assert grid["w"] > 0, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        for x, y in itertools.product(
            range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        ):
            assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
            cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_queries_name_their_metrics_and_no_single_machine(path: Path) -> None:
    for query in dashboard_queries(path):
        try:
            found = selectors(query.promql)
        except ValueError as error:
            pytest.fail(f"{query.source}: {error}: {query.promql}")
        assert found, f"{query.source}: reads no metric"
        for selector in found:
            assert selector.metric, f"{query.source}: a selector without a metric name"
            pinned = selector.labels & INSTANCE_LABELS
            assert not pinned, f"{query.source}: matches on {sorted(pinned)}"
        assert "127.0.0.1" not in query.written, query.source
        assert "localhost" not in query.written, query.source


def test_the_event_dashboard_chooses_among_the_events_the_capacity_service_knows() -> None:
    path = DASHBOARDS / "ilmo-event.json"
    [event] = [v for v in variables(load_dashboard(path)) if v["name"] == "event"]
    assert event["type"] == "query"
    assert variable_query(event) == "label_values(ilmo_event_seat_capacity, event)"
    per_event = [q.source for q in dashboard_queries(path) if "$event" in q.written]
    assert len(per_event) >= 5, per_event


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool reads each query as Prometheus would; one recording rule per query."""
    queries: list[Query] = [q for path in PATHS for q in dashboard_queries(path)]
    assert len(queries) > 30, "fewer queries than the three dashboards have"
    rules = [
        {"record": f"dashboard:query_{number}", "expr": query.promql}
        for number, query in enumerate(queries, start=1)
    ]
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = run_promtool("check", "rules", str(rules_file))
    legend = "\n".join(f"query_{n}: {q.source}: {q.promql}" for n, q in enumerate(queries, 1))
    assert checked.returncode == 0, f"{checked.stdout}{checked.stderr}\n{legend}"
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout, checked.stdout


def test_the_variables_of_a_query_are_replaced_as_grafana_would() -> None:
    values = {"event": "seminar-1", "service": ".+", "__rate_interval": "2m"}
    written = (
        'sum(rate(x{event="$event", service=~"${service}"}[$__rate_interval])) '
        '+ label_replace(y{a="[[event]]"}, "b", "$1", "c", "(.*)")'
    )
    assert concrete(written, values) == (
        'sum(rate(x{event="seminar-1", service=~".+"}[2m])) '
        '+ label_replace(y{a="seminar-1"}, "b", "$1", "c", "(.*)")'
    )
    with pytest.raises(ValueError, match=r"\$evnt"):
        concrete('x{event="$evnt"}', values)


def test_metric_names_come_from_the_parsed_query_not_its_text() -> None:
    promql = (
        'histogram_quantile(0.99, sum by (le, handler) (rate(a_bucket{handler="b_total"}[5m])))'
        ' / on (service) group_left c or {__name__="d"} and absent(e offset 5m)'
    )
    assert metric_names(promql) == {"a_bucket", "c", "d", "e"}


def test_example_values_cover_every_variable_of_each_dashboard() -> None:
    for path in PATHS:
        dashboard = load_dashboard(path)
        values = example_values(dashboard)
        assert {v["name"] for v in variables(dashboard)} <= set(values)

"""Every metric the dashboards and the alert rules read is one the services or RabbitMQ export.

A dashboard panel over a misspelt or renamed metric is not an error in
Grafana or Prometheus: it shows "No data", which at 3 am reads as "nothing
happened". So the four services run as processes, one event gets registrants
(in person and remote, with their mails sent and a stream link opened) so
that the labelled series exist, and each operations listener's ``/metrics``
(with the bearer token) and RabbitMQ's two endpoints (the aggregated one and
the per-queue one, the scrape jobs ``rabbitmq`` and ``rabbitmq-queues``) are
read with prometheus_client's parser. Every metric named by a dashboard
query (tests.support.queries) or an alert rule in
deploy/prometheus/rules/ilmo.yml must be among them, and where it has
series, every label a query matches on must be one of theirs.

A family the exporter declares without a series yet (a labelled counter
that has not counted, such as SMTP failures) counts as exported, under the
names a query uses for its type (``_total``, ``_bucket``, ``_sum``,
``_count``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import watch_link_in
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.queries import (
    ALERT_RULES,
    Query,
    dashboard_paths,
    dashboard_queries,
    recorded_names,
    rule_queries,
    selectors,
)
from tests.support.registration import ADMIN, event_payload, registration_payload, unique_id
from tests.support.smtp import SmtpTestServer, services_with_mail

# What Prometheus makes itself, with no exporter: target health and alert state.
PROMETHEUS_MADE = frozenset(
    {
        "up",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "scrape_duration_seconds",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
# Labels a series gets from its scrape target (job, instance, the agreed
# `service`; on Kubernetes the pod's), not from the exporter.
TARGET_LABELS = frozenset({"job", "instance", "service", "namespace", "pod", "container"})
# The names a query uses for each sample of a family, by the family's type.
SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}
RABBITMQ_PROMETHEUS_URL = os.environ.get(
    "ILMO_RABBITMQ_PROMETHEUS_TEST_URL", "http://127.0.0.1:15692"
).rstrip("/")
RABBITMQ_ENDPOINTS = (
    "/metrics",
    "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count",
)
STREAM_URL = "https://stream.example.fi/seminar"


@dataclass(frozen=True)
class Exported:
    """Each name a query may use, with the label names its series carry (none without series)."""

    labels: Mapping[str, frozenset[str]]
    # Each label's values over every series: whose figures are there.
    values: Mapping[str, frozenset[str]]

    def __contains__(self, name: object) -> bool:
        return name in self.labels


@dataclass
class Reading:
    labels: dict[str, set[str]] = field(default_factory=dict)
    values: dict[str, set[str]] = field(default_factory=dict)

    def add(self, text: str) -> None:
        for family in text_string_to_metric_families(text):
            if not family.samples:
                for suffix in SUFFIXES.get(family.type, ("",)):
                    self.labels.setdefault(family.name + suffix, set())
            for sample in family.samples:
                self.labels.setdefault(sample.name, set()).update(sample.labels)
                for label, value in sample.labels.items():
                    self.values.setdefault(label, set()).add(value)

    def exported(self) -> Exported:
        return Exported(
            {name: frozenset(labels) for name, labels in self.labels.items()},
            {label: frozenset(values) for label, values in self.values.items()},
        )


async def scrape(services: Mapping[str, ServiceProcess]) -> Exported:
    """One reading of every endpoint the scrape jobs read."""
    reading = Reading()
    async with httpx.AsyncClient(timeout=10) as client:
        for service in services.values():
            answer = await client.get(f"{service.operations_url}/metrics", headers=ADMIN)
            assert answer.status_code == 200, f"{service.name}: {answer.status_code}"
            reading.add(answer.text)
        for endpoint in RABBITMQ_ENDPOINTS:
            answer = await client.get(RABBITMQ_PROMETHEUS_URL + endpoint)
            assert answer.status_code == 200, f"RabbitMQ {endpoint}: {answer.status_code}"
            reading.add(answer.text)
    return reading.exported()


def queries() -> list[Query]:
    """The dashboards' queries, and the alert rules' once the rules file exists."""
    found = [query for path in dashboard_paths() for query in dashboard_queries(path)]
    if ALERT_RULES.exists():
        found += rule_queries(ALERT_RULES)
    return found


def made_by_prometheus() -> frozenset[str]:
    recorded = recorded_names(ALERT_RULES) if ALERT_RULES.exists() else set()
    return PROMETHEUS_MADE | recorded


def missing_metrics(exported: Exported) -> dict[str, list[str]]:
    """Each metric read but exported by nobody, with where it is read."""
    allowed = made_by_prometheus()
    missing: dict[str, list[str]] = {}
    for query in queries():
        for selector in selectors(query.promql):
            if selector.metric not in exported and selector.metric not in allowed:
                missing.setdefault(str(selector.metric), []).append(query.source)
    return dict(sorted(missing.items()))


def unknown_labels(exported: Exported) -> list[str]:
    """Labels a query matches on that the metric's series do not carry (a typo shows nothing)."""
    wrong = []
    for query in queries():
        for selector in selectors(query.promql):
            carried = exported.labels.get(selector.metric or "")
            if not carried:  # no series yet, or made by Prometheus: nothing to compare with
                continue
            extra = selector.labels - carried - TARGET_LABELS
            if extra:
                wrong.append(f"{selector.metric} has no {sorted(extra)} ({query.source})")
    return sorted(wrong)


async def register_and_watch(smtp: SmtpTestServer, services: Mapping[str, ServiceProcess]) -> str:
    """One event with a seated and a remote registrant, their mails sent, the stream link opened."""
    event_id = unique_id("metrics")
    async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
        created = await api.post(
            "/api/v1/events",
            json=event_payload(id=event_id, stream_url=STREAM_URL),
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        receipts = {}
        for attendance in ("in_person", "remote"):
            answer = await api.post(
                f"/api/v1/events/{event_id}/registrations",
                json=registration_payload(attendance=attendance),
            )
            assert answer.status_code == 202, answer.text
            receipts[attendance] = answer.json()["id"]
    [link_mail] = await smtp.wait_for(
        1, registration_id=receipts["remote"], kind="stream_link", timeout=60
    )
    async with httpx.AsyncClient(timeout=10) as browser:
        opened = await browser.get(watch_link_in(link_mail), follow_redirects=False)
    # Two weeks before the start the link is not open yet; counted all the same.
    assert opened.status_code < 500, opened.text
    return event_id


@pytest.fixture(scope="module")
async def exported(infrastructure: IsolatedInfrastructure) -> Exported:
    """What the endpoints export once an event has registrants, mails and a stream link opened.

    Read until that event's per-event figures are there (the capacity service
    sets them on its seat decision, which follows the registration through
    the broker) and every queried metric is exported; if that never comes,
    the last reading, and the tests name what is missing.
    """
    with services_with_mail(infrastructure) as (smtp, services):
        event_id = await register_and_watch(smtp, services)
        readings: list[Exported] = []

        async def complete() -> bool:
            readings.append(await scrape(services))
            latest = readings[-1]
            return event_id in latest.values.get("event", ()) and not missing_metrics(latest)

        with contextlib.suppress(AssertionError):
            await eventually(complete, what="every queried metric exported", timeout=60)
        return readings[-1]


async def test_every_metric_the_dashboards_and_alerts_read_is_exported(
    exported: Exported,
) -> None:
    missing = missing_metrics(exported)
    assert not missing, "\n".join(
        f"{name}: read by {'; '.join(sorted(set(by)))}" for name, by in missing.items()
    )


async def test_every_label_the_queries_match_on_is_exported(exported: Exported) -> None:
    unknown = unknown_labels(exported)
    assert not unknown, "\n".join(unknown)


def test_the_queries_read_metrics_of_every_source() -> None:
    """Guards the check above against reading nothing: the queries reach all exporters."""
    names = {s.metric for q in queries() for s in selectors(q.promql)}
    assert {n for n in names if n and n.startswith("ilmo_")}
    assert {n for n in names if n and n.startswith("rabbitmq_detailed_queue_")}
    assert {n for n in names if n and n.startswith("rabbitmq_global_")}

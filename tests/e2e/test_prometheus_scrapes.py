"""The local Prometheus of `make run` scrapes services it is told of, with the rules loaded.

The services run the e2e way (processes on free ports); this test adds a
targets file for them beside the one deploy/local/run.sh writes, in the
folder the running Prometheus's configuration names, and starts them with
the development token that Prometheus sends (its ``credentials_file``). It
then waits until Prometheus reports each of them ``up``, checks that every
rule group is loaded without error, and that a metric every service serves
since issue 17 (``ilmo_http_requests_total``) has series for them. The
targets file is removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually_sync
from tests.support.processes import SERVICES, ServiceProcess, running_services

PROMETHEUS = "http://" + os.environ.get("ILMO_PROMETHEUS_ADDR", "127.0.0.1:9090")
# Prometheus scrapes every 10 s locally; a target's first scrape may wait a whole interval.
SCRAPED_WITHIN = 90.0


def prometheus_api(path: str, **params: str) -> Any:
    answer = httpx.get(f"{PROMETHEUS}/api/v1/{path}", params=params, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]


def prometheus_config() -> str:
    try:
        return str(prometheus_api("status/config")["yaml"])
    except httpx.HTTPError as error:
        pytest.fail(f"no Prometheus answers at {PROMETHEUS} (make infra starts it): {error}")


def scrape_settings(config: str) -> tuple[Path, Path]:
    """The targets folder and the token file of the ``ilmo-*`` jobs, from the live configuration."""
    jobs = {block.split("\n", 1)[0]: block for block in config.split("- job_name: ")[1:]}
    job = jobs.get("ilmo-registration", "")
    files = re.search(r"files:\n\s*- (\S+)", job)
    token = re.search(r"credentials_file: (\S+)", job)
    assert files is not None, f"the ilmo-registration job has no file_sd_configs:\n{config}"
    assert token is not None, f"the ilmo-registration job sends no token:\n{config}"
    return Path(files.group(1)).parent, Path(token.group(1))


def development_token(path: Path) -> str:
    """The token Prometheus sends; made once as deploy/local/run.sh makes it, if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


@pytest.fixture(scope="module")
def scraped_services(infrastructure: IsolatedInfrastructure) -> Iterator[dict[str, ServiceProcess]]:
    targets_dir, token_file = scrape_settings(prometheus_config())
    token = development_token(token_file)
    with running_services(
        infrastructure, extra_environment={"ILMO_DEVELOPMENT_TOKEN": token}
    ) as services:
        targets = targets_dir / f"e2e-{uuid.uuid4().hex}.json"
        targets_dir.mkdir(parents=True, exist_ok=True)
        targets.write_text(
            json.dumps(
                [
                    {"targets": [f"127.0.0.1:{s.operations_port}"], "labels": {"service": name}}
                    for name, s in services.items()
                ]
            )
        )
        try:
            yield services
        finally:
            targets.unlink(missing_ok=True)


def instance(service: ServiceProcess) -> str:
    return f"127.0.0.1:{service.operations_port}"


def test_every_service_is_scraped_up(scraped_services: dict[str, ServiceProcess]) -> None:
    wanted = {instance(s): f"ilmo-{name}" for name, s in scraped_services.items()}

    def all_up() -> dict[str, str] | None:
        found = {
            target["labels"]["instance"]: target
            for target in prometheus_api("targets", state="active")["activeTargets"]
            if target["labels"].get("instance") in wanted
        }
        healthy = {
            address: target["labels"]["job"]
            for address, target in found.items()
            if target["health"] == "up"
        }
        return healthy if len(healthy) == len(wanted) else None

    healthy = eventually_sync(
        all_up,
        what="Prometheus to scrape every service up",
        timeout=SCRAPED_WITHIN,
        interval=1.0,
        detail=lambda: json.dumps(prometheus_api("targets", state="active"), indent=1)[-4000:],
    )
    assert healthy == wanted


def test_the_alert_rules_are_loaded_without_errors() -> None:
    groups = {group["name"]: group for group in prometheus_api("rules")["groups"]}
    assert {"ilmo", "ilmo-kubernetes"} <= set(groups)
    broken = [
        (rule["name"], rule.get("lastError"))
        for group in groups.values()
        for rule in group["rules"]
        if rule["health"] == "err"
    ]
    assert broken == []
    assert any(rule["name"] == "IlmoSeatsOversold" for rule in groups["ilmo"]["rules"])


def test_the_new_http_metric_has_series_for_the_services(
    scraped_services: dict[str, ServiceProcess],
) -> None:
    for service in scraped_services.values():
        assert httpx.get(f"{service.url}/health/live", timeout=5).status_code == 200
    instances = "|".join(instance(s) for s in scraped_services.values())
    selector = f'instance=~"{instances}",handler="/health/live"'
    query = f"sum by (service) (ilmo_http_requests_total{{{selector}}})"

    def every_service_counted() -> set[str] | None:
        series = prometheus_api("query", query=query)["result"]
        services = {item["metric"]["service"] for item in series}
        return services if services == set(SERVICES) else None

    assert eventually_sync(
        every_service_counted,
        what="ilmo_http_requests_total for each service in Prometheus",
        timeout=SCRAPED_WITHIN,
        interval=1.0,
    ) == set(SERVICES)

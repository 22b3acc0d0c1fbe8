"""``make run`` supervises what it starts: deploy/local/run.sh, driven from outside.

The script runs here as a developer runs it, but in a state folder of its own
(``ILMO_LOCAL_DIR``), on free ports and against this session's vhost and
databases, so it neither reuses nor disturbs a ``make run`` on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually_sync
from tests.support.processes import SERVICES, STREAM_LINK_SECRET, free_ports
from tests.support.registration import ADMIN_TOKEN, MANAGE_LINK_SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SH = REPO_ROOT / "deploy" / "local" / "run.sh"


def reported(output: str) -> dict[str, str]:
    """run.sh's report lines, ``component state details``: state and details by component."""
    lines = [line.split(maxsplit=1) for line in output.splitlines() if line[:1].isalpha()]
    return {words[0]: words[1] for words in lines if len(words) == 2}


@dataclass
class SupervisedRun:
    """One ``run.sh`` state folder with its environment."""

    local_dir: Path
    environment: dict[str, str]
    ports: dict[str, int]
    operations_ports: dict[str, int]

    def run_sh(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RUN_SH), command],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def supervisorctl(self, *arguments: str) -> str:
        result = subprocess.run(
            [
                str(Path(sys.prefix) / "bin" / "supervisorctl"),
                "-c",
                str(self.local_dir / "run" / "supervisord.conf"),
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout.strip()

    def pid(self, service: str) -> int:
        """The service's pid as supervisord knows it; 0 while it is not running."""
        answer = self.supervisorctl("pid", service)
        return int(answer) if answer.isdigit() else 0

    def ready(self, service: str) -> bool:
        """Both listeners of the service answer ``/health/ready`` with 200."""
        try:
            return all(
                httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
                for port in (self.ports[service], self.operations_ports[service])
            )
        except httpx.HTTPError:
            return False

    def supervisord_log(self) -> str:
        return (self.local_dir / "log" / "supervisord.log").read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """supervisord and services of this state folder still alive, wherever they are."""
        found = []
        for process in psutil.process_iter():
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if process.environ().get("ILMO_LOCAL_DIR") == str(self.local_dir):
                    found.append(process)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        return found


@pytest.fixture
def supervised(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    identity: IdentityProvider,
) -> Iterator[SupervisedRun]:
    """A state folder for run.sh; whatever it started is stopped afterwards."""
    # Short: the supervisord socket's path must fit a unix socket address.
    local_dir = Path(tempfile.mkdtemp(prefix="ilmo-run-"))
    console_client = f"test-{infrastructure.run_id}-run-console"
    chosen = iter(free_ports(2 * len(SERVICES)))
    ports = {name: next(chosen) for name in SERVICES}
    operations_ports = {name: next(chosen) for name in SERVICES}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ILMO_")}
    environment.update(
        {
            "ILMO_LOCAL_DIR": str(local_dir),
            "UV_PROJECT_ENVIRONMENT": sys.prefix,
            "ILMO_AMQP_URL": infrastructure.amqp_url,
            "ILMO_MONGODB_URL": infrastructure.mongodb_url,
            # run.sh uses the database prefix as the rate limits' Redis key prefix.
            "ILMO_REDIS_URL": infrastructure.redis_url,
            # Databases test_<run>_<service>, which the session removes.
            "ILMO_RUN_DATABASE_PREFIX": infrastructure.database_name(""),
            "ILMO_DEVELOPMENT_TOKEN": ADMIN_TOKEN,
            "ILMO_MANAGE_LINK_SECRET": MANAGE_LINK_SECRET,
            "ILMO_STREAM_LINK_SECRET": STREAM_LINK_SECRET,
            # run.sh creates the console's client at the identity provider: one
            # of its own, so that a developer's ilmo-console stays untouched.
            "ILMO_OIDC_CLIENT_ID": console_client,
        }
    )
    environment.update({f"ILMO_RUN_{name.upper()}_PORT": str(ports[name]) for name in SERVICES})
    environment.update(
        {
            f"ILMO_RUN_{name.upper()}_OPERATIONS_PORT": str(operations_ports[name])
            for name in SERVICES
        }
    )
    # run.sh creates its services' broker users; names of their own, since users
    # are global to the broker (a developer's ilmo-<service> stay untouched).
    broker_users = {name: f"ilmo-test-{infrastructure.run_id}-run-{name}" for name in SERVICES}
    environment.update(
        {f"ILMO_{name.upper()}_BROKER_USER": user for name, user in broker_users.items()}
    )
    run = SupervisedRun(local_dir, environment, ports, operations_ports)
    try:
        yield run
    finally:
        run.run_sh("stop", timeout=120)
        for process in run.processes():
            process.kill()
        shutil.rmtree(local_dir, ignore_errors=True)
        admin = infrastructure.admin()
        for user in broker_users.values():
            admin.delete_user(user)
        httpx.delete(f"{identity.admin_url}/admin/clients/{console_client}", timeout=10)


def test_a_killed_service_is_restarted_and_stop_leaves_nothing_running(
    supervised: SupervisedRun, identity: IdentityProvider
) -> None:
    started = supervised.run_sh("up", timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    report = reported(started.stdout)
    assert report["supervisord"].startswith("started")
    assert report["oidc-client"].startswith("ready"), report
    client_id = supervised.environment["ILMO_OIDC_CLIENT_ID"]
    client = httpx.get(f"{identity.admin_url}/admin/clients/{client_id}", timeout=10).json()
    console = f"http://127.0.0.1:{supervised.ports['registration']}/console"
    assert client["redirect_uris"] == [f"{console}/signed-in"]
    assert client["post_logout_redirect_uris"] == [f"{console}/signed-out"]
    configuration = (supervised.local_dir / "run" / "supervisord.conf").read_text()
    assert f'ILMO_OIDC_ISSUER="{identity.issuer}"' in configuration
    assert f'ILMO_OIDC_CLIENT_ID="{client_id}"' in configuration
    assert all(report[name].startswith("ready") for name in SERVICES), report
    pids = {name: supervised.pid(name) for name in SERVICES}
    assert all(pids.values()), pids
    assert all(supervised.ready(name) for name in SERVICES)
    # The local Prometheus (infra.sh) finds the four operations listeners here.
    targets_file = supervised.local_dir / "prometheus" / "targets" / "run.json"
    targets = json.loads(targets_file.read_text())
    assert {t["labels"]["service"]: t["targets"] for t in targets} == {
        name: [f"127.0.0.1:{supervised.operations_ports[name]}"] for name in SERVICES
    }
    supervisord = psutil.Process(pids["capacity"]).ppid()

    os.kill(pids["capacity"], signal.SIGKILL)

    def restarted() -> int | None:
        pid = supervised.pid("capacity")
        return pid if pid not in (0, pids["capacity"]) and supervised.ready("capacity") else None

    new_pid = eventually_sync(
        restarted, what="capacity restarted and ready", timeout=60, interval=0.2
    )
    log = supervised.supervisord_log()
    assert "exited: capacity (terminated by SIGKILL; not expected)" in log
    assert f"spawned: 'capacity' with pid {new_pid}" in log
    assert {name: supervised.pid(name) for name in SERVICES} == {**pids, "capacity": new_pid}

    again = supervised.run_sh("up", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    reused = reported(again.stdout)["supervisord"]
    assert reused.startswith("reused"), again.stdout
    assert f"pid {supervisord}," in reused, again.stdout

    stopped = supervised.run_sh("stop", timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert supervised.processes() == []
    assert not targets_file.exists()
    for pid in (supervisord, new_pid, *pids.values()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    status = supervised.run_sh("status", timeout=30)
    assert status.returncode == 3, status.stdout


def test_a_bad_setting_stops_the_service_for_good_instead_of_restarting_it(
    supervised: SupervisedRun,
) -> None:
    supervised.environment["ILMO_PREFETCH"] = "0"  # every service exits with 2

    started = supervised.run_sh("up", timeout=120)

    assert started.returncode == 1, started.stdout + started.stderr
    report = reported(started.stdout)
    log = supervised.supervisord_log()
    for name in SERVICES:
        assert report[name].startswith("failed"), report
        assert f"ilmo-{name}: invalid setting ILMO_PREFETCH" in started.stdout
        assert log.count(f"spawned: '{name}'") == 1, log
        assert f"exited: {name} (exit status 2; expected)" in log, log
    assert "gave up" not in log

"""Ilmo's container image, built by deploy/image/build.sh and run with podman.

``ContainerService`` is a ``ServiceProcess`` whose process is ``podman run``
of the image with the service's command: ``running_services`` gives it the
same settings (the session's vhost, broker users, databases, ports) as the
processes of the other end-to-end tests. It runs as production would: the
image's own user, a read-only root filesystem, the settings passed as
environment variables by name only (their values, secrets included, never on
a command line). Host networking, from deploy/image/containers.conf, lets it
reach the local RabbitMQ, FerretDB, Redis and the test's SMTP server at
127.0.0.1; its listeners are kept on loopback.

podman always runs with deploy/image/containers.conf (``CONTAINERS_CONF``),
the settings these machines need, as the scripts do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "deploy" / "image" / "build.sh"
CONTAINERS_CONF = REPO_ROOT / "deploy" / "image" / "containers.conf"
IMAGE = os.environ.get("ILMO_IMAGE", "localhost/ilmo:dev")
# Every container the tests start carries this label, and a name starting with it.
TEST_LABEL = "org.ilmo.test"
STOP_SECONDS = 30


def podman_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    return {**(os.environ if base is None else base), "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*arguments: str, check: bool = True, timeout: float = 120) -> str:
    """Run podman with the project's settings; its standard output."""
    done = subprocess.run(
        ["podman", *arguments],
        env=podman_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(arguments)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def build_image() -> None:
    """deploy/image/build.sh: reuses every layer when nothing changed, minutes from scratch."""
    if shutil.which("podman") is None:
        raise AssertionError(
            "podman is not installed: run `make containers` (deploy/image/tools.sh)"
        )
    done = subprocess.run(
        [str(BUILD_SCRIPT)], env={**os.environ, "ILMO_IMAGE": IMAGE}, capture_output=True, text=True
    )
    if done.returncode != 0:
        log = REPO_ROOT / ".local" / "log" / "image-build.log"
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        raise AssertionError(f"build.sh failed:\n{done.stdout}{done.stderr}\n{tail}")


def image_config(image: str = IMAGE) -> dict[str, Any]:
    """The image's inspect record (Config, Healthcheck, Labels, ...)."""
    [record] = json.loads(podman("image", "inspect", image))
    return dict(record)


def run_in_image(*command: str, image: str = IMAGE) -> str:
    """``command`` in a throwaway container of the image (read-only, as deployed)."""
    name = f"ilmo-test-{uuid.uuid4().hex[:10]}"
    try:
        return podman(
            "run", "--rm", "--read-only", "--name", name, "--label", TEST_LABEL, image, *command
        )
    finally:
        podman("rm", "--force", "--ignore", name, check=False)


@dataclass
class ContainerService(ServiceProcess):
    """One service as a container of the image; ``process`` is its ``podman run``."""

    container: str = field(default="")

    def start(self) -> None:
        if not self.container:
            self.container = f"ilmo-test-{uuid.uuid4().hex[:10]}-{self.name}"
        settings = sorted(key for key in self.environment if key.startswith("ILMO_"))
        command = [
            "podman",
            "run",
            "--rm",
            "--name",
            self.container,
            "--label",
            TEST_LABEL,
            "--read-only",
            # No systemd here to run the periodic checks; `podman healthcheck
            # run` runs the image's check on demand.
            "--health-interval=disable",
            # podman takes each value from its own environment: none on a command line.
            *(f"--env={key}" for key in settings),
            IMAGE,
            f"ilmo-{self.name}",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env=podman_environment(self.environment),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The image's HEALTHCHECK, run now in the container."""
        return subprocess.run(
            ["podman", "healthcheck", "run", self.container],
            env=podman_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def last_health_output(self) -> str:
        """What the image's check printed the last time it ran here."""
        [record] = json.loads(podman("container", "inspect", self.container))
        state = record["State"]
        # podman names it Healthcheck before 4.5 and Health (Docker's name) after.
        health = state.get("Health") or state.get("Healthcheck") or {}
        log = health.get("Log") or [{}]
        return str(log[-1].get("Output", ""))

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """``podman stop`` (SIGTERM, then SIGKILL), then make sure the container is gone."""
        try:
            if self.container:
                podman("stop", "--ignore", f"--time={int(timeout)}", self.container, check=False)
            return super().stop(timeout)
        finally:
            if self.container:
                podman("rm", "--force", "--ignore", self.container, check=False)

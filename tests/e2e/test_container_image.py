"""The container image: built by deploy/image/build.sh, then run as production would run it.

The four services run from the image (its own non-root user, a read-only
root filesystem, host networking) against the local RabbitMQ, FerretDB and
Redis with the session's own vhost, broker users and databases; one person
registers through the HTTP API and their mails arrive at the test's SMTP
server; the image's HEALTHCHECK passes in every container. The containers
are removed afterwards, whatever happened.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.containers import (
    IMAGE,
    ContainerService,
    build_image,
    image_config,
    podman,
    run_in_image,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.processes import SERVICES
from tests.support.registration import create_event, register
from tests.support.smtp import services_with_mail

# A first build makes the Debian base and installs every dependency: minutes.
pytestmark = pytest.mark.timeout(900)

COMMANDS = (
    "ilmo-registration",
    "ilmo-capacity",
    "ilmo-notification",
    "ilmo-streaming",
    "ilmo-dlq",
    "ilmo-notification-replay",
)
LABELS = ("title", "description", "version", "revision", "created", "licenses", "vendor")
# The listeners stay on loopback: with host networking, the image's 0.0.0.0
# would open them on the machine's own addresses.
ON_LOOPBACK = {"ILMO_HTTP_HOST": "127.0.0.1", "ILMO_OPERATIONS_HOST": "127.0.0.1"}


@pytest.fixture(scope="module")
def image() -> str:
    build_image()
    return IMAGE


def test_the_image_runs_as_a_fixed_non_root_user_with_a_healthcheck_and_labels(
    image: str,
) -> None:
    record = image_config(image)
    assert record["Config"]["User"] == "10001:10001"
    assert record["Healthcheck"]["Test"] == ["CMD", "python3", "/opt/ilmo/healthcheck.py"]
    labels = record["Config"]["Labels"]
    for name in LABELS:
        assert labels.get(f"org.opencontainers.image.{name}"), name
    assert labels["org.opencontainers.image.revision"] != "unknown"
    assert record["Config"]["Cmd"] == ["ilmo-registration"]
    assert "PYTHONDONTWRITEBYTECODE=1" in record["Config"]["Env"]


def test_every_command_is_on_the_path_and_no_build_tool_is(image: str) -> None:
    found = run_in_image(
        "python3",
        "-c",
        "import shutil, sys; [print(c, shutil.which(c)) for c in sys.argv[1:]]",
        *COMMANDS,
        "uv",
        "pip",
        "pip3",
        "gcc",
        "cc",
        "curl",
        image=image,
    )
    where = dict(line.split(" ", 1) for line in found.splitlines())
    for command in COMMANDS:
        assert where[command] == f"/opt/ilmo/venv/bin/{command}"
    for tool in ("uv", "pip", "pip3", "gcc", "cc", "curl"):
        assert where[tool] == "None", f"{tool} is in the image: {where[tool]}"


@pytest.mark.parametrize("tool", ["ilmo-dlq", "ilmo-notification-replay"])
def test_the_operators_tools_start_on_a_read_only_filesystem(image: str, tool: str) -> None:
    assert run_in_image(tool, "--help", image=image).startswith(f"usage: {tool}")


async def test_the_four_services_from_the_image_register_a_person_and_send_the_mails(
    image: str, infrastructure: IsolatedInfrastructure
) -> None:
    with services_with_mail(infrastructure, ON_LOOPBACK, process_type=ContainerService) as (
        smtp,
        services,
    ):
        containers = [s for s in services.values() if isinstance(s, ContainerService)]
        names = {service.name: service.container for service in containers}
        assert set(names) == set(SERVICES)
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            event = await create_event(api)
            person = await register(api, event["id"], attendance="in_person", language="sv")
        registration_id = person["id"]
        received = await smtp.wait_for(
            1, registration_id=registration_id, kind="registration_received"
        )
        seated = await smtp.wait_for(
            1, registration_id=registration_id, kind="seat_confirmed", timeout=60
        )
        assert received[0].language == seated[0].language == "sv"
        for service in containers:
            checked = service.healthcheck()
            assert checked.returncode == 0, f"{service.name}: {checked.stdout}{checked.stderr}"
            # podman 4.3 says nothing when healthy, "unhealthy" otherwise.
            assert "unhealthy" not in checked.stdout, checked.stdout
            assert service.last_health_output().startswith(
                f"ready: 127.0.0.1:{service.port}/health/ready: HTTP 200"
            ), service.last_health_output()
    # Stopped and removed, even the ones whose test failed (ContainerService.stop).
    left = podman("ps", "--all", "--format", "{{.Names}}").split()
    assert not set(names.values()) & set(left)

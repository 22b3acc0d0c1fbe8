"""Settings come from ILMO_* variables and a bad one stops the service with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ilmo_capacity.settings import CapacitySettings
from ilmo_notification.settings import NotificationSettings
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.settings import load_settings
from ilmo_streaming.settings import StreamingSettings

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_each_service_has_its_own_port_and_database() -> None:
    settings = [
        RegistrationSettings(),
        CapacitySettings(),
        NotificationSettings(),
        StreamingSettings(),
    ]
    assert [s.http_port for s in settings] == [8081, 8082, 8083, 8084]
    assert len({s.mongodb_database for s in settings}) == 4


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILMO_HTTP_PORT", "9999")
    monkeypatch.setenv("ILMO_AMQP_URL", "amqp://u:p@broker:5672/ilmo")
    settings = load_settings(CapacitySettings, "ilmo-capacity")
    assert settings.http_port == 9999
    assert settings.amqp_url[0].host == "broker"


def test_the_broker_setting_takes_the_nodes_of_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ILMO_AMQP_URL", "amqp://u:p@rabbit-0:5672/ilmo, amqp://u:p@rabbit-1:5672/ilmo,"
    )
    settings = load_settings(CapacitySettings, "ilmo-capacity")
    assert [url.host for url in settings.amqp_url] == ["rabbit-0", "rabbit-1"]


@pytest.mark.parametrize(
    "url",
    [
        # A replica set's seed list, as MongoDB's documentation writes it.
        "mongodb://u:p@mongo-0:27017,mongo-1:27017,mongo-2/ilmo?replicaSet=rs0&tls=true",
        # An SRV record (the MongoDB operators' connection string): no port may be added.
        "mongodb+srv://u:p@ilmo-mongodb-svc.ilmo.svc.cluster.local/ilmo?replicaSet=ilmo",
    ],
)
def test_the_database_setting_takes_a_replica_set_as_written(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ILMO_MONGODB_URL", url)
    settings = load_settings(CapacitySettings, "ilmo-capacity")
    assert str(settings.mongodb_url) == url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ILMO_HTTP_PORT", "eighty"),
        ("ILMO_HTTP_PORT", "70000"),
        ("ILMO_AMQP_URL", "http://not-a-broker/"),
        ("ILMO_AMQP_URL", "amqp://node-a/,http://node-b/"),
        ("ILMO_AMQP_URL", " , "),
        ("ILMO_MONGODB_URL", "postgres://db/"),
        ("ILMO_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_setting_exits_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(StreamingSettings, "ilmo-streaming")
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ilmo-streaming: invalid setting {variable}:")


def test_the_console_command_refuses_to_start_with_a_bad_setting() -> None:
    command = Path(sys.executable).parent / "ilmo-registration"
    finished = subprocess.run(
        [str(command)],
        env={"ILMO_HTTP_PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "ilmo-registration: invalid setting ILMO_HTTP_PORT: "
        "Input should be a valid integer, unable to parse string as an integer"
    )

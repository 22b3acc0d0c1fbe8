"""The streaming service needs its link secret, and says so in one line when it is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ilmo_shared.settings import load_settings, require_secrets, secret
from ilmo_streaming.settings import StreamingSettings

GOOD_SECRET = "x" * 32


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_port_and_public_base_url() -> None:
    settings = StreamingSettings()
    assert settings.http_port == 8084
    assert settings.watch_base_url == "http://127.0.0.1:8084"
    assert settings.stream_link_secret is None


def test_secret_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILMO_STREAM_LINK_SECRET", GOOD_SECRET)
    monkeypatch.setenv("ILMO_PUBLIC_BASE_URL", "https://watch.example.fi/live/")
    settings = load_settings(StreamingSettings, "ilmo-streaming")
    require_secrets(settings, "ilmo-streaming", "stream_link_secret")
    assert secret(settings, "stream_link_secret").get_secret_value() == GOOD_SECRET
    assert settings.watch_base_url == "https://watch.example.fi/live"
    assert GOOD_SECRET not in repr(settings)


def test_a_missing_secret_stops_the_service_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        require_secrets(StreamingSettings(), "ilmo-streaming", "stream_link_secret")
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "ilmo-streaming: invalid setting ILMO_STREAM_LINK_SECRET: Field required"
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ILMO_STREAM_LINK_SECRET", "x" * 31),
        ("ILMO_STREAM_LINK_SECRET", ""),
        ("ILMO_PUBLIC_BASE_URL", "ftp://watch.example.fi"),
        ("ILMO_PUBLIC_BASE_URL", "not a url"),
    ],
)
def test_a_bad_value_stops_the_service_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(StreamingSettings, "ilmo-streaming")
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ilmo-streaming: invalid setting {variable}:")
    assert "x" * 31 not in lines[0]


def test_the_console_command_refuses_to_start_without_the_secret() -> None:
    command = Path(sys.executable).parent / "ilmo-streaming"
    finished = subprocess.run(
        [str(command)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "ilmo-streaming: invalid setting ILMO_STREAM_LINK_SECRET: Field required"
    )

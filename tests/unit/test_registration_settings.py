"""The registration service's own settings: the admin token and the public address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ilmo_registration.settings import RegistrationSettings

COMMAND = Path(sys.executable).parent / "ilmo-registration"


def start(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND)],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_service_does_not_start_without_an_admin_token() -> None:
    finished = start({})
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "ilmo-registration: invalid setting ILMO_ADMIN_TOKEN: Field required"
    )


def test_a_short_admin_token_is_refused_without_echoing_it() -> None:
    finished = start({"ILMO_ADMIN_TOKEN": "tooshort"})
    assert finished.returncode == 2
    assert finished.stderr.startswith("ilmo-registration: invalid setting ILMO_ADMIN_TOKEN:")
    assert "tooshort" not in finished.stderr


def test_the_admin_token_is_secret_and_the_public_address_has_a_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ILMO_ADMIN_TOKEN", "a-long-enough-admin-token")
    settings = RegistrationSettings()
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "a-long-enough-admin-token"
    assert "a-long-enough" not in repr(settings)
    assert settings.public_url("/api/v1/events") == "http://127.0.0.1:8081/api/v1/events"
    monkeypatch.setenv("ILMO_PUBLIC_BASE_URL", "https://ilmo.example.fi/")
    assert RegistrationSettings().public_url("/x") == "https://ilmo.example.fi/x"
    monkeypatch.setenv("ILMO_PUBLIC_BASE_URL", "not a url")
    with pytest.raises(ValidationError):
        RegistrationSettings()

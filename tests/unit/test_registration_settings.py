"""The registration service's own settings: its secret, the development token, its address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ilmo_registration.settings import RegistrationSettings

COMMAND = Path(sys.executable).parent / "ilmo-registration"
DEVELOPMENT_TOKEN = "a-long-enough-development-token-0123"
LINK_SECRET = "a-manage-link-secret-of-32-characters"


def start(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND)],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_service_does_not_start_without_its_secret() -> None:
    finished = start({})
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        "ilmo-registration: invalid setting ILMO_MANAGE_LINK_SECRET: Field required",
    ]
    finished = start({"ILMO_DEVELOPMENT_TOKEN": DEVELOPMENT_TOKEN})
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "ilmo-registration: invalid setting ILMO_MANAGE_LINK_SECRET: Field required"
    )


def test_short_secrets_are_refused_without_echoing_them() -> None:
    finished = start({"ILMO_DEVELOPMENT_TOKEN": "tooshort", "ILMO_MANAGE_LINK_SECRET": LINK_SECRET})
    assert finished.returncode == 2
    assert finished.stderr.startswith("ilmo-registration: invalid setting ILMO_DEVELOPMENT_TOKEN:")
    assert "tooshort" not in finished.stderr
    short = "s" * 31
    finished = start({"ILMO_MANAGE_LINK_SECRET": short})
    assert finished.returncode == 2
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("ilmo-registration: invalid setting ILMO_MANAGE_LINK_SECRET:")
    assert "at least 32" in line
    assert short not in finished.stderr


def test_the_secrets_are_secret_and_the_public_address_has_a_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ILMO_DEVELOPMENT_TOKEN", DEVELOPMENT_TOKEN)
    monkeypatch.setenv("ILMO_MANAGE_LINK_SECRET", LINK_SECRET)
    settings = RegistrationSettings()
    assert settings.development_token is not None
    assert settings.development_token.get_secret_value() == DEVELOPMENT_TOKEN
    assert settings.manage_link_secret is not None
    assert settings.manage_link_secret.get_secret_value() == LINK_SECRET
    assert "a-long-enough" not in repr(settings)
    assert LINK_SECRET not in repr(settings)
    assert settings.public_url("/api/v1/events") == "http://127.0.0.1:8081/api/v1/events"
    monkeypatch.setenv("ILMO_PUBLIC_BASE_URL", "https://ilmo.example.fi/")
    assert RegistrationSettings().public_url("/x") == "https://ilmo.example.fi/x"
    monkeypatch.setenv("ILMO_PUBLIC_BASE_URL", "not a url")
    with pytest.raises(ValidationError):
        RegistrationSettings()

"""ILMO_CORS_ALLOWED_ORIGINS: none by default, comma-separated origins, a typo stops the service."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ilmo_registration.settings import RegistrationSettings


def test_no_origin_is_allowed_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ILMO_CORS_ALLOWED_ORIGINS", raising=False)
    assert RegistrationSettings().cors_allowed_origins == ()


def test_origins_are_read_comma_separated_as_browsers_write_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ILMO_CORS_ALLOWED_ORIGINS", " https://App.Example.fi , http://localhost:5173,,"
    )
    assert RegistrationSettings().cors_allowed_origins == (
        "https://app.example.fi",
        "http://localhost:5173",
    )


@pytest.mark.parametrize(
    "value",
    ["*", "https://app.example.fi/", "https://app.example.fi/path", "app.example.fi", "ftp://x.fi"],
)
def test_anything_but_an_origin_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ILMO_CORS_ALLOWED_ORIGINS", f"https://ok.example.fi,{value}")
    with pytest.raises(ValidationError, match="is not an origin"):
        RegistrationSettings()

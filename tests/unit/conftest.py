"""Fixtures shared by unit tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings tests read the environment: start each from no ``ILMO_*`` at all."""
    for name in list(os.environ):
        if name.startswith("ILMO_"):
            monkeypatch.delenv(name)

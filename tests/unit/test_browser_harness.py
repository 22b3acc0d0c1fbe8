"""Finding the browser: a missing Chromium must fail the browser tests and say what to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM_VARIABLE, BrowserMissingError, chromium_path


def test_the_configured_chromium_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    executable = tmp_path / "chromium"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_VARIABLE, str(executable))
    assert chromium_path() == str(executable)


def test_a_configured_path_that_is_no_program_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CHROMIUM_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(BrowserMissingError, match="make browser"):
        chromium_path()


def test_no_chromium_on_path_tells_to_run_make_browser(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(CHROMIUM_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserMissingError, match=r"run `make browser`"):
        chromium_path()

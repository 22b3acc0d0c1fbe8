"""promtool, Prometheus's own checker, for the tests of the deployment files.

``make promtool`` (deploy/local/promtool.sh) installs it from Debian's
``prometheus`` package; ``ILMO_PROMTOOL`` names another executable. A test
that needs it and finds none fails saying so: a check that cannot run has
not passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

VARIABLE = "ILMO_PROMTOOL"


def promtool() -> str:
    """The promtool executable, or the test fails with how to install it."""
    configured = os.environ.get(VARIABLE)
    found = configured if configured else shutil.which("promtool")
    if not found or not Path(found).is_file():
        pytest.fail(
            f"no promtool ({VARIABLE}={configured!r}, PATH has none): run `make promtool`",
            pytrace=False,
        )
    return found


def run_promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``promtool arguments...``, its output captured as text."""
    return subprocess.run(
        [promtool(), *arguments], capture_output=True, text=True, timeout=120, check=False
    )

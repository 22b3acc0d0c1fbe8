"""The sample seminar `make run` creates, from its script in deploy/local (not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).parents[2] / "deploy" / "local" / "sample_event.py"


def sample_event_script() -> ModuleType:
    """``deploy/local/sample_event.py`` as a module: ``sample_event(today)``, ``seminar_day``."""
    spec = importlib.util.spec_from_file_location("sample_event", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

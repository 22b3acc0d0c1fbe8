"""``ilmo-capacity``: start the capacity service."""

from __future__ import annotations

from ilmo_capacity.app import SERVICE, build_app
from ilmo_capacity.settings import CapacitySettings
from ilmo_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, CapacitySettings, build_app)

"""``ilmo-registration``: start the registration service."""

from __future__ import annotations

from ilmo_registration.app import SERVICE, build_app
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, RegistrationSettings, build_app)

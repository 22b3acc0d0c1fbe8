"""``ilmo-registration``: start the registration service."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_registration.app import SERVICE, build_app
from ilmo_registration.settings import SECRETS, RegistrationSettings
from ilmo_shared.runtime import run_service
from ilmo_shared.settings import require_secrets


def _build(settings: RegistrationSettings) -> FastAPI:
    require_secrets(settings, f"ilmo-{SERVICE}", *SECRETS)
    return build_app(settings)


def main() -> None:
    run_service(SERVICE, RegistrationSettings, _build)

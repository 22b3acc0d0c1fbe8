"""``ilmo-notification``: start the notification service."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_notification.app import SERVICE, build_app
from ilmo_notification.settings import NotificationSettings
from ilmo_shared.runtime import run_service
from ilmo_shared.settings import require_secrets


def _build(settings: NotificationSettings) -> FastAPI:
    require_secrets(settings, f"ilmo-{SERVICE}", "manage_link_secret")
    return build_app(settings)


def main() -> None:
    run_service(SERVICE, NotificationSettings, _build)

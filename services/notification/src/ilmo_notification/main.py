"""``ilmo-notification``: start the notification service."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_notification.app import SERVICE, build_app
from ilmo_notification.settings import NotificationSettings, require_manage_link_secret
from ilmo_shared.runtime import run_service


def _build(settings: NotificationSettings) -> FastAPI:
    require_manage_link_secret(settings, f"ilmo-{SERVICE}")
    return build_app(settings)


def main() -> None:
    run_service(SERVICE, NotificationSettings, _build)

"""``ilmo-notification``: start the notification service."""

from __future__ import annotations

from ilmo_notification.app import SERVICE, build_app
from ilmo_notification.settings import NotificationSettings
from ilmo_shared.runtime import run_service


def main() -> None:
    run_service(SERVICE, NotificationSettings, build_app)

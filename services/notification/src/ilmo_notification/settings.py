"""Notification service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from ilmo_shared.settings import Port, ServiceSettings


class NotificationSettings(ServiceSettings):
    """Defaults for the notification service; every value can be overridden from the environment."""

    http_port: Port = 8083
    mongodb_database: str = "ilmo_notification"

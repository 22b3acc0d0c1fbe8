"""Capacity service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from ilmo_shared.settings import Port, ServiceSettings


class CapacitySettings(ServiceSettings):
    """Defaults for the capacity service; every value can be overridden from the environment."""

    http_port: Port = 8082
    operations_port: Port = 9082
    mongodb_database: str = "ilmo_capacity"

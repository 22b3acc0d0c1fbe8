"""Streaming service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from ilmo_shared.settings import Port, ServiceSettings


class StreamingSettings(ServiceSettings):
    """Defaults for the streaming service; every value can be overridden from the environment."""

    http_port: Port = 8084
    mongodb_database: str = "ilmo_streaming"

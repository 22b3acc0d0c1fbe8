"""Registration service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from ilmo_shared.settings import Port, ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Defaults for the registration service; every value can be overridden from the environment."""

    http_port: Port = 8081
    mongodb_database: str = "ilmo_registration"

"""Registration service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

import sys

from pydantic import AnyHttpUrl, Field, SecretStr

from ilmo_shared.settings import ENV_PREFIX, Port, ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Defaults for the registration service; every value can be overridden from the environment.

    ``admin_token`` (``ILMO_ADMIN_TOKEN``, at least 16 characters) guards the
    event catalogue and the registration lists. The service does not start
    without it (see ``require_admin_token``); it is optional here only so that
    the settings object can be built without it, e.g. by tools that read the
    port or the database name.
    """

    http_port: Port = 8081
    mongodb_database: str = "ilmo_registration"
    admin_token: SecretStr | None = Field(default=None, min_length=16)
    # Where clients reach this service; used for Location headers.
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8081"))

    def public_url(self, path: str) -> str:
        return f"{str(self.public_base_url).rstrip('/')}{path}"


def require_admin_token(settings: RegistrationSettings, program: str) -> SecretStr:
    """The admin token, or exit in the same one-line form as any other bad setting."""
    if settings.admin_token is None:
        print(
            f"{program}: invalid setting {ENV_PREFIX}ADMIN_TOKEN: Field required",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return settings.admin_token

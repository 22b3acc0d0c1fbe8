"""Registration service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

import sys

from pydantic import AnyHttpUrl, Field, SecretStr

from ilmo_shared.settings import ENV_PREFIX, Port, ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Defaults for the registration service; every value can be overridden from the environment.

    ``admin_token`` (``ILMO_ADMIN_TOKEN``, at least 16 characters) guards the
    event catalogue and the registration lists. ``manage_link_secret``
    (``ILMO_MANAGE_LINK_SECRET``, at least 32 characters) is the key, shared
    with the notification service, from which the manage links in emails are
    derived (``ilmo_shared.manage_links``). The service does not start without
    either (see ``require_secrets``); they are optional here only so that the
    settings object can be built without them, e.g. by tools that read the
    port or the database name.
    """

    http_port: Port = 8081
    mongodb_database: str = "ilmo_registration"
    admin_token: SecretStr | None = Field(default=None, min_length=16)
    manage_link_secret: SecretStr | None = Field(default=None, min_length=32)
    # Where clients reach this service; used for Location headers.
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8081"))

    def public_url(self, path: str) -> str:
        return f"{str(self.public_base_url).rstrip('/')}{path}"


def require_secrets(settings: RegistrationSettings, program: str) -> None:
    """Exit unless both secrets are set, one line per missing variable as for any bad setting."""
    missing = [
        name
        for name, value in (
            ("ADMIN_TOKEN", settings.admin_token),
            ("MANAGE_LINK_SECRET", settings.manage_link_secret),
        )
        if value is None
    ]
    for name in missing:
        print(f"{program}: invalid setting {ENV_PREFIX}{name}: Field required", file=sys.stderr)
    if missing:
        raise SystemExit(2)

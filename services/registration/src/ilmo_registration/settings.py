"""Registration service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr

from ilmo_shared.settings import Port, Secret, ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Defaults for the registration service; every value can be overridden from the environment.

    ``admin_token`` (``ILMO_ADMIN_TOKEN``, at least 16 characters) guards the
    event catalogue and the registration lists. ``manage_link_secret``
    (``ILMO_MANAGE_LINK_SECRET``, at least 32 characters) is the key, shared
    with the notification service, from which the manage links in emails are
    derived (``ilmo_shared.manage_links``). The service does not start without
    either (``SECRETS``, checked by ``ilmo_shared.settings.require_secrets``);
    they are optional here only so that the settings object can be built
    without them, e.g. by tools that read the port or the database name.
    """

    http_port: Port = 8081
    mongodb_database: str = "ilmo_registration"
    admin_token: SecretStr | None = Field(default=None, min_length=16)
    manage_link_secret: Secret = None
    # Where clients reach this service; used for Location headers.
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8081"))

    def public_url(self, path: str) -> str:
        return f"{str(self.public_base_url).rstrip('/')}{path}"


# The settings without which the service does not start.
SECRETS = ("admin_token", "manage_link_secret")

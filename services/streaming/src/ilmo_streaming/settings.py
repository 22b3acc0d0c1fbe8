"""Streaming service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

import sys

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from ilmo_shared.settings import ENV_PREFIX, Port, ServiceSettings

MIN_SECRET_LENGTH = 32


class StreamingSettings(ServiceSettings):
    """Defaults for the streaming service; every value can be overridden from the environment.

    ``stream_link_secret`` (``ILMO_STREAM_LINK_SECRET``, at least 32
    characters) signs the personal stream links: anyone who has it can make a
    working link for any registration, and changing it breaks every link
    already sent. The service does not start without it (see
    ``require_stream_link_secret``); it is optional here only so that the
    settings object can be built without it, e.g. by tools that read the port.

    ``public_base_url`` (``ILMO_PUBLIC_BASE_URL``) is where viewers reach this
    service: personal links are ``{public_base_url}/watch/{token}``.
    """

    http_port: Port = 8084
    mongodb_database: str = "ilmo_streaming"
    stream_link_secret: SecretStr | None = None
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8084"))

    @field_validator("stream_link_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
        return value

    @property
    def watch_base_url(self) -> str:
        """The public base URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/")


def require_stream_link_secret(settings: StreamingSettings, program: str) -> SecretStr:
    """The link secret, or exit in the same one-line form as any other bad setting."""
    if settings.stream_link_secret is None:
        print(
            f"{program}: invalid setting {ENV_PREFIX}STREAM_LINK_SECRET: Field required",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return settings.stream_link_secret

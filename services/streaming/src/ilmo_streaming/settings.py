"""Streaming service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from ilmo_shared.settings import Port, Secret, ServiceSettings


class StreamingSettings(ServiceSettings):
    """Defaults for the streaming service; every value can be overridden from the environment.

    ``stream_link_secret`` (``ILMO_STREAM_LINK_SECRET``, at least 32
    characters) signs the personal stream links: anyone who has it can make a
    working link for any registration, and changing it breaks every link
    already sent. The service does not start without it (``main`` requires
    it); it is optional here only so that the settings object can be built
    without it, e.g. by tools that read the port.

    ``public_base_url`` (``ILMO_PUBLIC_BASE_URL``) is where viewers reach this
    service: personal links are ``{public_base_url}/watch/{token}``.
    """

    http_port: Port = 8084
    operations_port: Port = 9084
    mongodb_database: str = "ilmo_streaming"
    stream_link_secret: Secret = None
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8084"))
    # How long granting a link answers from its event's stream details read
    # before (``StreamEventStore``): another replica's change applies here at
    # most this much later. 0 reads every time.
    event_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    @property
    def watch_base_url(self) -> str:
        """The public base URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/")

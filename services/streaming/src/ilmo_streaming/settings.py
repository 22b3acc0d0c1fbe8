"""Streaming service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from typing import Self

from pydantic import AnyHttpUrl, Field, model_validator

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

    Signed playback of closed streams (docs/security.md, "Signed playback
    URLs"): ``playback_origin_url`` (``ILMO_PLAYBACK_ORIGIN_URL``) is the
    origin's address with its signed location's prefix, e.g.
    ``https://stream.example.fi/hls``; ``playback_secret``
    (``ILMO_PLAYBACK_SECRET``) the secret the origin knows under
    ``playback_key_id`` (``ILMO_PLAYBACK_KEY_ID``). Both or neither: without
    them, events with ``stream_playback: signed_hls`` answer 503.
    ``playback_url_seconds`` (``ILMO_PLAYBACK_URL_SECONDS``) is how long a
    signed URL works: how long a revoked viewer may keep watching at most.
    """

    http_port: Port = 8084
    operations_port: Port = 9084
    mongodb_database: str = "ilmo_streaming"
    stream_link_secret: Secret = None
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8084"))
    playback_origin_url: AnyHttpUrl | None = None
    playback_secret: Secret = None
    playback_key_id: str = Field(default="1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    playback_url_seconds: int = Field(default=900, ge=10, le=12 * 3600)
    # How long granting a link answers from its event's stream details read
    # before (``StreamEventStore``): another replica's change applies here at
    # most this much later. 0 reads every time.
    event_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    @model_validator(mode="after")
    def _playback_key_complete(self) -> Self:
        if (self.playback_origin_url is None) != (self.playback_secret is None):
            raise ValueError(
                "ILMO_PLAYBACK_ORIGIN_URL and ILMO_PLAYBACK_SECRET are set together or not at all"
            )
        return self

    @property
    def watch_base_url(self) -> str:
        """The public base URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/")

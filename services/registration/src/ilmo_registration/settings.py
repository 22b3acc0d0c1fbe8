"""Registration service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from limits import parse
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    FilePath,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from ilmo_shared.settings import Origins, Port, Secret, ServiceSettings
from ilmo_shared.tls import url_options


def _rate_limit(value: str) -> str:
    try:
        amount = parse(value).amount
    except ValueError:
        amount = 0
    if amount < 1:
        raise ValueError("expected a rate like 20/minute or 5/second")
    return value


# Options of a rediss:// URL that would weaken the certificate checks: refused,
# as the client's own TLS context (ilmo_shared.tls) always verifies.
REDIS_UNVERIFIED_OPTIONS = frozenset({"ssl_cert_reqs", "ssl_check_hostname"})


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://")):
        raise ValueError("expected redis://host:port/db or rediss://host:port/db")
    weakening = sorted(set(url_options(value)) & REDIS_UNVERIFIED_OPTIONS)
    if weakening:
        raise ValueError(
            f"{', '.join(weakening)}: Ilmo always verifies the server's certificate and host name"
        )
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]
RedisUrl = Annotated[str, AfterValidator(_redis_url)]


class RegistrationSettings(ServiceSettings):
    """Defaults for the registration service; every value can be overridden from the environment.

    ``manage_link_secret`` (``ILMO_MANAGE_LINK_SECRET``, at least 32
    characters) is the key, shared with the notification service, from which
    the manage links in emails are derived (``ilmo_shared.manage_links``).
    The service does not start without it (``SECRETS``, checked by
    ``ilmo_shared.settings.require_secrets``); it is optional here only so that
    the settings object can be built without it, e.g. by tools that read the
    port or the database name. The admin API takes tokens of the identity
    provider (``ILMO_OIDC_ISSUER``) or, locally, the development token
    (``ILMO_DEVELOPMENT_TOKEN``); with neither the service starts, its admin
    API closed (``ilmo_shared.identity``).
    """

    http_port: Port = 8081
    operations_port: Port = 9081
    mongodb_database: str = "ilmo_registration"
    manage_link_secret: Secret = None
    # The console's client at the OpenID Connect provider (ILMO_OIDC_ISSUER):
    # people sign in with the authorization code flow and PKCE, and the
    # dashboard asks the other services for counts with this client's
    # client-credentials tokens (docs/operations.md, "Connecting an identity provider").
    oidc_client_id: str | None = Field(default=None, min_length=1, max_length=255)
    oidc_client_secret: SecretStr | None = None
    # The other services' operations listeners, which the console's dashboard
    # and registration pages ask for counts and mails (never their databases).
    capacity_operations_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:9082"))
    notification_operations_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:9083"))
    streaming_operations_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:9084"))
    # The scopes the console asks for when a person signs in (the provider
    # must allow its client them). The name and roles are read from the
    # access token (ILMO_OIDC_ROLES_CLAIM); "profile" is what most providers
    # want before they put a person's name in the tokens.
    oidc_console_scope: str = Field(
        default="openid profile", pattern=r"^openid( [A-Za-z0-9_.:/-]+)*$"
    )
    # The console's sessions (docs/security.md, "The console's sessions"): a
    # session ends after this long without a request, and this long after
    # sign-in whatever happens.
    console_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    console_session_hours: float = Field(default=10.0, gt=0, le=7 * 24)
    # How long before a session's end its pages warn and offer to continue
    # (docs/accessibility.md); WCAG 2.2.1 asks for at least 20 seconds.
    console_timeout_warning_seconds: float = Field(default=120.0, ge=20, le=3600)
    # Where clients reach this service; used for Location headers.
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8081"))

    # Rate limits on POST /api/v1/events/{id}/registrations (docs/security.md,
    # "Rate limits"). Without redis_url they are off: the service warns once at
    # start. Counters live in Redis so that every replica shares them.
    redis_url: RedisUrl | None = None
    # The CA of Redis's certificate with a rediss:// URL (default: the system's CAs).
    redis_ca_file: FilePath | None = None
    redis_key_prefix: str = Field(default="ilmo", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    rate_limit_per_client: RateLimit = "20/minute"
    rate_limit_per_event: RateLimit = "600/minute"
    # Rate limits on asking for one's manage link again (POST
    # /api/v1/events/{id}/manage-link-requests and its page): per client, and
    # per address (counted under a keyed hash of the address, never the address).
    rate_limit_manage_link_per_client: RateLimit = "10/minute"
    rate_limit_manage_link_per_address: RateLimit = "3/hour"
    # e.g. X-Forwarded-For; only when every request comes through a proxy that
    # appends the peer it saw. Off: the TCP peer is the client.
    trusted_proxy_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    # How many trusted proxies append to that header (1: take the right-most entry).
    trusted_proxy_hops: int = Field(default=1, ge=1, le=10)

    # How often the retention sweep runs (docs/security.md, "Retention and erasure").
    retention_sweep_interval_seconds: float = Field(default=3600.0, ge=1.0, le=7 * 24 * 3600.0)
    # Email confirmation (docs/security.md, "Confirmed addresses"): an
    # unconfirmed registration expires after this long; the sweep that removes
    # expired ones runs this often; a repeat registration writes to the
    # address at most once per repeat interval.
    confirmation_expiry_minutes: float = Field(default=24 * 60, gt=0, le=30 * 24 * 60)
    confirmation_sweep_seconds: float = Field(default=60.0, gt=0, le=3600)
    # How long an Idempotency-Key gives its registration's first answer back
    # (keyed_registration), and how often the claims of expired keys, with
    # the manage tokens they keep sealed, are removed.
    idempotency_key_hours: float = Field(default=24.0, gt=0, le=7 * 24)
    idempotency_sweep_seconds: float = Field(default=600.0, gt=0, le=24 * 3600)
    repeat_mail_interval_minutes: float = Field(default=15.0, ge=0, le=24 * 60)
    # A registration's manage link is mailed on request at most once per this.
    manage_link_mail_interval_minutes: float = Field(default=5.0, ge=0, le=24 * 60)
    # How long registering, confirming and the public pages answer from an
    # event (and its privacy notice) read before (docs/performance.md, "Issue
    # 18: the registration service"): a change made by another replica applies
    # here at most this much later. 0 reads every time.
    event_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # The sites whose scripts may call the JSON API from a browser (CORS; docs/integrating.md),
    # e.g. ILMO_CORS_ALLOWED_ORIGINS=https://app.example.fi,https://intra.example.fi. None
    # by default.
    cors_allowed_origins: Origins = ()

    @field_validator("redis_ca_file")
    @classmethod
    def _only_over_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Refuse a CA with redis://: it would be ignored, and the connection stay plain."""
        url = info.data.get("redis_url")
        if value is not None and not (url or "").startswith("rediss://"):
            raise ValueError("is set, but ILMO_REDIS_URL is not rediss://: use rediss://")
        return value

    def public_url(self, path: str) -> str:
        return f"{str(self.public_base_url).rstrip('/')}{path}"


# The settings without which the service does not start.
SECRETS = ("manage_link_secret",)

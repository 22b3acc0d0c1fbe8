"""Settings from ``ILMO_*`` environment variables, validated once at start.

A service that starts with a wrong setting would fail later, in the middle of
someone's registration; instead ``load_settings`` stops it at once with one
line per offending variable, naming it.

In a container, secrets come from files rather than the environment:
``ILMO_SECRETS_DIR`` names a folder with one file per setting, named like its
variable (``/run/secrets/ILMO_AMQP_URL``), read by pydantic-settings' own
secrets-directory support. A variable set in the environment wins over its
file, so an operator can override one value without rebuilding the secret.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AnyUrl,
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    UrlConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import MultiHostUrl
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ilmo_shared.http.cors import origin
from ilmo_shared.messaging.users import SERVICES, EventOwners, default_user
from ilmo_shared.tls import MONGODB_UNVERIFIED_OPTIONS, mongodb_tls_requested, url_options

ENV_PREFIX = "ILMO_"
# The folder of secret files (one per setting, named like its variable).
SECRETS_DIR_VARIABLE = f"{ENV_PREFIX}SECRETS_DIR"

AmqpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["amqp", "amqps"])]
Port = Annotated[int, Field(ge=1, le=65535)]
BrokerUser = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s,]+$")]
# Several hosts for a replica set's seed list (``mongodb://a:27017,b:27017/``);
# no default port is added, since a ``mongodb+srv`` URL must carry none.
MongoUrl = Annotated[MultiHostUrl, UrlConstraints(allowed_schemes=["mongodb", "mongodb+srv"])]


def broker_nodes(value: str) -> list[str]:
    """The node URLs in ``ILMO_AMQP_URL``: ``"amqp://a/,amqp://b/"`` as a list."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _comma_separated(value: object) -> object:
    return broker_nodes(value) if isinstance(value, str) else value


def _one_scheme(nodes: tuple[AnyUrl, ...]) -> tuple[AnyUrl, ...]:
    """Refuse a cluster reached partly over TLS: a plain node would carry the password in clear."""
    if len({node.scheme for node in nodes}) > 1:
        raise ValueError("every node must use the same scheme (all amqps:// or all amqp://)")
    return nodes


def _verified_mongodb_url(url: MultiHostUrl) -> MultiHostUrl:
    """Refuse URL options that would turn certificate or host name checks off."""
    weakening = sorted(set(url_options(str(url))) & MONGODB_UNVERIFIED_OPTIONS)
    if weakening:
        raise ValueError(
            f"{', '.join(weakening)}: Ilmo always verifies the server's certificate and host name"
        )
    return url


# The nodes of one RabbitMQ cluster, comma-separated: a service connects to
# whichever answers, and moves to another when the one it uses is gone.
BrokerNodes = Annotated[
    tuple[AmqpUrl, ...],
    NoDecode,
    BeforeValidator(_comma_separated),
    AfterValidator(_one_scheme),
    Field(min_length=1),
]
ClientIds = Annotated[
    tuple[Annotated[str, Field(min_length=1, max_length=255)], ...],
    NoDecode,
    BeforeValidator(_comma_separated),
]
# The sites whose scripts may call a JSON API (ilmo_shared.http.cors), comma-separated.
Origins = Annotated[
    tuple[Annotated[str, AfterValidator(origin)], ...], NoDecode, BeforeValidator(_comma_separated)
]


# A key or token: optional in the settings class, so that tests can build
# settings without one, and required by the service's command
# (``require_secrets``) and by its wiring (``secret``).
MIN_SECRET_LENGTH = 32


def _long_enough(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
    return value


Secret = Annotated[SecretStr | None, AfterValidator(_long_enough)]


class BrokerSettings(BaseSettings):
    """How to reach the broker: its nodes and, over ``amqps://``, the TLS files.

    Its own class because the operator's tools (``ilmo-dlq``) connect with
    exactly these settings and need nothing else of a service's.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    amqp_url: BrokerNodes = (AmqpUrl("amqp://guest:guest@127.0.0.1:5672/"),)
    # TLS to the broker (docs/security.md, "TLS to the broker, the database,
    # Redis and SMTP"): on with amqps:// URLs. The CA that signed the broker's
    # certificate (default: the system's CAs), and the client's own
    # certificate and key when the broker asks for one.
    amqp_ca_file: FilePath | None = None
    amqp_client_cert_file: FilePath | None = None
    amqp_client_key_file: FilePath | None = None

    @field_validator("amqp_ca_file", "amqp_client_cert_file", "amqp_client_key_file")
    @classmethod
    def _only_over_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Refuse a TLS file with amqp://: it would be ignored, and the connection stay plain."""
        nodes = info.data.get("amqp_url")
        if value is not None and nodes and any(node.scheme != "amqps" for node in nodes):
            raise ValueError("is set, but ILMO_AMQP_URL is amqp://, not amqps://: use amqps://")
        return value

    @field_validator("amqp_client_key_file")
    @classmethod
    def _key_with_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("amqp_client_cert_file") is None:
            raise ValueError("needs ILMO_AMQP_CLIENT_CERT_FILE (the certificate of this key)")
        return value

    @property
    def amqp_tls(self) -> bool:
        """Whether the broker is reached over TLS (every node is amqps://, see ``_one_scheme``)."""
        return self.amqp_url[0].scheme == "amqps"


class ServiceSettings(BrokerSettings):
    """What every Ilmo service needs: broker, database, HTTP port, logging."""

    mongodb_url: Annotated[MongoUrl, AfterValidator(_verified_mongodb_url)] = Field(
        default=MongoUrl("mongodb://127.0.0.1:27017/")
    )
    # TLS to the database: on when ILMO_MONGODB_URL says tls=true (or is
    # mongodb+srv://) or either file is set. The CA of the server's
    # certificate, and the client's certificate with its key in one PEM.
    mongodb_ca_file: FilePath | None = None
    mongodb_client_cert_file: FilePath | None = None
    # Each service owns its database; subclasses set their own default name.
    mongodb_database: str = Field(default="ilmo", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    # The operations listener (metrics, docs, operator counts; docs/operations.md):
    # its own address, never exposed publicly. Subclasses set a port per service.
    operations_host: str = "127.0.0.1"
    operations_port: Port = 9080
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    prefetch: int = Field(default=32, ge=1, le=10_000)
    # How often the outbox relay sweeps its collections when nothing failed:
    # the bound on the delay of entries no running process named, e.g. a
    # crashed replica's (ilmo_shared.outbox). Each sweep reads every document
    # of the service's outbox collections on FerretDB v1.
    outbox_sweep_seconds: float = Field(default=300.0, ge=1.0, le=24 * 3600.0)
    # The relay sweeps once more this long after it started: the bound on the
    # delay of entries a killed predecessor's write left that the database
    # applied after the start sweep (ilmo_shared.outbox).
    outbox_follow_up_seconds: float = Field(default=30.0, ge=0.0, le=3600.0)
    # Replicas sharing a FerretDB database take a lease per document written
    # (ilmo_shared.leases; docs/architecture.md, "Replicas"). Off for one
    # replica, and on MongoDB, whose conditional updates are atomic.
    replica_leases: bool = False
    # A name unique among the service's replicas and stable across restarts
    # (a StatefulSet's pod name); with it a replica gives back at start the
    # leases its previous run left, instead of letting them expire.
    replica_name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]{0,63}$")
    # How long a lease lasts if its holder dies; much longer than one write.
    lease_seconds: float = Field(default=15.0, ge=1.0, le=600.0)
    # HTTP limits and headers (docs/security.md, "HTTP limits and headers").
    # The largest request body. The largest event validation admits (every
    # list full, every text at its longest) is ~1.2 MB of JSON; a big real
    # one (100 agenda items with five speakers each, descriptions at their
    # longest) is ~180 KB, ~245 KB with \u escapes. 1 MiB leaves four times
    # that; an operator with larger events raises it.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Connections and requests in progress at once; over it uvicorn answers
    # 503 itself. Below the usual 1024 open files, beside the database pool.
    http_limit_concurrency: int = Field(default=500, ge=1, le=100_000)
    # How long an idle keep-alive connection is kept; it holds a slot above.
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=3600)
    # The request line and headers together (h11's incomplete event size).
    http_max_header_bytes: int = Field(default=16 * 1024, ge=4096, le=1024 * 1024)
    # Strict-Transport-Security max-age in seconds; 0 sends none (plain HTTP locally).
    hsts_max_age: int = Field(default=0, ge=0, le=2 * 365 * 24 * 3600)
    # The broker user each service connects as: a consumer accepts an event
    # type only from the user of the service that owns it (docs/security.md).
    registration_broker_user: BrokerUser = default_user("registration")
    capacity_broker_user: BrokerUser = default_user("capacity")
    notification_broker_user: BrokerUser = default_user("notification")
    streaming_broker_user: BrokerUser = default_user("streaming")
    # Who may call the admin API and the operations listener (ilmo_shared.access,
    # ilmo_shared.identity; docs/security.md, "Identity and roles"): access
    # tokens of this OpenID Connect provider, checked against its JWKS. None:
    # no token of any provider is accepted.
    oidc_issuer: AnyHttpUrl | None = None
    # The `aud` an access token must carry to be accepted here.
    oidc_audience: str = Field(default="ilmo", min_length=1, max_length=255)
    # The claim that lists a person's roles; a dotted path for nested claims
    # (Keycloak: realm_access.roles).
    oidc_roles_claim: str = Field(
        default="roles", pattern=r"^[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*$"
    )
    # Ilmo's own services, comma-separated, as the `sub` of their client-credentials
    # tokens: the client id at Hydra (RFC 9068), the service account's user id at
    # Keycloak, the service principal's object id at Entra ID. Their tokens may
    # read counts (the console's dashboard asks the other services).
    oidc_service_clients: ClientIds = ()
    # Development only: a static bearer token that has every role. Off unless
    # set; `make run` sets one. Never set it in production (docs/security.md).
    development_token: Secret = None

    @field_validator("mongodb_ca_file", "mongodb_client_cert_file")
    @classmethod
    def _not_with_tls_off(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Refuse a TLS file with a URL that turns TLS off: one of the two is a mistake."""
        url = info.data.get("mongodb_url")
        if value is not None and url is not None and mongodb_tls_requested(str(url)) is False:
            raise ValueError("is set, but ILMO_MONGODB_URL turns TLS off (tls=false)")
        return value

    @field_validator("operations_port")
    @classmethod
    def _operations_port_is_its_own(cls, value: int, info: ValidationInfo) -> int:
        """Refuse the public port: one socket cannot be both listeners."""
        if value == info.data.get("http_port"):
            raise ValueError("must differ from ILMO_HTTP_PORT")
        return value

    def event_owners(self) -> EventOwners:
        """Who may publish which event type, by these settings' user names."""
        return EventOwners(
            {service: getattr(self, f"{service}_broker_user") for service in SERVICES}
        )


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
LoadedT = TypeVar("LoadedT", bound=BaseSettings)


def require_secrets(settings: ServiceSettings, program: str, *names: str) -> None:
    """Exit unless each named secret is set, one line per missing variable."""
    missing = [name for name in names if getattr(settings, name) is None]
    for name in missing:
        report_invalid_setting(program, f"{ENV_PREFIX}{name.upper()}", "Field required")
    if missing:
        raise SystemExit(2)


def secret(settings: ServiceSettings, name: str) -> SecretStr:
    """The secret setting ``name``; ValueError naming its variable if it is not set."""
    value = getattr(settings, name)
    if not isinstance(value, SecretStr):
        raise ValueError(f"{ENV_PREFIX}{name.upper()} is required")
    return value


def load_settings(cls: type[LoadedT], program: str, **values: Any) -> LoadedT:
    """Read and validate settings, or exit with one clear line per bad variable.

    With ``ILMO_SECRETS_DIR`` set, a setting missing from the environment is
    read from the file of its variable's name in that folder. A folder that
    does not exist stops the program (pydantic-settings would only warn, and
    the service would start without its secrets). ``values`` (a tool's
    command-line options) win over both.
    """
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE)
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        report_invalid_setting(program, SECRETS_DIR_VARIABLE, f"no such folder: {secrets_dir}")
        raise SystemExit(2)
    try:
        return cls(_secrets_dir=secrets_dir, **values)
    except ValidationError as error:
        _exit_with(program, error)


def report_invalid_setting(program: str, variable: str, reason: str) -> None:
    """The one line an operator reads when a setting stops a service."""
    print(f"{program}: invalid setting {variable}: {reason}", file=sys.stderr)


def _exit_with(program: str, error: ValidationError) -> NoReturn:
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        report_invalid_setting(program, f"{ENV_PREFIX}{field.upper()}", problem["msg"])
    raise SystemExit(2)

"""TLS settings are refused when they would do nothing, and secrets come from files.

A CA file beside a plain URL would be silently ignored and the connection
would stay plain, which is worse than not starting: each such pairing stops
the service with one line naming the variable.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ilmo_registration.rate_limits import redis_tls_options
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.lifecycle import point_broker_at
from ilmo_shared.runtime import Infrastructure, broker_security
from ilmo_shared.settings import BrokerSettings, ServiceSettings, load_settings
from ilmo_shared.tls import broker_context, mongodb_tls_options
from tests.support.tls import CertificateAuthority

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


def refusal(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    settings: type[ServiceSettings] = ServiceSettings,
) -> str:
    """The one line with which ``load_settings`` refuses ``variables``."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(settings, "ilmo-test")
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_a_broker_ca_with_a_plain_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ca: CertificateAuthority
) -> None:
    line = refusal(
        monkeypatch,
        capsys,
        {"ILMO_AMQP_URL": "amqp://u:p@broker/", "ILMO_AMQP_CA_FILE": str(ca.certificate)},
    )
    assert line == (
        "ilmo-test: invalid setting ILMO_AMQP_CA_FILE: Value error, is set, but "
        "ILMO_AMQP_URL is amqp://, not amqps://: use amqps://"
    )


def test_a_cluster_partly_over_tls_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, {"ILMO_AMQP_URL": "amqps://u:p@a/,amqp://u:p@b/"})
    assert line.startswith("ilmo-test: invalid setting ILMO_AMQP_URL:")
    assert "same scheme" in line


def test_a_missing_certificate_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = refusal(
        monkeypatch,
        capsys,
        {"ILMO_AMQP_URL": "amqps://u:p@broker/", "ILMO_AMQP_CA_FILE": str(tmp_path / "no.pem")},
    )
    assert line.startswith("ilmo-test: invalid setting ILMO_AMQP_CA_FILE: Path does not point")


def test_a_client_key_without_its_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ca: CertificateAuthority
) -> None:
    client = ca.issue_client()
    line = refusal(
        monkeypatch,
        capsys,
        {"ILMO_AMQP_URL": "amqps://u:p@broker/", "ILMO_AMQP_CLIENT_KEY_FILE": str(client.key)},
    )
    assert line.startswith("ilmo-test: invalid setting ILMO_AMQP_CLIENT_KEY_FILE:")


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://db/?tls=true&tlsInsecure=true",
        "mongodb://db/?tls=true&tlsAllowInvalidCertificates=true",
        "mongodb://db/?tls=true&tlsAllowInvalidHostnames=true",
    ],
)
def test_a_database_url_that_turns_verification_off_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    line = refusal(monkeypatch, capsys, {"ILMO_MONGODB_URL": url})
    assert line.startswith("ilmo-test: invalid setting ILMO_MONGODB_URL:")
    assert "always verifies" in line


def test_a_database_ca_with_tls_turned_off_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ca: CertificateAuthority
) -> None:
    line = refusal(
        monkeypatch,
        capsys,
        {
            "ILMO_MONGODB_URL": "mongodb://db/?tls=false",
            "ILMO_MONGODB_CA_FILE": str(ca.certificate),
        },
    )
    assert line.startswith("ilmo-test: invalid setting ILMO_MONGODB_CA_FILE:")


@pytest.mark.parametrize(
    "variables",
    [
        {"ILMO_REDIS_URL": "redis://cache:6379/0", "ILMO_REDIS_CA_FILE": "CA"},
        {"ILMO_REDIS_URL": "rediss://cache:6379/0?ssl_cert_reqs=none"},
        {"ILMO_REDIS_URL": "rediss://cache:6379/0?ssl_check_hostname=false"},
    ],
)
def test_redis_settings_that_would_not_verify_are_refused(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ca: CertificateAuthority,
    variables: dict[str, str],
) -> None:
    variables = {k: str(ca.certificate) if v == "CA" else v for k, v in variables.items()}
    line = refusal(monkeypatch, capsys, variables, RegistrationSettings)
    assert line.startswith("ilmo-test: invalid setting ILMO_REDIS_")


def test_tls_contexts_verify_certificate_and_host_name(ca: CertificateAuthority) -> None:
    client = ca.issue_client()
    broker = BrokerSettings(
        amqp_url="amqps://u:p@broker/",
        amqp_ca_file=ca.certificate,
        amqp_client_cert_file=client.certificate,
        amqp_client_key_file=client.key,
    )
    registration = RegistrationSettings(
        redis_url="rediss://cache:6379/0", redis_ca_file=ca.certificate
    )
    contexts = [broker_context(broker), redis_tls_options(registration)["ssl_context"]]
    for context in contexts:
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert context.get_ca_certs()[0]["subject"] == ((("commonName", ca.name),),)


def test_plain_connections_get_no_tls(ca: CertificateAuthority) -> None:
    settings = ServiceSettings()
    assert broker_security(settings) is None
    assert mongodb_tls_options(str(settings.mongodb_url), None, None) == {}
    assert redis_tls_options(RegistrationSettings(redis_url="redis://cache:6379/0")) == {}


def test_a_database_ca_file_turns_tls_on(ca: CertificateAuthority) -> None:
    assert mongodb_tls_options("mongodb://db/", ca.certificate, None) == {
        "tls": True,
        "tlsCAFile": str(ca.certificate),
    }
    assert mongodb_tls_options("mongodb+srv://cluster.example/", None, None) == {"tls": True}


# ---------------------------------------------------------------- secrets from files


def test_a_secret_is_read_from_its_file_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As Kubernetes and compose write them: one file per variable, a newline at the end.
    (tmp_path / "ILMO_MANAGE_LINK_SECRET").write_text("m" * 40 + "\n")
    (tmp_path / "ILMO_AMQP_URL").write_text(
        "amqps://svc:s3cret@rabbit-0/,amqps://svc:s3cret@rabbit-1/\n"
    )
    (tmp_path / "ILMO_HTTP_PORT").write_text("8181")
    monkeypatch.setenv("ILMO_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("ILMO_HTTP_PORT", "8282")

    settings = load_settings(RegistrationSettings, "ilmo-registration")

    assert settings.manage_link_secret is not None
    assert settings.manage_link_secret.get_secret_value() == "m" * 40
    assert [node.host for node in settings.amqp_url] == ["rabbit-0", "rabbit-1"]
    assert settings.amqp_url[0].password == "s3cret"
    assert settings.http_port == 8282


def test_a_missing_secrets_folder_stops_the_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = refusal(monkeypatch, capsys, {"ILMO_SECRETS_DIR": str(tmp_path / "absent")})
    assert line == f"ilmo-test: invalid setting ILMO_SECRETS_DIR: no such folder: {tmp_path}/absent"


def test_a_bad_secret_file_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ILMO_MANAGE_LINK_SECRET").write_text("short")
    line = refusal(monkeypatch, capsys, {"ILMO_SECRETS_DIR": str(tmp_path)}, RegistrationSettings)
    assert line.startswith("ilmo-test: invalid setting ILMO_MANAGE_LINK_SECRET:")


def test_moving_to_another_node_keeps_the_tls_context(ca: CertificateAuthority) -> None:
    """The lifecycle's failover changes the URL only; the verifying context stays."""
    settings = ServiceSettings(
        amqp_url="amqps://u:p@rabbit-0:5671/,amqps://u:p@rabbit-1:5671/",
        amqp_ca_file=ca.certificate,
    )
    broker = Infrastructure.create("capacity", settings).broker
    context = broker._connection_kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname

    point_broker_at(broker, str(settings.amqp_url[1]))

    assert broker._connection_kwargs["url"] == str(settings.amqp_url[1])
    assert broker._connection_kwargs["ssl_context"] is context

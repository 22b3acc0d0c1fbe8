"""The compose stack (deploy/compose), checked without running it.

No container image can be pulled on the machines that build Ilmo, so the
stack is validated instead: against the Compose specification's JSON Schema,
its mounts against the repository and what secrets.sh generates, the
services' variables against their settings classes, its images' tags, and
Prometheus's configuration with promtool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from pydantic_settings import BaseSettings

from ilmo_capacity.settings import CapacitySettings
from ilmo_notification.settings import NotificationSettings
from ilmo_registration.settings import SECRETS as REGISTRATION_SECRETS
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.settings import ENV_PREFIX, ServiceSettings
from ilmo_streaming.settings import StreamingSettings
from tests.support.promtool import run_promtool

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SECRETS_SCRIPT = COMPOSE_DIR / "secrets.sh"
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules"

SETTINGS: Mapping[str, type[ServiceSettings]] = {
    "registration": RegistrationSettings,
    "capacity": CapacitySettings,
    "notification": NotificationSettings,
    "streaming": StreamingSettings,
}
# Secrets each service's command refuses to start without (its main.py).
REQUIRED_SECRETS: Mapping[str, tuple[str, ...]] = {
    "registration": REGISTRATION_SECRETS,
    "capacity": (),
    "notification": ("manage_link_secret",),
    "streaming": ("stream_link_secret",),
}
# Variables the TLS part of issue 17 adds (names agreed between the parts):
# ILMO_SECRETS_DIR is read by ilmo_shared.settings.load_settings, not a field;
# the others become fields of ServiceSettings, and are accepted by name until then.
AGREED_TLS_SETTINGS = frozenset(
    {
        "ILMO_SECRETS_DIR",
        "ILMO_AMQP_CA_FILE",
        "ILMO_AMQP_CLIENT_CERT_FILE",
        "ILMO_AMQP_CLIENT_KEY_FILE",
        "ILMO_MONGODB_CA_FILE",
        "ILMO_MONGODB_CLIENT_CERT_FILE",
        "ILMO_REDIS_CA_FILE",
    }
)
# Where the compose file mounts the development CA's certificate.
CA_IN_CONTAINER = "/etc/ilmo/ca.pem"


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def ilmo_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: compose["services"][name] for name in SETTINGS}


def settings_of(cls: type[BaseSettings]) -> set[str]:
    """The variables a settings class reads: ``ILMO_<FIELD>``."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in cls.model_fields}


def secret_targets(service: Mapping[str, Any]) -> dict[str, str]:
    """The secrets mounted as settings (a target without a slash): variable -> secret name."""
    targets = {}
    for entry in service.get("secrets", []):
        source, target = (
            (entry, entry)
            if isinstance(entry, str)
            else (
                entry["source"],
                entry.get("target", entry["source"]),
            )
        )
        if "/" not in target:
            targets[target] = source
    return targets


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def generated_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What secrets.sh writes, into a folder of this test's own."""
    folder = tmp_path_factory.mktemp("compose") / "secrets"
    environment = {**os.environ, "ILMO_COMPOSE_SECRETS_DIR": str(folder)}
    subprocess.run([str(SECRETS_SCRIPT)], check=True, env=environment, capture_output=True)
    return folder


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_mounted_file_is_in_the_repository_or_made_by_secrets_sh(
    compose: dict[str, Any], generated_secrets: Path
) -> None:
    missing = []
    for kind in ("configs", "secrets"):
        for name, definition in compose[kind].items():
            path = Path(definition["file"])
            if path.parts[0] == "secrets":
                found = (generated_secrets / Path(*path.parts[1:])).is_file()
            else:
                found = (COMPOSE_DIR / path).is_file()
            if not found:
                missing.append(f"{kind}.{name}: {path}")
    for service_name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                if not (COMPOSE_DIR / source).exists():
                    missing.append(f"services.{service_name}.volumes: {source}")
            elif source not in compose["volumes"]:
                missing.append(f"services.{service_name}.volumes: {source} is not a named volume")
        for entry in service.get("configs", []) + service.get("secrets", []):
            source = entry if isinstance(entry, str) else entry["source"]
            if source not in compose.get("configs", {}) and source not in compose["secrets"]:
                missing.append(f"services.{service_name}: {source} is not defined")
        build = service.get("build")
        if build is not None and not (COMPOSE_DIR / build["context"]).is_dir():
            missing.append(f"services.{service_name}.build.context: {build['context']}")
    assert missing == []


def test_secrets_sh_is_idempotent(generated_secrets: Path) -> None:
    before = {path.name: path.read_bytes() for path in generated_secrets.iterdir()}
    environment = {**os.environ, "ILMO_COMPOSE_SECRETS_DIR": str(generated_secrets)}
    subprocess.run([str(SECRETS_SCRIPT)], check=True, env=environment, capture_output=True)
    after = {path.name: path.read_bytes() for path in generated_secrets.iterdir()}
    # The broker definitions hash each password with a fresh salt; everything
    # else, keys and certificates included, stays as it was.
    before.pop("rabbitmq-definitions.json")
    after.pop("rabbitmq-definitions.json")
    assert after == before


def test_the_secrets_folder_is_its_owners_only(generated_secrets: Path) -> None:
    assert generated_secrets.stat().st_mode & 0o077 == 0
    assert (generated_secrets / "ca.key").stat().st_mode & 0o077 == 0


def test_every_ilmo_variable_is_a_setting_of_its_service(compose: dict[str, Any]) -> None:
    unknown = []
    for name, service in ilmo_services(compose).items():
        known = settings_of(SETTINGS[name]) | AGREED_TLS_SETTINGS
        variables = [v for v in service.get("environment", {}) if v.startswith(ENV_PREFIX)]
        for variable in variables + list(secret_targets(service)):
            if variable not in known:
                unknown.append(f"{name}: {variable}")
    assert unknown == []


def test_settings_mounted_from_secrets_are_not_also_in_the_environment(
    compose: dict[str, Any],
) -> None:
    # An environment variable wins over a file: one set in both would hide the secret.
    for name, service in ilmo_services(compose).items():
        both = set(secret_targets(service)) & set(service.get("environment", {}))
        assert both == set(), name


def test_each_service_gets_the_secrets_its_command_requires(compose: dict[str, Any]) -> None:
    for name, service in ilmo_services(compose).items():
        targets = set(secret_targets(service))
        required = {f"{ENV_PREFIX}{field.upper()}" for field in REQUIRED_SECRETS[name]}
        required |= {"ILMO_AMQP_URL", "ILMO_MONGODB_URL"}
        assert required <= targets, name


def test_each_service_loads_its_settings_from_the_compose_file(
    compose: dict[str, Any],
    generated_secrets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment and the generated secrets make valid settings (URLs, keys, ports).

    The secrets are read as in the container: a folder with one file per
    setting, named like its variable (pydantic-settings' secrets directory).
    """
    for name, service in ilmo_services(compose).items():
        for variable in list(os.environ):
            if variable.startswith(ENV_PREFIX):
                monkeypatch.delenv(variable)
        for variable, value in service["environment"].items():
            # The CA's certificate is at another place here than in the container.
            monkeypatch.setenv(
                variable, str(value).replace(CA_IN_CONTAINER, str(generated_secrets / "ca.pem"))
            )
        run_secrets = tmp_path / name
        run_secrets.mkdir()
        for variable, secret in secret_targets(service).items():
            source = generated_secrets / Path(compose["secrets"][secret]["file"]).name
            shutil.copyfile(source, run_secrets / variable)
        settings = SETTINGS[name](_secrets_dir=run_secrets)
        assert settings.mongodb_database == f"ilmo_{name}"
        assert f"ilmo_{name}:" in str(settings.mongodb_url)
        assert all(url.scheme == "amqps" for url in settings.amqp_url)
        assert all(url.username == f"ilmo-{name}" for url in settings.amqp_url)
        for field in REQUIRED_SECRETS[name]:
            assert getattr(settings, field) is not None, f"{name}: {field}"


def test_the_broker_definitions_give_each_service_its_own_user(generated_secrets: Path) -> None:
    definitions = json.loads((generated_secrets / "rabbitmq-definitions.json").read_text())
    users = {user["name"] for user in definitions["users"]}
    assert users == {"ilmo-admin"} | {f"ilmo-{name}" for name in SETTINGS}
    assert all("password" not in user for user in definitions["users"])


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue  # Ilmo's own image, built from this repository.
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert re.match(r"^v?\d+\.\d+\.\d+", tag), f"{name}: {image}"


def test_only_the_public_ports_are_published_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {
        "registration",
        "streaming",
        "keycloak",
        "mailpit",
        "grafana",
        "prometheus",
    }
    for ports in published.values():
        assert all(str(port).startswith("127.0.0.1:") for port in ports)


def test_prometheus_scrapes_every_service_with_the_agreed_jobs() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {f"ilmo-{name}" for name in SETTINGS} | {"rabbitmq", "rabbitmq-queues"}
    for name in SETTINGS:
        [target] = jobs[f"ilmo-{name}"]["static_configs"]
        assert target["labels"] == {"service": name}


def test_promtool_accepts_the_prometheus_configuration(
    generated_secrets: Path, tmp_path: Path
) -> None:
    """promtool checks the configuration and the rule files it loads (deploy/prometheus/rules)."""
    # The paths as they are on this machine instead of in the container.
    text = (
        PROMETHEUS_CONFIG.read_text()
        .replace("/etc/prometheus/rules/", f"{PROMETHEUS_RULES}/")
        .replace("/etc/prometheus/ca.pem", str(generated_secrets / "ca.pem"))
        .replace("/run/secrets/", f"{generated_secrets}/")
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    result = run_promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_passwords_in_urls_and_server_files_are_the_generated_ones(
    generated_secrets: Path,
) -> None:
    """A client's URL and the server's user list are made from the same password file."""

    def secret(name: str) -> str:
        return (generated_secrets / name).read_text().strip()

    for name in SETTINGS:
        assert urlsplit(secret(f"amqp-url-{name}")).password == secret(f"broker-password-{name}")
        assert urlsplit(secret(f"mongodb-url-{name}")).password == secret(
            f"mongodb-password-{name}"
        )
    redis_password = secret("redis-password-registration")
    assert urlsplit(secret("redis-url-registration")).password == redis_password
    acl = secret("redis-users.acl").splitlines()
    assert f">{redis_password}" in next(line for line in acl if "ilmo-registration" in line)
    assert secret("mailpit-smtp-auth") == f"ilmo:{secret('smtp-password')}"


def test_each_server_certificate_names_its_compose_service_and_is_signed_by_the_ca(
    compose: dict[str, Any], generated_secrets: Path
) -> None:
    authority = x509.load_pem_x509_certificate((generated_secrets / "ca.pem").read_bytes())
    servers = [name for name in compose["services"] if (generated_secrets / f"{name}.pem").exists()]
    assert set(servers) == {"rabbitmq", "mongodb", "redis", "keycloak", "mailpit"}
    for name in servers:
        certificate = x509.load_pem_x509_certificate(
            (generated_secrets / f"{name}.pem").read_bytes()
        )
        certificate.verify_directly_issued_by(authority)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert name in names.get_values_for_type(x509.DNSName)


def test_the_realm_matches_the_services_settings(compose: dict[str, Any]) -> None:
    """Client, redirect, service account and roles as the services expect them."""
    realm = json.loads((COMPOSE_DIR / "keycloak" / "ilmo-realm.json").read_text())
    registration = compose["services"]["registration"]["environment"]
    clients = {client["clientId"]: client for client in realm["clients"]}
    console = clients[registration["ILMO_OIDC_CLIENT_ID"]]
    base = registration["ILMO_PUBLIC_BASE_URL"]
    assert console["redirectUris"] == [f"{base}/console/signed-in"]
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert registration["ILMO_OIDC_ISSUER"].endswith(f"/realms/{realm['realm']}")
    accounts = {user.get("serviceAccountClientId"): user for user in realm["users"]}
    assert registration["ILMO_OIDC_SERVICE_CLIENTS"] == accounts["ilmo-console"]["id"]
    assert accounts["ilmo-prometheus"]["realmRoles"] == ["operator"]
    roles = {role["name"] for role in realm["roles"]["realm"]}
    assert roles == {"organiser", "viewer", "door", "operator"}
    people = {u["username"]: u["realmRoles"] for u in realm["users"] if "credentials" in u}
    assert people == {role: [role] for role in roles}
    for client in clients.values():
        [mapper] = client["protocolMappers"]
        assert mapper["config"]["included.custom.audience"] == "ilmo"


def test_every_placeholder_in_the_realm_is_set_by_keycloaks_start() -> None:
    realm = (COMPOSE_DIR / "keycloak" / "ilmo-realm.json").read_text()
    start = (COMPOSE_DIR / "keycloak" / "start.sh").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", realm))
    exported = set(re.findall(r"^([A-Z_]+)=\$\(read_secret ", start, flags=re.MULTILINE))
    assert placeholders
    assert placeholders <= exported
    # No password or secret is written in the realm file itself.
    for entry in json.loads(realm)["clients"]:
        assert entry["secret"].startswith("${")

"""The Helm chart, checked by its own tools and against what the code says, offline.

No cluster runs on the machines that build Ilmo. The chart is linted
(``helm lint --strict``), rendered (``helm template``) with the default
values and with ``deploy/kubernetes/examples/production-values.yaml``, and
every rendered object is validated by ``kubeconform -strict`` against the
schemas vendored in ``deploy/kubernetes/schemas`` only (no network). Then the
rendered objects are held against the code they deploy: the broker
permissions against ``ilmo_shared.messaging.users``, the settings against
the services' settings classes, the alert rules and dashboards against
their files. ``make kubernetes-tools`` installs helm and kubeconform.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from pydantic_settings import BaseSettings

from ilmo_capacity.settings import CapacitySettings
from ilmo_notification.settings import NotificationSettings
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.messaging.users import (
    DEAD_LETTER_POLICY,
    DEAD_LETTER_QUEUES,
    DEAD_LETTER_TTL_DAYS,
    SERVICES,
    Permissions,
    default_user,
    integrator_permissions,
    integrator_user,
    service_permissions,
)
from ilmo_shared.settings import SECRETS_DIR_VARIABLE, ServiceSettings
from ilmo_shared.storage import connect_with
from ilmo_streaming.settings import StreamingSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = REPO_ROOT / "deploy/kubernetes"
CHART = KUBERNETES / "ilmo"
SCHEMAS = KUBERNETES / "schemas"
PRODUCTION_VALUES = KUBERNETES / "examples/production-values.yaml"
TOOLS = REPO_ROOT / ".tools/bin"
# The Kubernetes version whose schemas are vendored (deploy/kubernetes/generate_schemas.py).
KUBE_VERSION = "1.35.4"
RELEASE = "ilmo"
NAMESPACE = "ilmo"

SETTINGS: Mapping[str, type[BaseSettings]] = {
    "registration": RegistrationSettings,
    "capacity": CapacitySettings,
    "notification": NotificationSettings,
    "streaming": StreamingSettings,
}
# Read by ilmo_shared.settings.load_settings itself, not a field of the settings.
NOT_FIELDS = {SECRETS_DIR_VARIABLE}

Manifest = dict[str, Any]
VALUE_SETS = {"default": (), "production": ("-f", str(PRODUCTION_VALUES))}


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make kubernetes-tools` (deploy/kubernetes/tools.sh)")
    return str(path)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)


def helm(*arguments: str) -> subprocess.CompletedProcess[str]:
    return run(tool("helm"), *arguments)


def render(*values: str) -> str:
    result = helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--kube-version", KUBE_VERSION, *values,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def documents(rendered: str) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(rendered) if document]


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def rendered(value_set: str) -> str:
    return render(*VALUE_SETS[value_set])


@pytest.fixture(scope="module")
def manifests(rendered: str) -> list[Manifest]:
    return documents(rendered)


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Sequence[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def component(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/component"])


# ---------------------------------------------------------------- the chart's own tools


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_strict_passes(value_set: str) -> None:
    result = helm(
        "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *VALUE_SETS[value_set]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def kubeconform(rendered: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """kubeconform -strict against the vendored schemas only (no default location: no network)."""
    manifests = directory / "rendered.yaml"
    manifests.write_text(rendered)
    return run(
        tool("kubeconform"), "-strict", "-summary", "-output", "json",
        "-schema-location", f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        "-schema-location", f"{SCHEMAS}/rabbitmq/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        str(manifests),
    )  # fmt: skip


def assert_all_valid(rendered: str, directory: Path) -> None:
    result = kubeconform(rendered, directory)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary == {
        "valid": len(documents(rendered)),
        "invalid": 0,
        "errors": 0,
        "skipped": 0,
    }


def test_kubeconform_validates_every_object_offline(rendered: str, tmp_path: Path) -> None:
    assert_all_valid(rendered, tmp_path)


AUTOSCALED = [f"--set=services.{service}.autoscaling.enabled=true" for service in SERVICES]
OPERATORS_OFF = ["--set=rabbitmq.enabled=false,mongodb.enabled=false,certManager.enabled=false"]


@pytest.mark.parametrize(
    "values",
    [AUTOSCALED, ["-f", str(PRODUCTION_VALUES), *OPERATORS_OFF]],
    ids=["autoscaled", "operators-off"],
)
def test_kubeconform_validates_the_switchable_parts(values: list[str], tmp_path: Path) -> None:
    assert_all_valid(render(*values), tmp_path)


def test_kubeconform_refuses_a_misspelt_field(tmp_path: Path) -> None:
    """The schemas are strict: an unknown field is an error, not ignored."""
    deployment = one(documents(render()), "Deployment", f"{RELEASE}-capacity")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    result = kubeconform(yaml.safe_dump(deployment), tmp_path)
    assert result.returncode == 1
    assert "readinessProbes" in result.stdout


@pytest.mark.parametrize("replicas", [-1, 21])
def test_values_schema_refuses_a_nonsensical_replica_count(replicas: int) -> None:
    result = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
        "--set", f"services.capacity.replicas={replicas}",
    )  # fmt: skip
    assert result.returncode != 0
    assert "/services/capacity/replicas" in result.stderr


def test_values_schema_accepts_two_replicas() -> None:
    result = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
        "--set", "services.capacity.replicas=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_vendored_schemas_are_what_the_generator_makes(tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.fail("Go is needed to regenerate the schemas (generate_schemas.py)")
    result = run(sys.executable, str(KUBERNETES / "generate_schemas.py"), "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    vendored = sorted(
        p.relative_to(SCHEMAS)
        for p in SCHEMAS.rglob("*")
        if p.is_file() and "rabbitmq" not in p.relative_to(SCHEMAS).parts and p.name != "README.md"
    )
    assert generated == vendored
    for path in generated:
        assert (tmp_path / path).read_bytes() == (SCHEMAS / path).read_bytes(), path


# ---------------------------------------------------------------- the Deployments


def test_every_deployment_has_probes_resources_and_a_locked_down_security_context(
    manifests: list[Manifest],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert sorted(component(d) for d in deployments) == sorted(SERVICES)
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["topologySpreadConstraints"]
        (container,) = pod["containers"]
        assert container["command"] == [f"ilmo-{component(deployment)}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert set(container["resources"]) == {"requests", "limits"}
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == 10001
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        # A read-only root needs a writable /tmp.
        tmp = next(m for m in container["volumeMounts"] if m["name"] == "tmp")
        assert tmp["mountPath"] == "/tmp"  # noqa: S108 (the pod's own emptyDir)
        volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert "emptyDir" in volume


def chart_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def test_every_service_runs_the_replicas_of_values_yaml_unless_autoscaled(
    manifests: list[Manifest],
) -> None:
    services = chart_values()["services"]
    assert of_kind(manifests, "ScaledObject") == []
    for deployment in of_kind(manifests, "Deployment"):
        service = component(deployment)
        assert services[service]["replicas"] == 2, service
        assert deployment["spec"]["replicas"] == services[service]["replicas"], service


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_runs_the_replicas_it_is_given(service: str) -> None:
    manifests = documents(render("--set", f"services.{service}.replicas=3"))
    for deployment in of_kind(manifests, "Deployment"):
        expected = 3 if component(deployment) == service else 2
        assert deployment["spec"]["replicas"] == expected, component(deployment)


def test_every_service_rolls_one_pod_at_a_time(manifests: list[Manifest]) -> None:
    """Notification too: overlapping pods write conditionally and claim each mail."""
    for deployment in of_kind(manifests, "Deployment"):
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }, component(deployment)


def test_disruption_budgets_keep_a_pod_of_every_service_serving(
    manifests: list[Manifest],
) -> None:
    budgets = {component(b): b for b in of_kind(manifests, "PodDisruptionBudget")}
    assert sorted(budgets) == sorted(SERVICES)
    for deployment in of_kind(manifests, "Deployment"):
        budget = budgets[component(deployment)]
        assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]


def test_autoscaling_hands_the_replicas_to_keda() -> None:
    manifests = documents(render("--set", "services.streaming.autoscaling.enabled=true"))
    deployment = one(manifests, "Deployment", f"{RELEASE}-streaming")
    assert "replicas" not in deployment["spec"]
    scaled = one(manifests, "ScaledObject", f"{RELEASE}-streaming")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-streaming"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == "streaming.stream-links"
    assert len(of_kind(manifests, "ScaledObject")) == 1


def test_autoscaling_bounds_are_sensible() -> None:
    """Capacity's queues have a single active consumer: more than two would only stand by."""
    for service, spec in chart_values()["services"].items():
        autoscaling = spec["autoscaling"]
        assert autoscaling["enabled"] is False, service  # it needs KEDA in the cluster
        assert 2 <= autoscaling["minReplicas"] <= autoscaling["maxReplicas"], service
    assert chart_values()["services"]["capacity"]["autoscaling"]["maxReplicas"] == 2


def test_settings_are_settings_the_services_read(manifests: list[Manifest]) -> None:
    """A misspelt ILMO_* name would be ignored silently by the service."""
    for config_map in of_kind(manifests, "ConfigMap"):
        if "app.kubernetes.io/component" not in config_map["metadata"]["labels"]:
            continue  # a dashboard
        service = component(config_map)
        fields = {f"ILMO_{name.upper()}" for name in SETTINGS[service].model_fields}
        unknown = set(config_map["data"]) - fields - NOT_FIELDS
        assert not unknown, f"{service}: {sorted(unknown)}"


def test_secret_keys_are_settings_the_services_read() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for service, spec in values["services"].items():
        fields = {f"ILMO_{name.upper()}" for name in SETTINGS[service].model_fields}
        assert set(spec["secretKeys"]) <= fields, service
        assert "ILMO_AMQP_URL" in spec["secretKeys"]


def test_secrets_are_files_named_like_their_variables(manifests: list[Manifest]) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        service = component(deployment)
        config = one(manifests, "ConfigMap", f"{RELEASE}-{service}")["data"]
        pod = deployment["spec"]["template"]["spec"]
        secrets = next(v for v in pod["volumes"] if v["name"] == "secrets")
        sources = secrets["projected"]["sources"]
        assert sources[0]["secret"]["name"] == f"{RELEASE}-{service}"
        # The MongoDB operator's connection string becomes ILMO_MONGODB_URL.
        assert sources[1]["secret"] == {
            "name": f"{RELEASE}-{service}-mongodb-connection",
            "items": [{"key": "connectionString.standardSrv", "path": "ILMO_MONGODB_URL"}],
        }
        (container,) = pod["containers"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "secrets")
        assert config["ILMO_SECRETS_DIR"] == mount["mountPath"]
        assert config["ILMO_MONGODB_DATABASE"] == f"ilmo_{service}"


def test_every_ca_file_setting_names_a_mounted_ca_certificate(
    value_set: str, manifests: list[Manifest]
) -> None:
    """Services trust the servers' CAs by file; each file is one key of a Secret, never a key."""
    for deployment in of_kind(manifests, "Deployment"):
        service = component(deployment)
        config = one(manifests, "ConfigMap", f"{RELEASE}-{service}")["data"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
        mounted = {
            f"{mount['mountPath']}/{item['path']}": item["key"]
            for source in volume["projected"]["sources"]
            for item in source["secret"]["items"]
        }
        settings = {k: v for k, v in config.items() if k.endswith("_CA_FILE")}
        assert set(settings.values()) == set(mounted), service
        assert set(mounted.values()) == {"ca.crt"}
        expected = {"ILMO_AMQP_CA_FILE", "ILMO_MONGODB_CA_FILE"}
        if service == "notification" and value_set == "production":
            expected.add("ILMO_SMTP_CA_FILE")  # tls.smtpCa in production-values.yaml
        assert set(settings) == expected, service


# ---------------------------------------------------------------- the network


def egress_ports(policy: Manifest) -> set[int]:
    return {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}


def test_every_service_has_its_own_network_policy_behind_a_default_deny(
    manifests: list[Manifest],
) -> None:
    policies = {p["metadata"]["name"]: p for p in of_kind(manifests, "NetworkPolicy")}
    deny = policies.pop(f"{RELEASE}-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    assert sorted(component(p) for p in policies.values()) == sorted(SERVICES)
    ports = {component(p): egress_ports(p) for p in policies.values()}
    # DNS, RabbitMQ over TLS, MongoDB, the OIDC issuer for everyone; then what each needs.
    for service in SERVICES:
        assert {53, 5671, 27017, 443} <= ports[service], service
        assert 5672 not in ports[service]
    assert 6379 in ports["registration"]
    assert {9082, 9083, 9084} <= ports["registration"]
    assert ports["capacity"] == ports["streaming"] == {53, 5671, 27017, 443}
    assert ports["notification"] == {53, 5671, 27017, 443, 587}


def test_without_the_operators_urls_and_peers_come_from_values() -> None:
    manifests = documents(render("-f", str(PRODUCTION_VALUES), *OPERATORS_OFF))
    for kind in ("RabbitmqCluster", "MongoDBCommunity", "User", "Permission", "Certificate"):
        assert of_kind(manifests, kind) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]
    for service in SERVICES:
        policy = one(manifests, "NetworkPolicy", f"{RELEASE}-{service}")
        peers = {
            rule["ports"][0]["port"]: rule["to"]
            for rule in policy["spec"]["egress"]
            if rule["ports"][0]["port"] in (5671, 27017)
        }
        assert peers == {5671: values["externalRabbitmq"], 27017: values["externalMongodb"]}
        # No operator writes the connection string: it is in the service's own Secret.
        external = one(manifests, "ExternalSecret", f"{RELEASE}-{service}")
        assert {"ILMO_AMQP_URL", "ILMO_MONGODB_URL"} <= set(
            external["spec"]["target"]["template"]["data"]
        )
        pod = one(manifests, "Deployment", f"{RELEASE}-{service}")["spec"]["template"]["spec"]
        (secrets,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
        assert secrets["projected"]["sources"] == [{"secret": {"name": f"{RELEASE}-{service}"}}]
        config = one(manifests, "ConfigMap", f"{RELEASE}-{service}")["data"]
        assert "ILMO_AMQP_CA_FILE" not in config


def test_only_registration_reaches_the_others_operations_ports(
    manifests: list[Manifest],
) -> None:
    for policy in of_kind(manifests, "NetworkPolicy"):
        if policy["metadata"]["name"].endswith("default-deny"):
            continue
        service = component(policy)
        pod_sources = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer and "namespaceSelector" not in peer
        }
        assert pod_sources == (set() if service == "registration" else {"registration"})


def test_the_ingress_routes_only_public_ports_of_registration_and_streaming(
    manifests: list[Manifest],
) -> None:
    (ingress,) = of_kind(manifests, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    routes = {
        path["path"]: (path["backend"]["service"]["name"], path["backend"]["service"]["port"])
        for path in rule["http"]["paths"]
    }
    assert routes == {
        "/": (f"{RELEASE}-registration", {"name": "public"}),
        "/watch/": (f"{RELEASE}-streaming", {"name": "public"}),
        "/player/": (f"{RELEASE}-streaming", {"name": "public"}),
    }
    (tls,) = ingress["spec"]["tls"]
    certificate = one(manifests, "Certificate", f"{RELEASE}-ingress")
    assert certificate["spec"]["secretName"] == tls["secretName"]
    assert certificate["spec"]["dnsNames"] == tls["hosts"] == [rule["host"]]


# ---------------------------------------------------------------- the broker


def permissions_of(manifests: Sequence[Manifest], user_resource: str) -> Permissions:
    (permission,) = [
        p
        for p in of_kind(manifests, "Permission")
        if p["spec"]["userReference"]["name"] == user_resource
    ]
    topics = {
        t["spec"]["permissions"]["exchange"]: (
            t["spec"]["permissions"]["write"],
            t["spec"]["permissions"]["read"],
        )
        for t in of_kind(manifests, "TopicPermission")
        if t["spec"]["userReference"]["name"] == user_resource
    }
    rendered = permission["spec"]["permissions"]
    return Permissions(rendered["configure"], rendered["write"], rendered["read"], topics)


def test_broker_permissions_equal_the_permission_table(manifests: list[Manifest]) -> None:
    """The Messaging Topology Operator grants exactly what ilmo_shared.messaging.users says."""
    for service in SERVICES:
        user = one(manifests, "User", f"{RELEASE}-{service}")
        assert user["spec"]["importCredentialsSecret"] == {"name": f"{RELEASE}-{service}-broker"}
        assert permissions_of(manifests, f"{RELEASE}-{service}") == service_permissions(service)
        config = one(manifests, "ConfigMap", f"{RELEASE}-{service}")["data"]
        for other in SERVICES:
            assert config[f"ILMO_{other.upper()}_BROKER_USER"] == default_user(other)
    for permission in of_kind(manifests, "Permission") + of_kind(manifests, "TopicPermission"):
        assert permission["spec"]["vhost"] == "ilmo"


def test_integrators_get_the_integrator_permissions() -> None:
    manifests = documents(render("-f", str(PRODUCTION_VALUES)))
    user = integrator_user("kela")
    one(manifests, "User", f"{RELEASE}-{user}")
    assert permissions_of(manifests, f"{RELEASE}-{user}") == integrator_permissions("kela")


def test_dead_letter_queues_expire_by_the_local_policy(manifests: list[Manifest]) -> None:
    (policy,) = of_kind(manifests, "Policy")
    assert policy["spec"]["name"] == DEAD_LETTER_POLICY
    assert policy["spec"]["pattern"] == DEAD_LETTER_QUEUES
    assert policy["spec"]["applyTo"] == "queues"
    assert policy["spec"]["definition"] == {
        "message-ttl": int(DEAD_LETTER_TTL_DAYS * 24 * 3600 * 1000)
    }


def test_the_broker_is_three_nodes_speaking_only_tls_with_ilmos_exchanges(
    manifests: list[Manifest],
) -> None:
    (cluster,) = of_kind(manifests, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert cluster["spec"]["tls"]["disableNonTLSListeners"] is True
    certificate = one(manifests, "Certificate", cluster["metadata"]["name"])
    assert certificate["spec"]["secretName"] == cluster["spec"]["tls"]["secretName"]
    (vhost,) = of_kind(manifests, "Vhost")
    assert vhost["spec"]["defaultQueueType"] == "quorum"
    exchanges = {e["spec"]["name"]: e["spec"] for e in of_kind(manifests, "Exchange")}
    assert set(exchanges) == {"ilmo.events", "ilmo.internal", "ilmo.dead-letter"}
    for exchange in exchanges.values():
        assert (exchange["type"], exchange["durable"]) == ("topic", True)


# ---------------------------------------------------------------- the database


def test_each_service_has_a_database_user_for_its_own_database_only(
    manifests: list[Manifest],
) -> None:
    (mongodb,) = of_kind(manifests, "MongoDBCommunity")
    assert mongodb["spec"]["members"] == 3
    assert mongodb["spec"]["version"].startswith("8.0.")
    assert mongodb["spec"]["security"]["tls"]["enabled"] is True
    users = {u["name"]: u for u in mongodb["spec"]["users"]}
    assert set(users) == {f"ilmo-{service}" for service in SERVICES}
    for service in SERVICES:
        user = users[f"ilmo-{service}"]
        assert user["roles"] == [{"name": "readWrite", "db": f"ilmo_{service}"}]
        assert user["connectionStringSecretName"] == f"{RELEASE}-{service}-mongodb-connection"


def operator_connection_string(mongodb: Manifest, user: str, password: str) -> str:
    """The SRV URL the MongoDB Community Operator writes for ``user`` (MongoAuthUserSRVURI)."""
    name = mongodb["metadata"]["name"]
    tls = str(mongodb["spec"]["security"]["tls"]["enabled"]).lower()
    host = f"{name}-svc.{NAMESPACE}.svc.cluster.local"
    return f"mongodb+srv://{user}:{password}@{host}/admin?replicaSet={name}&ssl={tls}"


async def test_services_accept_the_urls_and_files_the_chart_hands_them(
    manifests: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings and database client take the operator's URL, the broker URL and the CA files.

    Nothing connects: the settings validate, and PyMongo checks its options
    (TLS from the URL's ssl=true and from the CA file must agree) when the
    client is made.
    """
    (mongodb,) = of_kind(manifests, "MongoDBCommunity")
    authority = trustme.CA()
    mount = tmp_path / "tls"
    mount.mkdir()
    for name in ("rabbitmq-ca.crt", "mongodb-ca.crt"):
        authority.cert_pem.write_to_path(str(mount / name))
    for service in SERVICES:
        config = one(manifests, "ConfigMap", f"{RELEASE}-{service}")["data"]
        for name in list(os.environ):
            if name.startswith("ILMO_"):
                monkeypatch.delenv(name)
        for key, value in config.items():
            if key.endswith("_CA_FILE") and key in ("ILMO_AMQP_CA_FILE", "ILMO_MONGODB_CA_FILE"):
                value = str(mount / Path(value).name)
            if key != SECRETS_DIR_VARIABLE and not key.endswith(
                ("_SMTP_CA_FILE", "_REDIS_CA_FILE")
            ):
                monkeypatch.setenv(key, value)
        user = f"ilmo-{service}"
        monkeypatch.setenv(
            "ILMO_MONGODB_URL", operator_connection_string(mongodb, user, "p4ss-w0rd")
        )
        host = f"{RELEASE}-rabbitmq.{NAMESPACE}.svc"
        monkeypatch.setenv("ILMO_AMQP_URL", f"amqps://{user}:p4ss-w0rd@{host}:5671/ilmo")
        settings = SETTINGS[service]()
        assert isinstance(settings, ServiceSettings)
        assert settings.mongodb_ca_file == mount / "mongodb-ca.crt"
        assert settings.amqp_tls
        client = connect_with(settings)
        try:
            assert client.options.pool_options._ssl_context is not None
        finally:
            await client.close()


# ---------------------------------------------------------------- monitoring


def test_service_monitors_name_the_job_and_service_the_rules_use(
    manifests: list[Manifest],
) -> None:
    for service in SERVICES:
        monitor = one(manifests, "ServiceMonitor", f"{RELEASE}-{service}")
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("operations", "/metrics")
        assert "oauth2" in endpoint
        labels = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
        assert labels == {"job": f"ilmo-{service}", "service": service}
    broker = one(manifests, "ServiceMonitor", f"{RELEASE}-rabbitmq")
    jobs = {
        e["relabelings"][0]["replacement"]: (e["path"], e.get("params"))
        for e in broker["spec"]["endpoints"]
    }
    assert jobs == {
        "rabbitmq": ("/metrics", None),
        "rabbitmq-queues": (
            "/metrics/detailed",
            {"family": ["queue_coarse_metrics", "queue_consumer_count"]},
        ),
    }


def rule_files() -> Iterator[Path]:
    yield from sorted((REPO_ROOT / "deploy/prometheus/rules").glob("*.yml"))


def test_prometheus_rules_are_the_repositorys_rule_files(manifests: list[Manifest]) -> None:
    rendered = {r["metadata"]["name"]: r["spec"] for r in of_kind(manifests, "PrometheusRule")}
    expected = {
        f"{RELEASE}-{path.stem}": {"groups": yaml.safe_load(path.read_text())["groups"]}
        for path in rule_files()
    }
    assert rendered == expected


def test_grafana_dashboards_are_the_repositorys_dashboards(manifests: list[Manifest]) -> None:
    rendered = {
        name: json.loads(text)
        for config_map in of_kind(manifests, "ConfigMap")
        if config_map["metadata"]["labels"].get("grafana_dashboard") == "1"
        for name, text in config_map["data"].items()
    }
    expected = {
        path.name: json.loads(path.read_text())
        for path in sorted((REPO_ROOT / "deploy/grafana/dashboards").glob("*.json"))
    }
    assert rendered == expected


def test_the_chart_reads_rules_and_dashboards_through_symlinks_to_their_folders() -> None:
    """One copy of each file: the chart's files/ folders point at the originals."""
    files = CHART / "files"
    assert (files / "prometheus-rules").resolve() == REPO_ROOT / "deploy/prometheus/rules"
    assert (files / "grafana-dashboards").resolve() == REPO_ROOT / "deploy/grafana/dashboards"


def test_the_packaged_chart_carries_the_rules_and_dashboards(tmp_path: Path) -> None:
    result = helm("package", str(CHART), "--destination", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (archive,) = tmp_path.glob("ilmo-*.tgz")
    listing = run("tar", "tzf", str(archive)).stdout.split()
    for path in rule_files():
        assert f"ilmo/files/prometheus-rules/{path.name}" in listing
    for path in sorted((REPO_ROOT / "deploy/grafana/dashboards").glob("*.json")):
        assert f"ilmo/files/grafana-dashboards/{path.name}" in listing

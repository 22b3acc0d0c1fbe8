"""Generate the JSON schemas kubeconform checks the chart against, offline.

kubeconform fetches its schemas from the network by default, which CI cannot
reach. This script makes them from the Go modules of Kubernetes and of the
operators, which the Go module proxy serves (``go mod download``), and
writes them to ``deploy/kubernetes/schemas/`` in kubeconform's layout
(``<kind>-<group>-<version>.json``, the group cut at its first dot):

- built-in kinds from the OpenAPI (v2) document inside ``k8s.io/kubernetes``
  (``api/openapi-spec/swagger.json``), every ``$ref`` inlined ("standalone");
- custom resources from the CRDs inside each operator's module, converted from
  OpenAPI v3 (``nullable``, ``x-kubernetes-int-or-string``,
  ``x-kubernetes-preserve-unknown-fields``) to plain JSON Schema.

Every object schema that lists its properties and says nothing else about
others gets ``additionalProperties: false`` ("strict"): a misspelt field is an
error, as with ``kubeconform -strict``. Descriptions are dropped (the
upstream API references have them); each module's licence is copied beside
the schemas. Only the kinds the chart renders are generated; the RabbitMQ
operators' modules are not served by the proxy, so their schemas are written
by hand in ``schemas/rabbitmq/`` (see the README there).

Usage: ``uv run python deploy/kubernetes/generate_schemas.py [--output DIR]``
(needs Go and the Go module proxy, or the modules in Go's module cache).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"

# The Kubernetes version the chart is validated against.
KUBERNETES = ("k8s.io/kubernetes", "v1.35.4")
# (group, version, kind) of every built-in kind the chart renders.
BUILT_IN_KINDS = (
    ("", "v1", "ConfigMap"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
)


@dataclass(frozen=True)
class Operator:
    """An operator's Go module and the CRD files in it whose kinds the chart renders."""

    name: str
    module: str
    version: str
    crds: tuple[str, ...]
    licence: str = "LICENSE"


OPERATORS = (
    Operator(
        "cert-manager",
        "github.com/cert-manager/cert-manager",
        "v1.21.2",
        ("deploy/crds/cert-manager.io_certificates.yaml",),
    ),
    Operator(
        "prometheus-operator",
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        (
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        ),
    ),
    Operator(
        "keda",
        "github.com/kedacore/keda/v2",
        "v2.21.0",
        (
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
        ),
    ),
    Operator(
        "external-secrets",
        "github.com/external-secrets/external-secrets",
        "v0.16.2",
        ("config/crds/bases/external-secrets.io_externalsecrets.yaml",),
    ),
    Operator(
        "mongodb-kubernetes-operator",
        "github.com/mongodb/mongodb-kubernetes-operator",
        "v0.9.0",
        ("config/crd/bases/mongodbcommunity.mongodb.com_mongodbcommunity.yaml",),
        # LICENSE.md: the operator's source (and so its CRD) is Apache-2.0, in APACHE2.
        licence="APACHE2",
    ),
)

Schema = dict[str, Any]


def module_dir(module: str, version: str) -> Path:
    """The module's source, downloaded (or found in the module cache) by ``go mod download``."""
    result = subprocess.run(  # noqa: S603 (fixed arguments, pinned modules)
        ["go", "mod", "download", "-json", f"{module}@{version}"],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(json.loads(result.stdout)["Dir"])


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's name for a kind's schema: ``deployment-apps-v1.json``, ``service-v1.json``."""
    prefix = group.split(".")[0]
    suffix = f"-{prefix}-{version}" if prefix else f"-{version}"
    return f"{kind.lower()}{suffix}.json".lower()


def api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def strict(schema: Schema) -> Schema:
    """Close an object schema that lists its properties and allows nothing else explicitly."""
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


def pinned_kind(schema: Schema, group: str, version: str, kind: str) -> Schema:
    """The top of a kind's schema: apiVersion and kind must be exactly this kind's."""
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [api_version(group, version)]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    return schema


# ---------------------------------------------------------------- built-in kinds (OpenAPI v2)

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
DROPPED = ("description", "x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys")


def inline(node: Any, definitions: Mapping[str, Schema], path: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``$ref`` replaced by its definition, recursively.

    A definition that refers to itself (none of the chart's kinds has one) is
    cut to ``{}`` at the second visit.
    """
    if isinstance(node, list):
        return [inline(item, definitions, path) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in path:
            return {}
        if name == QUANTITY:
            return {"oneOf": [{"type": "string"}, {"type": "number"}]}
        return inline(definitions[name], definitions, (*path, name))
    converted: Schema = {}
    for key, value in node.items():
        if key in DROPPED or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            converted[key] = {name: inline(v, definitions, path) for name, v in value.items()}
        else:
            converted[key] = inline(value, definitions, path)
    if converted.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    return strict(converted)


def built_in_schemas(swagger: Mapping[str, Any]) -> Iterator[tuple[str, Schema]]:
    definitions: Mapping[str, Schema] = swagger["definitions"]
    by_kind: dict[tuple[str, str, str], str] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            by_kind[(gvk["group"], gvk["version"], gvk["kind"])] = name
    for group, version, kind in BUILT_IN_KINDS:
        name = by_kind[(group, version, kind)]
        schema = inline(definitions[name], definitions, (name,))
        yield file_name(group, version, kind), pinned_kind(schema, group, version, kind)


# ---------------------------------------------------------------- custom resources (OpenAPI v3)


def converted(node: Any) -> Any:
    """A CRD's OpenAPI v3 schema as JSON Schema, strict where the CRD does not say otherwise."""
    if isinstance(node, list):
        return [converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema: Schema = {}
    for key, value in node.items():
        if key in ("description", "nullable"):
            continue
        if key == "properties":
            schema[key] = {name: converted(v) for name, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            schema[key] = converted(value)
        else:
            schema[key] = value
    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    strict(schema)
    return {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}


def crd_schemas(path: Path) -> Iterator[tuple[str, Schema]]:
    for document in yaml.safe_load_all(path.read_text()):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = converted(version["schema"]["openAPIV3Schema"])
            yield (
                file_name(group, version["name"], kind),
                pinned_kind(schema, group, version["name"], kind),
            )


# ---------------------------------------------------------------- writing


def write(target: Path, name: str, schema: Schema) -> None:
    (target / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


def copy_licence(target: Path, source: Path, name: str) -> None:
    licences = target / "licenses"
    licences.mkdir(exist_ok=True)
    shutil.copyfile(source, licences / f"{name}.LICENSE")


def generate(target: Path) -> None:
    """Write every schema, licence and the list of sources into ``target``.

    The generated ``*.json`` already there are replaced; the hand-written
    ``rabbitmq/`` folder is left alone.
    """
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.json"):
        old.unlink()
    module, version = KUBERNETES
    kubernetes = module_dir(module, version)
    swagger = json.loads((kubernetes / "api/openapi-spec/swagger.json").read_text())
    for name, schema in built_in_schemas(swagger):
        write(target, name, schema)
    copy_licence(target, kubernetes / "LICENSE", "kubernetes")
    sources = [f"{module}@{version}"]
    for operator in OPERATORS:
        directory = module_dir(operator.module, operator.version)
        for crd in operator.crds:
            for name, schema in crd_schemas(directory / crd):
                write(target, name, schema)
        copy_licence(target, directory / operator.licence, operator.name)
        sources.append(f"{operator.module}@{operator.version}")
    (target / "SOURCES").write_text(
        "# Generated by deploy/kubernetes/generate_schemas.py from these Go modules.\n"
        + "".join(f"{source}\n" for source in sources)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=SCHEMAS, help="default: %(default)s")
    generate(parser.parse_args(argv).output)


if __name__ == "__main__":
    main()

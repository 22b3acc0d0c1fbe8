"""The image's build files: the pinned uv is checked, the health probe finds the listener,
and the Containerfile's dependency layer knows every workspace package.

deploy/image/*.py are scripts copied into the image's stages, not packages:
loaded here from their files. That the image builds and its services run is
tests/e2e/test_container_image.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).parents[2]
IMAGE_DIR = REPO_ROOT / "deploy" / "image"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, IMAGE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def install_uv() -> ModuleType:
    return load("install_uv")


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    return load("healthcheck")


def wheel_holding(version: str, binary: bytes) -> bytes:
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as wheel:
        wheel.writestr(f"uv-{version}.data/scripts/uv", binary)
    return content.getvalue()


def test_a_wheel_whose_hash_differs_from_the_pin_is_refused(install_uv: ModuleType) -> None:
    content = wheel_holding(install_uv.UV_VERSION, b"\x7fELF not really uv")
    pinned = install_uv.Wheel("https://files.example/uv.whl", hashlib.sha256(content).hexdigest())
    assert install_uv.checked(content, pinned) == content
    with pytest.raises(install_uv.WheelRefusedError, match="expected"):
        install_uv.checked(content + b"tampered", pinned)


def test_the_binary_is_unpacked_executable(install_uv: ModuleType, tmp_path: Path) -> None:
    binary = install_uv.unpack_uv(wheel_holding(install_uv.UV_VERSION, b"uv!"), tmp_path)
    assert binary.read_bytes() == b"uv!"
    assert binary.stat().st_mode & 0o111


def test_only_pinned_architectures_install(install_uv: ModuleType) -> None:
    assert set(install_uv.WHEELS) == {"x86_64", "aarch64"}
    for wheel in install_uv.WHEELS.values():
        assert f"/uv-{install_uv.UV_VERSION}-" in wheel.url
        assert re.fullmatch(r"[0-9a-f]{64}", wheel.sha256)
    with pytest.raises(install_uv.WheelRefusedError, match="riscv64"):
        install_uv.wheel_for("riscv64")


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, ("127.0.0.1", 8080)),
        ({"ILMO_HTTP_HOST": "0.0.0.0", "ILMO_HTTP_PORT": "8080"}, ("127.0.0.1", 8080)),  # noqa: S104
        ({"ILMO_HTTP_HOST": "::", "ILMO_HTTP_PORT": "8443"}, ("::1", 8443)),
        ({"ILMO_HTTP_HOST": "127.0.0.1", "ILMO_HTTP_PORT": "38081"}, ("127.0.0.1", 38081)),
        ({"ILMO_HTTP_HOST": "10.0.0.7"}, ("10.0.0.7", 8080)),
    ],
)
def test_the_health_probe_asks_where_the_service_listens(
    healthcheck: ModuleType, environment: dict[str, str], expected: tuple[str, int]
) -> None:
    assert healthcheck.address(environment) == expected


def test_the_containerfile_installs_the_dependencies_of_every_workspace_package() -> None:
    """A new workspace package whose pyproject the first uv sync lacks would break the build."""
    workspace = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    members = {
        str(path.parent.relative_to(REPO_ROOT))
        for pattern in workspace["members"]
        for path in REPO_ROOT.glob(f"{pattern}/pyproject.toml")
    }
    containerfile = (REPO_ROOT / "Containerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)/pyproject\.toml \1/$", containerfile, re.MULTILINE))
    assert copied == members

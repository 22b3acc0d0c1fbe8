"""Install a pinned ``uv`` into the image's build stage, from its wheel on PyPI.

The build stage has a Python but, on the local Debian base, no pip, and no
container registry to copy uv's own image from. uv's wheel is a zip holding
one static binary: this script downloads the wheel of the pinned version for
the machine's architecture, checks its SHA-256 against the hash written here
(so a changed or substituted file is refused), and unpacks the binary.

Standard library only. HTTPS trusts the CA bundle named by ``SSL_CERT_FILE``
if set (the Containerfile points it at the build secret on machines behind an
intercepting proxy), else the system's.

    python3 install_uv.py /usr/local/bin
"""

from __future__ import annotations

import hashlib
import io
import platform
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

# The uv the lock was written with (uv.lock's format follows uv's version).
UV_VERSION = "0.13.9"
FILES = "https://files.pythonhosted.org/packages"


@dataclass(frozen=True)
class Wheel:
    """One wheel of uv on PyPI and the SHA-256 that PyPI's index lists for it."""

    url: str
    sha256: str


# platform.machine() -> uv's manylinux wheel of UV_VERSION.
WHEELS = {
    "x86_64": Wheel(
        f"{FILES}/3d/aa/26d64642d808de4a652579ef950d7cd2d37f080a8babf9c67c6b75fc4c3f/"
        f"uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    ),
    "aarch64": Wheel(
        f"{FILES}/fe/2f/51a5de367c602592c018a42a23d57fba5f2689fe6c3bf025dcf043b39c61/"
        f"uv-{UV_VERSION}-py3-none-manylinux_2_28_aarch64.whl",
        "ecb6028d79dc96fbeafffe5c8af62a7099487ebc05a701e76714eebcffd06375",
    ),
}


class WheelRefusedError(Exception):
    """The downloaded file is not the wheel pinned here."""


def wheel_for(machine: str) -> Wheel:
    try:
        return WHEELS[machine]
    except KeyError:
        raise WheelRefusedError(f"no uv wheel pinned for the architecture {machine!r}") from None


def checked(content: bytes, wheel: Wheel) -> bytes:
    """``content`` if its SHA-256 is the pinned one; a mismatch is never unpacked."""
    digest = hashlib.sha256(content).hexdigest()
    if digest != wheel.sha256:
        raise WheelRefusedError(f"{wheel.url}: SHA-256 {digest}, expected {wheel.sha256}")
    return content


def unpack_uv(content: bytes, target: Path) -> Path:
    """Write the wheel's ``uv`` binary into ``target``, executable."""
    with zipfile.ZipFile(io.BytesIO(content)) as wheel:
        member = f"uv-{UV_VERSION}.data/scripts/uv"
        binary = target / "uv"
        binary.write_bytes(wheel.read(member))
    binary.chmod(0o755)
    return binary


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310 (a fixed https URL)
        return bytes(answer.read())


def main(arguments: list[str]) -> int:
    if len(arguments) != 1:
        print("usage: install_uv.py TARGET_DIRECTORY", file=sys.stderr)
        return 2
    wheel = wheel_for(platform.machine())
    binary = unpack_uv(checked(download(wheel.url), wheel), Path(arguments[0]))
    print(f"installed uv {UV_VERSION} at {binary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

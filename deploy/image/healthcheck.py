"""The image's ``HEALTHCHECK``: is the service in this container ready?

Asks the public listener's ``/health/ready`` (200: connected to the broker and
the database, doing its work) where the service listens: ``ILMO_HTTP_PORT``
(the image sets 8080) on ``ILMO_HTTP_HOST``, or on loopback when that is a
wildcard address. Standard library only, and ``http.client`` rather than
``urllib``: a health probe of the container itself must never go through an
``HTTP_PROXY`` set for the service's outbound calls. No curl in the image.

Exit 0 when ready, 1 otherwise (Docker's and podman's convention), with one
line saying why.
"""

from __future__ import annotations

import http.client
import os
import sys
from collections.abc import Mapping

PATH = "/health/ready"
TIMEOUT_SECONDS = 4.0
# Listening on every address means loopback answers too.
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 (read, not bound)


def address(environment: Mapping[str, str]) -> tuple[str, int]:
    """Where the service's public listener is, from the service's own settings' variables."""
    host = environment.get("ILMO_HTTP_HOST", "127.0.0.1").strip()
    port = int(environment.get("ILMO_HTTP_PORT", "8080"))
    return WILDCARDS.get(host, host), port


def probe(host: str, port: int) -> tuple[bool, str]:
    """(ready, what was seen)."""
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", PATH, headers={"User-Agent": "ilmo-healthcheck"})
        answer = connection.getresponse()
        answer.read()
    except OSError as error:
        return False, f"{host}:{port}{PATH}: {error}"
    finally:
        connection.close()
    return answer.status == 200, f"{host}:{port}{PATH}: HTTP {answer.status}"


def main() -> int:
    try:
        host, port = address(os.environ)
    except ValueError as error:
        print(f"unhealthy: ILMO_HTTP_PORT is not a port: {error}")
        return 1
    ready, seen = probe(host, port)
    print(("ready: " if ready else "not ready: ") + seen)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())

"""The TypeScript client (clients/typescript) against the registration service as a process.

Node's own test runner runs the client's tests (``npm test``: compiled with
tsc, then ``node --test``) against the service's public listener, with the
development token as the organiser's. They create an event, register with an
``Idempotency-Key`` and retry with the same key, read and cancel the
registration with its manage token, and check that errors arrive as typed
problem details. Only the registration service is started: everything the
client calls is answered there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.processes import running_services
from tests.support.registration import ADMIN_TOKEN

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def test_the_typescript_client_against_the_registration_service(
    infrastructure: IsolatedInfrastructure,
) -> None:
    npm = shutil.which("npm")
    if npm is None or not (CLIENT / "node_modules").is_dir():
        pytest.fail(
            "the TypeScript client's packages are not installed: run `make client` "
            "(needs Node.js 20 and npm)",
            pytrace=False,
        )
    with running_services(infrastructure, names=("registration",)) as services:
        environment = {
            **os.environ,
            "ILMO_CLIENT_TEST_BASE_URL": services["registration"].url,
            "ILMO_CLIENT_TEST_TOKEN": ADMIN_TOKEN,
        }
        finished = subprocess.run(
            [npm, "test"],
            cwd=CLIENT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    print(finished.stdout)
    assert finished.returncode == 0, (
        f"npm test failed:\n{finished.stdout[-10000:]}\n{finished.stderr[-4000:]}"
    )

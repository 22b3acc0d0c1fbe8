"""The development token the services under test accept (``ILMO_DEVELOPMENT_TOKEN``).

It stands for every role at once (``ilmo_shared.identity``), so tests about
something else need no identity provider. Tests of who may do what use
real tokens (``tests.support.identity``) instead.
"""

from __future__ import annotations

DEVELOPMENT_TOKEN = "test-development-token-4f1c9a7e0b6d2c81"
DEVELOPMENT = {"Authorization": f"Bearer {DEVELOPMENT_TOKEN}"}

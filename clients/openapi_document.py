"""Write ``contracts/openapi.json``: the registration API's OpenAPI document, from its app.

``make openapi`` runs this. The document is the one the operations
listener serves at ``/openapi.json`` (``public.openapi()`` of the app that
``ilmo_registration.app.build_app`` wires), built in-process: nothing is
started and nothing is connected, as building the app only wires it.

The clients under ``clients/`` are generated from the checked-in file, not
from a running service, so that a change to the API shows up as a diff of
the document and of the generated client types in the same commit.

``ILMO_*`` variables of the caller's shell are ignored: the document must
not depend on who generated it. The manage-link secret is a placeholder,
required to build the app and absent from the document.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ilmo_registration.app import build_app
from ilmo_registration.settings import RegistrationSettings

DOCUMENT = Path(__file__).resolve().parents[1] / "contracts" / "openapi.json"
PLACEHOLDER_SECRET = "placeholder-for-the-document-only-0123456789"  # noqa: S105 (not a secret)


def rendered() -> str:
    for name in [name for name in os.environ if name.startswith("ILMO_")]:
        del os.environ[name]
    app = build_app(RegistrationSettings(manage_link_secret=PLACEHOLDER_SECRET))
    # Sorted keys and a final newline, as the other documents in contracts/.
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    DOCUMENT.write_text(rendered(), encoding="utf-8")
    print(DOCUMENT.relative_to(DOCUMENT.parents[1]), file=sys.stdout)


if __name__ == "__main__":
    main()

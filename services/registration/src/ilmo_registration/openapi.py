"""The public API's OpenAPI document as checked in: ``contracts/openapi.json``.

The copy is the document this build serves at ``/openapi.json`` on the
operations listener, for integrators to read and to generate clients from
without running the service. Regenerate it with::

    uv run --frozen python -m ilmo_registration.openapi

(``make contracts`` does too); a unit test fails while it differs from the code.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ilmo_registration.app import build_app
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.logging import configure_logging

REPOSITORY = Path(__file__).resolve().parents[4]
CHECKED_IN = REPOSITORY / "contracts" / "openapi.json"
REGENERATE = "uv run --frozen python -m ilmo_registration.openapi"


class _DefaultSettings(RegistrationSettings):
    """The settings' defaults only, whatever the environment: the document is the build's."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def rendered() -> str:
    """The document as checked in: sorted keys, two-space indents, a final newline."""
    # Any key will do: the app needs one to be built, and the document names none.
    settings = _DefaultSettings(manage_link_secret=secrets.token_urlsafe(32))
    document = build_app(settings).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    """Write the document to ``contracts/openapi.json``, or to the path given."""
    # Building the app is not running it: its warnings (no rate limits) say nothing here.
    configure_logging("registration", "ERROR")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CHECKED_IN
    target.write_text(rendered(), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()

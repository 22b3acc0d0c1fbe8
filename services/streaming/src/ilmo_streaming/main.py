"""``ilmo-streaming``: start the streaming service."""

from __future__ import annotations

from ilmo_shared.runtime import run_service
from ilmo_streaming.app import SERVICE, build_app
from ilmo_streaming.settings import StreamingSettings


def main() -> None:
    run_service(SERVICE, StreamingSettings, build_app)

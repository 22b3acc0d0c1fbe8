"""``ilmo-streaming``: start the streaming service."""

from __future__ import annotations

from fastapi import FastAPI

from ilmo_shared.runtime import run_service
from ilmo_shared.settings import require_secrets
from ilmo_streaming.app import SERVICE, build_app
from ilmo_streaming.settings import StreamingSettings


def _build(settings: StreamingSettings) -> FastAPI:
    require_secrets(settings, f"ilmo-{SERVICE}", "stream_link_secret")
    return build_app(settings)


def main() -> None:
    run_service(SERVICE, StreamingSettings, _build)

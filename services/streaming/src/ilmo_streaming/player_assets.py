"""The player page's two scripts over HTTP: hls.js and the player itself (issue 20).

A fixed allow-list, one route per file: nothing from the request names a
file, so no request can reach another file of the package (no path
traversal to worry about), and anything else under ``/player/assets/`` is
the app's ordinary 404. The files are read once from the installed package
(``static/``), where the wheel ships them.

Both may be cached for an hour by anyone (they hold nothing personal), and
are sent with ``X-Content-Type-Options: nosniff``, so that a browser runs
them only as what they say they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from ilmo_streaming import CATALOGUE
from ilmo_streaming.player import HLS_SCRIPT_PATH, PLAYER_SCRIPT_PATH

_JAVASCRIPT = "text/javascript; charset=utf-8"
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class _Asset:
    """A file of the package's ``static/`` folder and the type it is served as."""

    parts: tuple[str, ...]
    media_type: str


# Where each script is served, and which file it is: the whole allow-list.
ASSETS = {
    PLAYER_SCRIPT_PATH: _Asset(("player.js",), _JAVASCRIPT),
    # hls.js as vendored from npm (static/vendor/hls.js/README.md).
    HLS_SCRIPT_PATH: _Asset(("vendor", "hls.js", "hls.min.js"), _JAVASCRIPT),
}


@cache
def _content(asset: _Asset) -> bytes:
    return files(CATALOGUE).joinpath("static", *asset.parts).read_bytes()


def player_assets() -> APIRouter:
    """A router that serves exactly the player page's scripts (``ASSETS``), nothing else."""
    router = APIRouter(include_in_schema=False)
    for path, asset in ASSETS.items():
        router.add_api_route(path, _responder(asset), methods=["GET"], name=path)
    return router


def _responder(asset: _Asset) -> Callable[[], Awaitable[Response]]:
    """The route's handler for one file: it takes nothing from the request."""

    async def answer() -> Response:
        return Response(_content(asset), media_type=asset.media_type, headers=ASSET_HEADERS)

    return answer

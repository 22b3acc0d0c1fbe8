"""The player page: a viewer's watch link, for an event with signed HLS playback (issue 20).

Pure rendering, no I/O beyond reading the package's own files once.

Why a page and not a redirect: a signed playback URL runs out after a short
time, so that a revoked viewer loses the video within that time
(``ilmo_streaming.playback``). A player that was only redirected to one URL
would stop with it. The page instead asks the watch link's renewal endpoint
(``renewal_url``) for a fresh URL every ``renew_after_seconds`` and keeps
playing on it without reloading (``static/player.js``); once the endpoint
answers 410, no fresh URL comes and the video stops when the last one
expires.

What the page is made of, and why each part is there:

- ``templates/player.html``: the event's title as the one ``h1`` (Finnish,
  the page's language; Swedish and English below it with their ``lang``), the
  native ``<video controls>`` named by that title, a polite status region,
  and a ``<noscript>`` notice with a plain link to the playlist.
- Every text the viewer reads is a gettext message marked here with ``_()``
  and shown in Finnish, Swedish and English, each with its ``lang``: the
  service stores nothing personal, so it does not know the viewer's language.
  The status messages are ``<template>`` elements that the script copies into
  the status region, so no text lives in JavaScript.
- The values the script needs reach it as ``data-`` attributes of the video
  element, never as inline script; Jinja2 escapes them.
- The stylesheet (``static/player.css``) is inlined and allowed by its hash,
  the two scripts come from the service itself (``player_assets``): the
  policy (``content_security_policy``) needs no ``'unsafe-inline'``.

The route that answers with this page also sets ``Cache-Control: no-store``
and ``Referrer-Policy: no-referrer``: the watch link's token is in the
address and in ``renewal_url``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from urllib.parse import urlsplit

from jinja2 import Environment
from markupsafe import Markup

from ilmo_event_contracts import Language, LocalizedText
from ilmo_shared.i18n import _, environment, translate
from ilmo_streaming import CATALOGUE

# Where the page's two scripts are served (``player_assets.player_assets``).
ASSETS_PREFIX = "/player/assets"
HLS_SCRIPT_PATH = f"{ASSETS_PREFIX}/hls.min.js"
PLAYER_SCRIPT_PATH = f"{ASSETS_PREFIX}/player.js"
STYLESHEET = "player.css"

# The order the languages are shown in; the page itself is Finnish.
_LANGUAGES = (Language.FI, Language.SV, Language.EN)

# The status region's messages, by the name player.js shows them by.
_STATUS_MESSAGES = (
    ("loading", _("Loading the stream…")),
    (
        "not-started",
        _("The stream has not started yet. This page tries again every few seconds."),
    ),
    ("ended", _("The stream has ended.")),
    ("access-ended", _("Your access to this stream has ended.")),
    ("not-valid-now", _("This link cannot be used to watch the stream now.")),
    ("unsupported", _("This browser cannot play the stream. Please try another browser.")),
)
_NOSCRIPT = (
    _("Playing the stream on this page needs JavaScript."),
    _("You can also open the stream in a video player that plays HLS streams."),
    _("The address works for a limited time."),
)
_PLAYLIST_LINK = _("Open the stream")

# A CSP source expression for an origin: scheme, host (name, IPv4 or [IPv6]) and port.
_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class PlayerView:
    """What the player page shows and where its script goes for the stream."""

    # The event's title (``LocalizedText``: Finnish always, Swedish and English if given).
    title: LocalizedText
    # An absolute signed playlist URL, valid now, e.g.
    # ``https://stream.example.fi/hls/<md5>/<expires>/<stream>/index.m3u8``.
    playlist_url: str
    # A same-origin relative URL that answers a fresh playlist URL as JSON,
    # e.g. ``/watch/<token>/playback``.
    renewal_url: str
    # When the page asks ``renewal_url`` for a fresh URL: well before ``playlist_url`` expires.
    renew_after_seconds: int


@cache
def _templates() -> Environment:
    return environment(CATALOGUE, Language.FI)


@cache
def _style() -> str:
    return files(CATALOGUE).joinpath("static", STYLESHEET).read_text(encoding="utf-8")


@cache
def _style_source() -> str:
    """The CSP source that allows exactly the inlined stylesheet: its SHA-256 in base64."""
    digest = hashlib.sha256(_style().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _in_every_language(message: str) -> list[tuple[str, str]]:
    return [(language.value, translate(CATALOGUE, language, message)) for language in _LANGUAGES]


def _subtitles(title: LocalizedText) -> list[tuple[str, str]]:
    """The Swedish and English titles where the event has them and they differ from the h1."""
    shown = []
    for language in (Language.SV, Language.EN):
        text = getattr(title, language.value)
        if text and text != title.fi:
            shown.append((language.value, text))
    return shown


def render(view: PlayerView) -> str:
    """The whole HTML document of the player page; every value in it HTML-escaped."""
    return (
        _templates()
        .get_template("player.html")
        .render(
            title=view.title,
            subtitles=_subtitles(view.title),
            playlist_url=view.playlist_url,
            renewal_url=view.renewal_url,
            renew_after_seconds=str(view.renew_after_seconds),
            # The package's own file, not a value from outside: inlined as it is,
            # because its hash in the policy must match it byte for byte.
            style=Markup(_style()),  # noqa: S704
            hls_script=HLS_SCRIPT_PATH,
            player_script=PLAYER_SCRIPT_PATH,
            messages=[(name, _in_every_language(text)) for name, text in _STATUS_MESSAGES],
            noscript=[
                (language.value, " ".join(translate(CATALOGUE, language, t) for t in _NOSCRIPT))
                for language in _LANGUAGES
            ],
            playlist_link=_in_every_language(_PLAYLIST_LINK),
        )
    )


def playlist_origin(playlist_url: str) -> str:
    """The origin (``scheme://host[:port]``) of an absolute http(s) playlist URL.

    Raises ``ValueError`` for anything else, so that nothing from a
    misconfigured URL (a ``;``, a space, user information) can reach the
    policy as a directive of its own.
    """
    parts = urlsplit(playlist_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise ValueError("the playlist URL must be an absolute http(s) URL without user info")
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if _ORIGIN.fullmatch(origin) is None:
        raise ValueError(f"not an origin a policy can name: {origin!r}")
    return origin


def content_security_policy(playlist_url: str) -> str:
    """The player page's Content-Security-Policy, for a stream at ``playlist_url``'s origin.

    Scripts only from the service itself (hls.js and the player, no inline
    script); the stylesheet only by its hash. hls.js fetches the playlist and
    segments (``connect-src``), hands them to the video through a ``blob:``
    URL of a MediaSource (``media-src``), and transmuxes in a worker that it
    makes from a ``blob:`` URL (``worker-src``); Safari's own HLS playback
    loads the playlist's origin as media. Nothing else: no frames around the
    page, no ``<base>``, no form.
    """
    origin = playlist_origin(playlist_url)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {_style_source()}",
            f"connect-src 'self' {origin}",
            f"media-src 'self' blob: {origin}",
            "worker-src blob:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )

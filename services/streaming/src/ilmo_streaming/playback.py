"""Short-lived signed playback URLs for the HLS origin. Pure: no I/O, no clock.

Why: a personal watch link that only redirects to the event's shared stream
URL cannot be revoked, because whoever has the stream URL keeps it. A signed
playback URL stops working at its expiry, so stopping to hand out new ones
(a cancelled registration, a revoked link) reaches the video within one
lifetime. ``PlaybackSigner`` is what the rest of the service depends on, so a
CDN's own token scheme can be added later beside ``SecureLinkSigner``.

``SecureLinkSigner`` implements the scheme of nginx's
``ngx_http_secure_link_module`` (``secure_link`` and ``secure_link_md5``):
the hash is the MD5 of a string that nginx builds for each request, in
base64url (``-`` and ``_`` for ``+`` and ``/``) without ``=`` padding, and
the expiry is in seconds since the Unix epoch. Here that string is::

    "{expires}/{holder}/{stream} {secret}"

**The holder** is an opaque label of the personal link the URL was issued
through (``LinkTokens.holder_of``: keyed, so it tells nothing about the
person, and stable, so the origin's access log shows which link a URL came
from). It is part of the hash: a URL is bound to its link, and a URL found
forwarded points at the one link to revoke.

**The key id** names the secret a URL was signed with, so that the secret can
be rotated without cutting anyone off: the origin knows the new and the old
secret by id for one URL lifetime (docs/operations.md, "Rotating the playback
key"); an id it does not know gets 403.

**Segments.** nginx checks every request, and an HLS player fetches the
segments by URIs relative to the playlist, which lose the playlist's query
string; so ``?md5=…&expires=…`` on the playlist alone would leave every
segment request unsigned. The signature and expiry therefore travel in the
path, in front of the stream's folder::

    {origin_base_url}/{key_id}/{md5}/{expires}/{holder}/{stream}/index.m3u8

A relative segment URI (``index3.ts``) resolves to
``{origin_base_url}/{key_id}/{md5}/{expires}/{holder}/{stream}/index3.ts``, inside the same
signed prefix, and so does a variant playlist in a subfolder
(``720p/index.m3u8``). The hash covers the expiry and the stream's folder,
not the file, so one signature opens every file of that one stream until it
expires; another stream's folder, another expiry or another hash gets 403.
nginx takes the values from the location's regular expression captures
(deploy/local/hls-origin.nginx.conf)::

    map $hls_key $hls_secret { default ""; <key id> <secret>; }
    location ~ ^/hls/(?<hls_key>…)/(?<hls_md5>…)/(?<hls_expires>…)/(?<hls_holder>…)/
                    (?<hls_stream>…)/(?<hls_file>…)$ {    # one line in the file
        if ($hls_secret = "") { return 403; }
        secure_link $hls_md5,$hls_expires;
        secure_link_md5 "$secure_link_expires/$hls_holder/$hls_stream $hls_secret";
        if ($secure_link != "1") { return 403; }
        …
    }

``$secure_link`` is empty for a wrong hash and ``"0"`` for an expired link:
both answer 403.

Stream names and file names keep to ``[A-Za-z0-9_-]`` (files may also hold
dots, never first), so a URL needs no escaping, no component can be ``..``,
and the secret can be written into nginx's configuration as it is (it must
be at least 32 characters of ``[A-Za-z0-9_-]``).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

# What nginx's location accepts; the same patterns are in deploy/local/hls-origin.nginx.conf.
STREAM_NAME = re.compile(r"[A-Za-z0-9_-]+")
FILE_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
SECRET = re.compile(r"[A-Za-z0-9_-]{32,}")
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
HOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PlaybackSigner(Protocol):
    """Makes a playback URL for a file of a stream that works until ``expires_at``."""

    @property
    def base_url(self) -> str:
        """Where the origin serves signed files: the prefix of every URL this signs."""
        ...

    def sign(self, holder: str, path: str, expires_at: datetime) -> str:
        """The URL of ``path`` (``{stream}/{file}``, e.g. ``seminar/index.m3u8``) at the origin.

        ``holder`` labels the personal link the URL is issued through.
        """
        ...


class SecureLinkSigner:
    """Signs playback URLs for an nginx origin that checks them with ``secure_link``.

    ``origin_base_url`` is the origin's address with the location's prefix,
    e.g. ``https://stream.example.fi/hls``; ``secret`` is the one the origin
    knows under ``key_id``.
    """

    def __init__(self, origin_base_url: str, secret: str, key_id: str = "1") -> None:
        parts = urlsplit(origin_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the origin's base URL must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("the origin's base URL must have no query or fragment")
        if SECRET.fullmatch(secret) is None:
            raise ValueError("the playback secret must be at least 32 characters of [A-Za-z0-9_-]")
        if KEY_ID.fullmatch(key_id) is None:
            raise ValueError("the playback key id must be 1 to 16 characters of [A-Za-z0-9_-]")
        self._base_url = origin_base_url.rstrip("/")
        self._secret = secret
        self._key_id = key_id

    @property
    def base_url(self) -> str:
        """The origin's address with its location's prefix, without a trailing slash."""
        return self._base_url

    def sign(self, holder: str, path: str, expires_at: datetime) -> str:
        """``{base}/{key_id}/{md5}/{expires}/{holder}/{path}``, valid until ``expires_at``.

        The expiry is cut to the whole second before it, because nginx reads
        whole seconds. ``expires_at`` must carry its time zone: a naive time
        would mean another instant on every server.
        """
        if HOLDER.fullmatch(holder) is None:
            raise ValueError("a holder is 1 to 64 characters of [A-Za-z0-9_-]")
        problem = stream_file_problem(path)
        if problem is not None:
            raise ValueError(problem)
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = math.floor(expires_at.timestamp())
        if expires <= 0:
            raise ValueError("expires_at must be after the Unix epoch")
        signature = self._hash(expires, holder, path.partition("/")[0])
        return f"{self._base_url}/{self._key_id}/{signature}/{expires}/{holder}/{path}"

    def _hash(self, expires: int, holder: str, stream: str) -> str:
        signed = f"{expires}/{holder}/{stream} {self._secret}".encode()
        # MD5 is nginx's secure_link scheme, not a choice made here (docs/security.md).
        digest = hashlib.md5(signed).digest()  # noqa: S324
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def path_at_origin(stream_url: str, origin_base_url: str) -> str | None:
    """``stream_url``'s ``{stream}/{file}`` under the origin's base URL, or None if elsewhere.

    An event with signed playback names its stream by the playlist's plain
    address at the origin (``{origin_base_url}/{stream}/index.m3u8``), so the
    organiser writes one address they can check, and the service signs only
    what is at the origin it holds the key of.
    """
    base = origin_base_url.rstrip("/") + "/"
    if not stream_url.startswith(base):
        return None
    path = stream_url.removeprefix(base)
    return path if stream_file_problem(path) is None else None


def stream_file_problem(path: str) -> str | None:
    """What keeps ``path`` from being ``{stream}/{file}`` as the origin serves it; None if it is."""
    stream, separator, file = path.partition("/")
    if STREAM_NAME.fullmatch(stream) is None or not separator:
        return f"not a stream's file: {path!r} (expected {{stream}}/{{file}})"
    if FILE_PATH.fullmatch(file) is None:
        return f"not a file name the origin serves in a stream: {file!r}"
    return None


def signed_until(now: datetime, closes_at: datetime, lifetime: timedelta) -> datetime:
    """When a URL signed at ``now`` expires: after ``lifetime``, never after the link's window."""
    return min(now + lifetime, closes_at)

"""Signed playback URLs in nginx's secure_link scheme: what is signed, expiry, tampering, shape.

That nginx itself accepts these URLs (and refuses tampered and expired
ones) is proved against a real nginx in tests/integration/test_hls_origin.py.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit

import pytest

from ilmo_streaming.playback import PlaybackSigner, SecureLinkSigner

SECRET = "k" * 8 + "0123456789abcdef0123456789abcdef"
BASE = "https://stream.example.fi/hls"
EXPIRES_AT = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
EXPIRES = 1772791200  # EXPIRES_AT in seconds since the epoch
H = "h0lder"  # a personal link's opaque label


def nginx_hash(text: str) -> str:
    """MD5 in base64url without padding, as nginx's documentation computes it with openssl."""
    digest = hashlib.md5(text.encode()).digest()  # noqa: S324 - nginx's scheme
    return base64.b64encode(digest).decode().replace("+", "-").replace("/", "_").rstrip("=")


def test_the_reference_hash_is_the_one_of_nginx_documentation() -> None:
    # ngx_http_secure_link_module's example: the link /s/link for 127.0.0.1, expiring
    # 2147483647, with the expression "$secure_link_expires$uri$remote_addr secret".
    assert nginx_hash("2147483647/s/link127.0.0.1 secret") == "_e4Nc3iduzkWRm01TBBNYw"


def test_a_playlist_url_carries_key_id_and_the_hash_of_expiry_holder_stream_and_secret() -> None:
    signer: PlaybackSigner = SecureLinkSigner(BASE, SECRET, key_id="k2")
    url = signer.sign(H, "seminar-2026/index.m3u8", EXPIRES_AT)
    assert EXPIRES_AT.timestamp() == EXPIRES
    md5 = nginx_hash(f"{EXPIRES}/{H}/seminar-2026 {SECRET}")
    assert url == f"{BASE}/k2/{md5}/{EXPIRES}/{H}/seminar-2026/index.m3u8"
    assert len(md5) == 22


def test_a_trailing_slash_of_the_base_url_makes_no_difference() -> None:
    assert SecureLinkSigner(f"{BASE}/", SECRET).sign(H, "s/index.m3u8", EXPIRES_AT) == (
        SecureLinkSigner(BASE, SECRET).sign(H, "s/index.m3u8", EXPIRES_AT)
    )


def test_segments_and_variant_playlists_resolve_inside_the_signed_prefix() -> None:
    playlist = SecureLinkSigner(BASE, SECRET).sign(H, "seminar/index.m3u8", EXPIRES_AT)
    prefix = playlist.removesuffix("index.m3u8")
    assert urljoin(playlist, "index3.ts") == f"{prefix}index3.ts"
    assert urljoin(playlist, "720p/index.m3u8") == f"{prefix}720p/index.m3u8"
    # Every file of the stream has the same signature: the hash covers the folder.
    assert SecureLinkSigner(BASE, SECRET).sign(H, "seminar/index3.ts", EXPIRES_AT) == (
        f"{prefix}index3.ts"
    )


def test_the_expiry_is_whole_seconds_never_later_than_asked() -> None:
    signer = SecureLinkSigner(BASE, SECRET)
    url = signer.sign(H, "s/index.m3u8", EXPIRES_AT + timedelta(milliseconds=999))
    assert url == signer.sign(H, "s/index.m3u8", EXPIRES_AT)
    assert urlsplit(url).path.split("/")[4] == str(EXPIRES)


def test_the_same_instant_in_another_time_zone_signs_the_same() -> None:
    helsinki_winter = timezone(timedelta(hours=2))
    signer = SecureLinkSigner(BASE, SECRET)
    assert signer.sign(H, "s/index.m3u8", EXPIRES_AT.astimezone(helsinki_winter)) == (
        signer.sign(H, "s/index.m3u8", EXPIRES_AT)
    )


def test_another_expiry_holder_stream_or_secret_gives_another_hash() -> None:
    def md5_of(url: str) -> str:
        return urlsplit(url).path.split("/")[3]

    signer = SecureLinkSigner(BASE, SECRET)
    first = md5_of(signer.sign(H, "seminar/index.m3u8", EXPIRES_AT))
    assert md5_of(signer.sign(H, "seminar/index.m3u8", EXPIRES_AT + timedelta(seconds=1))) != first
    assert md5_of(signer.sign(H, "seminaR/index.m3u8", EXPIRES_AT)) != first
    assert md5_of(signer.sign("other", "seminar/index.m3u8", EXPIRES_AT)) != first
    assert md5_of(
        SecureLinkSigner(BASE, SECRET + "x").sign(H, "seminar/index.m3u8", EXPIRES_AT)
    ) != (first)


@pytest.mark.parametrize(
    "path",
    [
        "seminar",
        "seminar/",
        "/seminar/index.m3u8",
        "../seminar/index.m3u8",
        "seminar/../other/index.m3u8",
        "seminar/./index.m3u8",
        "seminar/.hidden",
        "seminar//index.m3u8",
        "semi nar/index.m3u8",
        "seminar/index.m3u8?x=1",
        "seminär/index.m3u8",
    ],
)
def test_paths_the_origin_would_not_serve_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="stream"):
        SecureLinkSigner(BASE, SECRET).sign(H, path, EXPIRES_AT)


def test_a_time_without_zone_or_before_the_epoch_is_refused() -> None:
    signer = SecureLinkSigner(BASE, SECRET)
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign(H, "s/index.m3u8", EXPIRES_AT.replace(tzinfo=None))
    with pytest.raises(ValueError, match="epoch"):
        signer.sign(H, "s/index.m3u8", datetime(1970, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "secret", ["", "short", "x" * 31, "x" * 31 + "$", "x" * 31 + '"', "x" * 31 + " "]
)
def test_a_short_secret_or_one_nginx_could_not_quote_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        SecureLinkSigner(BASE, secret)


@pytest.mark.parametrize(
    "base", ["stream.example.fi/hls", "ftp://stream.example.fi/hls", "https://s.fi/hls?x=1"]
)
def test_an_origin_that_is_no_http_url_is_refused(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        SecureLinkSigner(base, SECRET)


@pytest.mark.parametrize("holder", ["", "a/b", "a b", "ä", "x" * 65, ".."])
def test_a_holder_that_is_no_opaque_label_is_refused(holder: str) -> None:
    with pytest.raises(ValueError, match="holder"):
        SecureLinkSigner(BASE, SECRET).sign(holder, "s/index.m3u8", EXPIRES_AT)


@pytest.mark.parametrize("key_id", ["", "a/b", "x" * 17, "ä"])
def test_a_key_id_the_origin_could_not_match_is_refused(key_id: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        SecureLinkSigner(BASE, SECRET, key_id)

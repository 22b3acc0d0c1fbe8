"""The HLS origin lets signed playback URLs through and nothing else (issue 20).

A real nginx with ``secure_link`` (deploy/local/hls-origin.sh) serves a live
ffmpeg stream (deploy/local/hls-test-stream.sh), both from the fixtures of
``tests.support.hls``; the URLs come from the streaming service's signer
(``ilmo_streaming.playback``). Whatever is
refused is refused by nginx with 403: a wrong signature, another stream, an
expired URL, another link's holder, an unknown key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import pytest

from ilmo_streaming.playback import SecureLinkSigner
from tests.support.hls import HlsOrigin, running_origin
from tests.support.polling import eventually_sync

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
TS_PACKET = 188
TS_SYNC = 0x47


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


HOLDER = "link-a"
# Where each part is in a signed URL's path: /hls/<key id>/<md5>/<expires>/<holder>/<stream>/…
KEY, MD5, EXPIRES, HOLDER_PART, STREAM = 2, 3, 4, 5, 6


def playlist_url(origin: HlsOrigin, stream: str, expires_at: datetime | None = None) -> str:
    return origin.signer().sign(HOLDER, f"{stream}/index.m3u8", expires_at or in_an_hour())


def with_path_part(url: str, index: int, value: str) -> str:
    """``url`` with the ``index``-th part of its path (``/hls/<key id>/<md5>/…``) replaced."""
    parts = urlsplit(url)
    path = parts.path.split("/")
    path[index] = value
    return urlunsplit(parts._replace(path="/".join(path)))


def segments_of(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def assert_media_segment(body: bytes) -> None:
    """MPEG-TS (sync byte every 188 bytes) or fragmented MP4 (a box type at offset 4)."""
    assert body, "an empty segment"
    if body[4:8] in (b"ftyp", b"styp", b"moof"):
        return
    assert len(body) % TS_PACKET == 0, f"{len(body)} bytes is no whole number of TS packets"
    assert all(body[at] == TS_SYNC for at in range(0, len(body), TS_PACKET)), "not MPEG-TS"


def test_a_signed_playlist_url_answers_the_live_playlist(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    answer = http.get(playlist_url(hls_origin, hls_stream))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == PLAYLIST_TYPE
    assert answer.headers["cache-control"] == "no-cache"
    playlist = answer.text
    assert playlist.startswith("#EXTM3U\n")
    assert "#EXT-X-TARGETDURATION:" in playlist
    assert "#EXTINF:" in playlist
    assert segments_of(playlist)


def test_a_segment_relative_to_the_signed_playlist_is_served_under_the_same_signature(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    url = playlist_url(hls_origin, hls_stream)
    playlist = http.get(url)
    assert playlist.status_code == 200, playlist.text
    # The newest segment: older ones leave the playlist and are deleted as the stream goes on.
    segment_url = urljoin(url, segments_of(playlist.text)[-1])
    assert segment_url.startswith(url.removesuffix("index.m3u8"))
    segment = http.get(segment_url)
    assert segment.status_code == 200, segment.text
    assert_media_segment(segment.content)


def test_a_tampered_signature_gets_403(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    url = playlist_url(hls_origin, hls_stream)
    md5 = urlsplit(url).path.split("/")[MD5]
    flipped = ("B" if md5[0] == "A" else "A") + md5[1:]
    for tampered in (
        with_path_part(url, MD5, flipped),
        with_path_part(url, MD5, md5[:-1]),
        with_path_part(url, MD5, "not-a-hash"),
        # The signature of another expiry: the hash covers the expiry.
        with_path_part(url, EXPIRES, str(int(urlsplit(url).path.split("/")[EXPIRES]) + 60)),
        # Another link's holder: the hash covers the holder, so a URL is bound to its link.
        with_path_part(url, HOLDER_PART, "link-b"),
        # A key id the origin does not know: no secret, so never a valid signature.
        with_path_part(url, KEY, "9"),
    ):
        assert http.get(tampered).status_code == 403, tampered
    assert http.get(urljoin(with_path_part(url, MD5, flipped), "index0.ts")).status_code == 403


def test_a_url_signed_with_another_secret_gets_403(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    other = SecureLinkSigner(hls_origin.base_url, "x" * 64)
    url = other.sign(HOLDER, f"{hls_stream}/index.m3u8", in_an_hour())
    assert http.get(url).status_code == 403


def test_a_correctly_signed_but_expired_url_gets_403(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    expired = playlist_url(hls_origin, hls_stream, datetime.now(UTC) - timedelta(seconds=5))
    assert http.get(expired).status_code == 403


def test_a_url_that_worked_stops_working_when_it_expires(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    url = playlist_url(hls_origin, hls_stream, datetime.now(UTC) + timedelta(seconds=3))
    assert http.get(url).status_code == 200
    eventually_sync(
        lambda: http.get(url).status_code == 403,
        what="the signed URL refused after its expiry",
        timeout=10,
        interval=0.25,
    )


def test_another_streams_url_with_this_streams_signature_gets_403(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    url = playlist_url(hls_origin, hls_stream)
    other = hls_origin.streams / "closed-briefing"
    other.mkdir()
    (other / "index.m3u8").write_text((hls_origin.streams / hls_stream / "index.m3u8").read_text())
    # Signed for itself, the other stream is served: the 403 below is the signature's doing.
    assert http.get(playlist_url(hls_origin, "closed-briefing")).status_code == 200
    assert http.get(with_path_part(url, STREAM, "closed-briefing")).status_code == 403


def test_nothing_outside_the_signed_form_is_served(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    assert http.get(f"{hls_origin.base_url}/{hls_stream}/index.m3u8").status_code == 403
    assert http.get(f"{hls_origin.url}/{hls_stream}/index.m3u8").status_code == 404


def test_the_scripts_signed_url_is_accepted_too(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    # `hls-origin.sh url` signs with openssl, as nginx's documentation does.
    url = hls_origin.script("url", hls_stream, "60").strip()
    assert url.startswith(f"{hls_origin.base_url}/")
    assert http.get(url).status_code == 200


def test_during_a_key_rotation_both_keys_are_accepted_and_only_they(
    http: httpx.Client, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    """The origin knows the new key and, for one URL lifetime, the previous one by its id."""
    previous = hls_origin.signer()
    with running_origin(key_id="2", previous_key=(hls_origin.key_id, hls_origin.secret)) as new:
        stream = new.streams / hls_stream
        stream.mkdir()
        (stream / "index.m3u8").write_text(
            (hls_origin.streams / hls_stream / "index.m3u8").read_text()
        )
        path = f"{hls_stream}/index.m3u8"
        signed_before = previous.sign(HOLDER, path, in_an_hour()).replace(
            hls_origin.base_url, new.base_url
        )
        assert http.get(signed_before).status_code == 200
        assert http.get(new.signer().sign(HOLDER, path, in_an_hour())).status_code == 200
        # The previous key's secret under the new key's id is no signature.
        assert http.get(with_path_part(signed_before, KEY, "2")).status_code == 403
        assert http.get(with_path_part(signed_before, KEY, "3")).status_code == 403

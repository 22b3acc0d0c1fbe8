"""A closed stream, end to end: from the emailed watch link to the video, and revocation.

Real parts only: the four services as processes with a playback key, a test
SMTP server, and the HLS origin of the project's own scripts (Debian's nginx
with ``secure_link``) serving a live ffmpeg stream. A remote registrant
follows the link in their mail to the player page and gets the playlist and
a segment through nginx; then they cancel. From then on their link and its renewal answer
410, and the URL they were given stops working at its expiry, which nginx
enforces with 403, as it does for a tampered URL.
"""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pymongo import AsyncMongoClient

from ilmo_shared.storage import Document
from tests.support.browser import PageOpener, assert_accessible
from tests.support.hls import HlsOrigin
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.mail_links import watch_link_in
from tests.support.polling import eventually
from tests.support.registration import ADMIN, NOTICE_VERSION, starting_soon
from tests.support.smtp import services_with_mail

# Short, so that the test sees a URL issued before the cancellation expire.
URL_SECONDS = 10
# Generous: the machine may be busy; the waits end as soon as the thing holds.
PLAYBACK_TIMEOUT = 60
PLAYING = "() => document.getElementById('player').currentTime > %s"
ACCESS_ENDED = "() => document.getElementById('player-status').dataset.message === 'access-ended'"


def playback_environment(origin: HlsOrigin) -> dict[str, str]:
    """What a deployment sets for streaming to sign URLs that ``origin`` checks."""
    return {
        "ILMO_PLAYBACK_ORIGIN_URL": origin.base_url,
        "ILMO_PLAYBACK_SECRET": origin.secret,
        "ILMO_PLAYBACK_KEY_ID": origin.key_id,
        "ILMO_PLAYBACK_URL_SECONDS": str(URL_SECONDS),
    }


def newest_segment(playlist_url: str, playlist: str) -> str:
    """The newest segment's URL: older ones leave a live playlist and are deleted."""
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert segments, playlist
    return urljoin(playlist_url, segments[-1])


def playlist_on(page: str) -> str:
    """The signed playlist URL the player page gives its script."""
    found = re.search(r'data-playlist-url="([^"]+)"', page)
    assert found is not None, page
    return html.unescape(found.group(1))


def tampered(url: str) -> str:
    """``url`` with one character of its signature changed."""
    parts = urlsplit(url)
    path = parts.path.split("/")
    md5 = path[3]  # /hls/<key id>/<md5>/…
    path[3] = ("B" if md5[0] == "A" else "A") + md5[1:]
    return urlunsplit(parts._replace(path="/".join(path)))


async def test_a_cancelled_registrant_loses_the_video_itself(
    infrastructure: IsolatedInfrastructure,
    mongo: AsyncMongoClient[Document],
    hls_origin: HlsOrigin,
    hls_stream: str,
    page_at: PageOpener,
) -> None:
    playlist_at_origin = f"{hls_origin.base_url}/{hls_stream}/index.m3u8"
    event = {
        **starting_soon("closed", playlist_at_origin),
        "stream_playback": "signed_hls",
    }
    with services_with_mail(infrastructure, playback_environment(hls_origin)) as (
        smtp,
        services,
    ):
        async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as api:
            created = await api.post("/api/v1/events", json=event, headers=ADMIN)
            assert created.status_code == 201, created.text
            assert created.json()["stream_playback"] == "signed_hls"
            registered = await api.post(
                f"/api/v1/events/{event['id']}/registrations",
                json={
                    "first_name": "Aino",
                    "last_name": "Virtanen",
                    "email": f"{uuid.uuid4().hex[:8]}@example.fi",
                    "attendance": "remote",
                    "language": "fi",
                    "privacy_notice_version": NOTICE_VERSION,
                },
            )
            assert registered.status_code == 202, registered.text
            receipt = registered.json()
            [mail] = await smtp.wait_for(
                1, registration_id=receipt["id"], kind="stream_link", timeout=60
            )
            link = watch_link_in(mail)

            async with httpx.AsyncClient(timeout=10) as viewer:
                # The emailed link opens the player page, which plays a URL signed for this
                # link at the origin (the page itself in a browser: test_player_in_browser.py).
                opened = await viewer.get(link)
                assert opened.status_code == 200, opened.text
                assert opened.headers["cache-control"] == "no-store"
                assert hls_origin.url in opened.headers["content-security-policy"]
                signed = playlist_on(opened.text)
                assert signed.startswith(f"{hls_origin.base_url}/{hls_origin.key_id}/")
                assert signed.endswith(f"/{hls_stream}/index.m3u8")
                assert signed != playlist_at_origin
                playlist = await viewer.get(signed)
                assert playlist.status_code == 200, playlist.text
                assert playlist.text.startswith("#EXTM3U")
                segment = await viewer.get(newest_segment(signed, playlist.text))
                assert segment.status_code == 200
                assert segment.content

                # In a browser the page plays the stream from the origin.
                page = await page_at(link, width=375)
                # No autoplay: a keyboard user focuses the video and presses Space. A live
                # stream starts near its edge, so "playing" is time advancing from there.
                await page.locator("video").focus()
                await page.keyboard.press("Space")
                started: float = await page.eval_on_selector("video", "v => v.currentTime")
                await page.wait_for_function(
                    PLAYING % (started + 1), timeout=PLAYBACK_TIMEOUT * 1000
                )
                await assert_accessible(page, "the player page of a closed stream, playing")

                # A player renews through the link, and a player of one's own is redirected.
                renewed = await viewer.get(f"{link}/playback")
                assert renewed.status_code == 200, renewed.text
                assert renewed.headers["cache-control"] == "no-store"
                assert (await viewer.get(renewed.json()["playlist_url"])).status_code == 200
                own_player = await viewer.get(f"{link}/playlist.m3u8")
                assert own_player.status_code == 302
                assert (await viewer.get(own_player.headers["location"])).status_code == 200

                # Nothing but the signature opens the stream.
                assert (await viewer.get(tampered(signed))).status_code == 403
                assert (await viewer.get(playlist_at_origin)).status_code == 403

                cancelled = await api.delete(
                    f"/api/v1/registrations/{receipt['id']}",
                    headers={"Authorization": f"Bearer {receipt['manage_token']}"},
                )
                assert cancelled.status_code in (200, 204), cancelled.text

                async def link_revoked() -> bool:
                    return (await viewer.get(link)).status_code == 410

                await eventually(link_revoked, what="the cancelled link answering 410")
                for asked in (f"{link}/playback", f"{link}/playlist.m3u8"):
                    assert (await viewer.get(asked)).status_code == 410, asked
                # The open page's next renewal gets 410, and it tells the viewer.
                await page.wait_for_function(ACCESS_ENDED, timeout=URL_SECONDS * 3 * 1000)

                # What was handed out before the cancellation runs out on its own.
                async def expired() -> bool:
                    return (await viewer.get(signed)).status_code == 403

                await eventually(
                    expired,
                    what="the URL issued before the cancellation refused after its expiry",
                    timeout=URL_SECONDS + 10,
                )

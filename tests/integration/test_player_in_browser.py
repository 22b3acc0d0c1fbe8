"""The player page in Chromium, playing a live stream through nginx's secure_link (issue 20).

Real parts only: Debian's Chromium (``tests.support.browser``), the HLS
origin with a live ffmpeg stream (``tests.support.hls``: nginx refusing any
URL whose signature or expiry is wrong), the vendored hls.js and
``player.js``. The watch link's two routes are stood in for by a small
FastAPI app served by uvicorn on a free port, because the real routes belong
to the streaming service's API: ``GET /watch/t`` answers
``player.render`` with ``player.content_security_policy`` (so the policy is
the one the browser enforces), ``GET /watch/t/playback`` a fresh signed URL
each time, or 410 once the test revokes the link.

Signed URLs live a few seconds here (``LIFETIME``), so the page must renew
for the video to play on past the first URL's expiry, and a revoked viewer's
video must stop at the latest when the last URL runs out.

Debian's Chromium plays the H.264/AAC test stream through Media Source
Extensions (checked: ``MediaSource.isTypeSupported('video/mp4;
codecs="avc1.42E01E,mp4a.40.2"')`` is true), so the tests watch the video's
``currentTime`` advance, not just requests.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from playwright.async_api import ConsoleMessage, Page
from playwright.async_api import Response as BrowserResponse

from ilmo_event_contracts import LocalizedText
from ilmo_streaming.player import PlayerView, content_security_policy, render
from ilmo_streaming.player_assets import player_assets
from tests.support.browser import PageOpener, assert_accessible, screenshot
from tests.support.hls import HlsOrigin, live_stream
from tests.support.polling import eventually
from tests.support.processes import free_port

TITLE = LocalizedText(fi="Suljettu tiedotustilaisuus", sv="Slutet infomöte", en="Closed briefing")
# How long a signed URL works, and when the page asks for the next one.
LIFETIME = timedelta(seconds=8)
RENEW_AFTER_SECONDS = 3
# Generous: the machine may be busy with other tests; the waits end as soon as the thing holds.
PLAYBACK_TIMEOUT = 60.0
PLAYING = "() => { const v = document.getElementById('player'); return v.currentTime > %s; }"
ACCESS_ENDED = {
    "fi": "Oikeutesi katsoa tätä lähetystä on päättynyt.",
    "sv": "Din rätt att se den här sändningen har upphört.",
    "en": "Your access to this stream has ended.",
}
NOT_VALID_NOW = {
    "fi": "Tällä linkillä ei voi katsoa lähetystä nyt.",
    "sv": "Med den här länken kan du inte se sändningen nu.",
    "en": "This link cannot be used to watch the stream now.",
}
NOT_STARTED = {
    "fi": "Lähetys ei ole vielä alkanut. Sivu yrittää uudelleen muutaman sekunnin välein.",
    "sv": "Sändningen har inte börjat ännu. Sidan försöker igen med några sekunders mellanrum.",
    "en": "The stream has not started yet. This page tries again every few seconds.",
}


def signed_playlist(origin: HlsOrigin, stream: str, expires_at: datetime) -> str:
    """A signed URL of ``stream``'s playlist; the one place that knows the signer's arguments."""
    return origin.signer().sign("viewer", f"{stream}/index.m3u8", expires_at)


def base_of(url: str) -> str:
    """What player.js swaps: the URL without its last path segment."""
    return url[: url.rindex("/") + 1]


@dataclass
class WatchLink:
    """What the stand-in watch link hands out, and what it answers the renewal with."""

    origin: HlsOrigin
    stream: str
    renewal_status: int = 200
    # Every playlist URL handed out, the page's first, with its expiry.
    issued: list[tuple[str, datetime]] = field(default_factory=list)
    renewals: int = 0

    def issue(self) -> str:
        expires_at = datetime.now(UTC) + LIFETIME
        url = signed_playlist(self.origin, self.stream, expires_at)
        self.issued.append((url, expires_at))
        return url

    def renewed_bases(self) -> list[str]:
        return [base_of(url) for url, _ in self.issued[1:]]


def player_app(link: WatchLink) -> FastAPI:
    app = FastAPI()
    app.include_router(player_assets())

    @app.get("/watch/t")
    async def watch() -> Response:
        playlist_url = link.issue()
        view = PlayerView(TITLE, playlist_url, "/watch/t/playback", RENEW_AFTER_SECONDS)
        return HTMLResponse(
            render(view),
            headers={
                "Content-Security-Policy": content_security_policy(playlist_url),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.get("/watch/t/playback")
    async def playback() -> Response:
        link.renewals += 1
        if link.renewal_status != 200:
            return Response(status_code=link.renewal_status)
        playlist_url = link.issue()
        return JSONResponse(
            {
                "playlist_url": playlist_url,
                "expires_at": link.issued[-1][1].isoformat(),
                "renew_after_seconds": RENEW_AFTER_SECONDS,
            },
            headers={"Cache-Control": "no-store"},
        )

    return app


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free port in this event loop; its address."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        if serving.done():
            serving.result()  # raises what stopped it
        return server.started

    try:
        await eventually(started, what="uvicorn serving the player page", timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@dataclass
class Traffic:
    """What the page fetched (address, status) and what the console complained about."""

    responses: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def answered(response: BrowserResponse) -> None:
            self.responses.append((response.url, response.status))

        def logged(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("response", answered)
        page.on("console", logged)

    def matching(self, check: Callable[[str, int], bool]) -> list[tuple[str, int]]:
        return [(url, status) for url, status in self.responses if check(url, status)]


async def opened(page_at: PageOpener, url: str, traffic: Traffic, width: int = 375) -> Page:
    """The page at ``url``, with ``traffic`` watching from its first request on."""
    page = await page_at("about:blank", width=width)
    traffic.watch(page)
    await page.goto(url)
    return page


async def start_playing(page: Page) -> None:
    """As a keyboard user does it: focus the video, press Space (the native controls' shortcut)."""
    await page.locator("video").focus()
    await page.keyboard.press("Space")


async def status_texts(page: Page) -> dict[str, str]:
    """What the status region says, by language."""
    texts: dict[str, str] = await page.eval_on_selector_all(
        "#player-status [lang]",
        "nodes => Object.fromEntries(nodes.map(n => [n.lang, n.textContent.trim()]))",
    )
    return texts


async def shows(page: Page, expected: dict[str, str]) -> bool:
    return await status_texts(page) == expected


async def test_the_video_plays_on_past_the_first_urls_expiry_and_stops_for_a_revoked_viewer(
    page_at: PageOpener, hls_origin: HlsOrigin, hls_stream: str
) -> None:
    link = WatchLink(hls_origin, hls_stream)
    traffic = Traffic()
    async with served(player_app(link)) as url:
        page = await opened(page_at, f"{url}/watch/t", traffic)
        await assert_accessible(page, "the player page, loading")
        await start_playing(page)
        await page.wait_for_function(PLAYING % 1, timeout=PLAYBACK_TIMEOUT * 1000)

        # Past the first URL's expiry (nginx refuses it from then on), the video plays on.
        first_expiry = math.floor(link.issued[0][1].timestamp())
        await page.wait_for_function(
            f"() => Date.now() / 1000 > {first_expiry + 2}", timeout=PLAYBACK_TIMEOUT * 1000
        )
        now_at: float = await page.eval_on_selector("video", "v => v.currentTime")
        await page.wait_for_function(PLAYING % (now_at + 2), timeout=PLAYBACK_TIMEOUT * 1000)
        assert link.renewals >= 2

        async def renewed_segments() -> list[tuple[str, int]]:
            return traffic.matching(
                lambda u, s: (
                    s == 200
                    and u.endswith(".ts")
                    and any(u.startswith(base) for base in link.renewed_bases())
                )
            )

        await eventually(renewed_segments, what="a segment fetched with a renewed signature")
        assert not traffic.matching(lambda _u, s: s >= 400), "refused before any revocation"
        await assert_accessible(page, "the player page, playing")

        # Revoked: the renewal answers 410, the page says so, and the origin refuses the
        # last URL once it expires.
        link.renewal_status = 410
        await eventually(
            lambda: shows(page, ACCESS_ENDED),
            what="the access-ended message in fi/sv/en",
            timeout=RENEW_AFTER_SECONDS * 4,
        )
        last_base = base_of(link.issued[-1][0])

        async def refused() -> list[tuple[str, int]]:
            return traffic.matching(lambda u, s: s == 403 and u.startswith(last_base))

        await eventually(
            refused,
            what="nginx refusing the last URL after its expiry",
            timeout=LIFETIME.total_seconds() * 3,
        )
        assert await status_texts(page) == ACCESS_ENDED
        await assert_accessible(page, "the player page, access ended")

        # Reflows to 320 px without scrolling sideways; a phone's and a laptop's screenshots.
        for width in (320, 375, 1280):
            await page.set_viewport_size({"width": width, "height": 800})
            scroll_width: int = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{scroll_width} px wide at {width} px"
            if width != 320:
                await screenshot(page, f"player-access-ended-{width}")
    assert not [e for e in traffic.errors if "Content Security Policy" in e], traffic.errors


async def test_a_stream_not_started_is_tried_again_until_it_plays_and_a_refused_link_is_told(
    page_at: PageOpener, hls_origin: HlsOrigin
) -> None:
    link = WatchLink(hls_origin, "starts-later")
    traffic = Traffic()
    async with served(player_app(link)) as url:
        page = await opened(page_at, f"{url}/watch/t", traffic)
        await eventually(
            lambda: shows(page, NOT_STARTED),
            what="the not-started message in fi/sv/en",
            timeout=PLAYBACK_TIMEOUT,
        )
        assert traffic.matching(lambda u, s: s == 404 and u.endswith("/index.m3u8"))
        await assert_accessible(page, "the player page, not started")
        await screenshot(page, "player-not-started-375")
        # The stream starts (entered in a thread: it waits for ffmpeg's first segment).
        with ExitStack() as stream:
            await asyncio.to_thread(
                stream.enter_context, live_stream(hls_origin, "starts-later", seconds=40)
            )
            await start_playing(page)
            await page.wait_for_function(PLAYING % 1, timeout=PLAYBACK_TIMEOUT * 1000)
            assert await status_texts(page) == {}
            # The watch link is not valid now (403): the page says so and asks no more.
            link.renewal_status = 403
            await eventually(
                lambda: shows(page, NOT_VALID_NOW),
                what="the not-valid-now message in fi/sv/en",
                timeout=RENEW_AFTER_SECONDS * 4,
            )
    assert not [e for e in traffic.errors if "Content Security Policy" in e], traffic.errors

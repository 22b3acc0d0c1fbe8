"""The player page of signed HLS playback: what it says, what it hands its script, its policy.

Rendering only (``ilmo_streaming.player``) and the router of its two scripts
(``ilmo_streaming.player_assets``), in-process; the page in a real browser
against a real origin is ``tests/integration/test_player_in_browser.py``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib.resources import files

import httpx
import pytest
from fastapi import FastAPI

from ilmo_event_contracts import LocalizedText
from ilmo_streaming.player import (
    PlayerView,
    content_security_policy,
    playlist_origin,
    render,
)
from ilmo_streaming.player_assets import player_assets

PLAYLIST = "https://stream.example.fi:8443/hls/aBc-_1/1790000000/seminar/index.m3u8"
HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>&amp;'
VIEW = PlayerView(
    title=LocalizedText(fi="Tekoäly hallinnossa", sv="AI i förvaltningen", en="AI in government"),
    playlist_url=PLAYLIST,
    renewal_url="/watch/Tok3n_x/playback",
    renew_after_seconds=90,
)


class Elements(HTMLParser):
    """The start tags of a page with their attributes, and the text inside each element.

    ``<template>`` contents count as elements too: they are what the script
    shows.
    """

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.texts: list[tuple[str, dict[str, str | None], str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in ("meta", "link"):
            self._open.append((tag, attributes, []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, attributes, parts = self._open.pop()
            self.texts.append((name, attributes, "".join(parts).strip()))
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for _name, _attributes, parts in self._open:
            parts.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attributes for name, attributes in self.tags if name == tag]

    def text_of(self, tag: str) -> list[str]:
        return [text for name, _attributes, text in self.texts if name == tag]

    def in_language(self, language: str) -> list[str]:
        return [
            text for _name, attributes, text in self.texts if attributes.get("lang") == language
        ]


def test_the_title_is_escaped_everywhere_and_no_script_is_inline() -> None:
    html = render(
        PlayerView(
            title=LocalizedText(fi=HOSTILE, sv=HOSTILE + "sv", en=HOSTILE + "en"),
            playlist_url=PLAYLIST,
            renewal_url='/watch/"><script>x/playback',
            renew_after_seconds=60,
        )
    )
    assert "<script>alert" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    page = Elements(html)
    assert page.text_of("h1") == [HOSTILE]
    # Only the two scripts of the service, by address; nothing to run inside the page.
    scripts = page.named("script")
    assert [script["src"] for script in scripts] == [
        "/player/assets/hls.min.js",
        "/player/assets/player.js",
    ]
    assert page.text_of("script") == ["", ""]
    assert not any(name.startswith("on") for _tag, a in page.tags for name in a)


def test_one_h1_in_finnish_with_the_swedish_and_english_titles_marked() -> None:
    page = Elements(render(VIEW))
    assert page.named("html") == [{"lang": "fi"}]
    assert page.text_of("h1") == ["Tekoäly hallinnossa"]
    assert "AI i förvaltningen" in page.in_language("sv")
    assert "AI in government" in page.in_language("en")


def test_a_title_only_in_finnish_has_no_subtitles() -> None:
    html = render(
        PlayerView(
            title=LocalizedText(fi="Tiedotustilaisuus"),
            playlist_url=PLAYLIST,
            renewal_url="/watch/t/playback",
            renew_after_seconds=60,
        )
    )
    assert 'class="subtitle"' not in html


def test_the_video_carries_the_urls_as_data_attributes_and_is_named_by_the_title() -> None:
    page = Elements(render(VIEW))
    [video] = page.named("video")
    assert video["data-playlist-url"] == PLAYLIST
    assert video["data-renewal-url"] == "/watch/Tok3n_x/playback"
    assert video["data-renew-after-seconds"] == "90"
    assert "controls" in video
    assert "autoplay" not in video
    assert video["aria-labelledby"] == "player-title"
    assert page.named("h1") == [{"id": "player-title"}]


def test_the_status_region_is_polite_and_every_message_is_in_three_languages() -> None:
    page = Elements(render(VIEW))
    [region] = [a for a in page.named("div") if a.get("id") == "player-status"]
    assert region["role"] == "status"
    assert region["aria-live"] == "polite"
    templates = [a["id"] for a in page.named("template")]
    assert templates == [
        "player-message-loading",
        "player-message-not-started",
        "player-message-ended",
        "player-message-access-ended",
        "player-message-not-valid-now",
        "player-message-unsupported",
    ]
    fi, sv, en = (page.in_language(language) for language in ("fi", "sv", "en"))
    assert "Oikeutesi katsoa tätä lähetystä on päättynyt." in fi
    assert "Din rätt att se den här sändningen har upphört." in sv
    assert "Your access to this stream has ended." in en
    assert "Lähetys ei ole vielä alkanut. Sivu yrittää uudelleen muutaman sekunnin välein." in fi


def test_without_javascript_the_page_says_so_in_three_languages_and_links_the_playlist() -> None:
    html = render(VIEW)
    noscript = html[html.index("<noscript>") : html.index("</noscript>")]
    page = Elements(noscript)
    assert [a["href"] for a in page.named("a")] == [PLAYLIST]
    assert {a["lang"] for a in page.named("p") if "lang" in a} == {"fi", "sv", "en"}
    assert "JavaScript" in " ".join(page.in_language("sv"))


def test_the_policy_allows_the_playlists_origin_and_no_inline_script() -> None:
    policy = content_security_policy(PLAYLIST)
    directives = {}
    for directive in policy.split(";"):
        name, _, sources = directive.strip().partition(" ")
        directives[name] = sources
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in policy
    assert directives["connect-src"] == "'self' https://stream.example.fi:8443"
    assert directives["media-src"] == "'self' blob: https://stream.example.fi:8443"
    assert directives["worker-src"] == "blob:"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'none'"


def test_the_policy_allows_exactly_the_inlined_stylesheet_by_its_hash() -> None:
    html = render(VIEW)
    [style] = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    digest = hashlib.sha256(style.encode()).digest()
    expected = f"style-src 'sha256-{base64.b64encode(digest).decode()}'"
    assert expected in content_security_policy(PLAYLIST)


@pytest.mark.parametrize(
    "url",
    [
        "/hls/x/index.m3u8",
        "ftp://stream.example.fi/x/index.m3u8",
        "https://user:pw@stream.example.fi/x/index.m3u8",
        "https://stream.example.fi;script-src */x/index.m3u8",
        "https://stream example.fi/x",
    ],
)
def test_a_playlist_url_that_names_no_plain_origin_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|origin"):
        playlist_origin(url)


@pytest.fixture
async def assets() -> AsyncIterator[httpx.AsyncClient]:
    """An app with nothing but the assets router, and a client of it."""
    app = FastAPI()
    app.include_router(player_assets())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://streaming.test") as client:
        yield client


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("/player/assets/player.js", ("player.js",)),
        ("/player/assets/hls.min.js", ("vendor", "hls.js", "hls.min.js")),
    ],
)
async def test_the_assets_router_serves_the_two_scripts(
    assets: httpx.AsyncClient, path: str, parts: tuple[str, ...]
) -> None:
    answer = await assets.get(path)
    assert answer.status_code == 200
    assert answer.content == files("ilmo_streaming").joinpath("static", *parts).read_bytes()
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/player/assets/player.css",
        "/player/assets/LICENSE",
        "/player/assets/vendor/hls.js/hls.min.js",
        "/player/assets/../player.py",
        "/player/assets/%2e%2e/player.py",
        "/player/assets/",
        "/player/assets/hls.min.js.map",
    ],
)
async def test_the_assets_router_answers_nothing_else(assets: httpx.AsyncClient, path: str) -> None:
    assert (await assets.get(path)).status_code == 404

"""The browser harness itself: pages open as a person's would, axe-core sees barriers.

The pages are served through Playwright's routing with a Content-Security-Policy
as strict as the services' (no script at all), so these show that axe-core
still runs on such pages, that a page with barriers fails and says where, and
that a page opens at the asked width and language.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Route

from tests.support.browser import PageOpener, assert_accessible, screenshot

ADDRESS = "http://ilmo-browser-test.localhost/page"
STRICT = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
GOOD = (
    '<!doctype html><html lang="fi"><head><meta charset="utf-8"><title>Hyvä sivu</title></head>'
    "<body><main><h1>Ilmoittautumisesi</h1><p>Sinulle on varattu paikka.</p></main></body></html>"
)
# An image without a text alternative and a button without a name: both critical in axe-core.
BAD = (
    '<!doctype html><html lang="fi"><head><meta charset="utf-8"><title>Huono sivu</title></head>'
    '<body><main><h1>Ilmoittautumisesi</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    '<button id="nameless"></button></main></body></html>'
)


async def serve(page: Page, html: str, seen: dict[str, str]) -> None:
    """Answer ``ADDRESS`` with ``html`` under a strict CSP; keep the request's headers."""

    async def answer(route: Route) -> None:
        seen.update(route.request.headers)
        await route.fulfill(
            status=200,
            body=html,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": STRICT},
        )

    await page.route(ADDRESS, answer)
    await page.goto(ADDRESS)


async def test_a_page_opens_at_the_width_and_in_the_language_asked(page_at: PageOpener) -> None:
    page = await page_at("about:blank", width=1280, language="sv")
    seen: dict[str, str] = {}
    await serve(page, GOOD, seen)
    assert seen["accept-language"] == "sv"
    assert await page.evaluate("navigator.language") == "sv"
    assert page.viewport_size is not None
    assert page.viewport_size["width"] == 1280
    path = await screenshot(page, "test-browser-support-good")
    assert path.read_bytes().startswith(b"\x89PNG")
    path.unlink()


async def test_an_accessible_page_passes(page_at: PageOpener) -> None:
    page = await page_at("about:blank")
    await serve(page, GOOD, {})
    await assert_accessible(page, "good page")


async def test_barriers_fail_with_rule_impact_and_place(page_at: PageOpener) -> None:
    page = await page_at("about:blank")
    await serve(page, BAD, {})
    with pytest.raises(AssertionError) as failure:
        await assert_accessible(page, "bad page")
    message = str(failure.value)
    assert message.startswith("bad page: 2 accessibility violations")
    assert "- image-alt (critical)" in message
    assert "- button-name (critical)" in message
    assert "#nameless" in message

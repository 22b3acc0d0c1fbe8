"""A real browser for tests: Debian's Chromium driven by Playwright, and axe-core on its pages.

Pages are for people, so some tests look at them as people do: in Chromium,
at a phone's width (375 px) and a laptop's (1280 px), in Finnish, Swedish
and English, asking for elements by their role and visible text, and with
axe-core checking the WCAG 2.0/2.1 A and AA rules.

Playwright cannot download its own browser builds here, so it launches
Debian's ``chromium`` package (``make browser`` installs it): the path in
``ILMO_CHROMIUM``, or ``chromium`` on PATH. A test that needs the browser and
finds none fails, saying how to get it; it is never skipped.

The public API, for every test under ``tests/`` (the fixtures are registered
in ``tests/conftest.py``):

- fixture ``browser`` (session): the launched headless Chromium;
- fixture ``page_at``: ``await page_at(url, width=…, language=…)`` opens a
  page like ``open_page`` and closes its context when the test ends;
- ``open_page(browser, url, width=375, language="fi")``: a page in a new
  context of its own; the caller closes it (``await page.context.close()``);
- ``assert_accessible(page, what)``: fails listing axe-core's serious and
  critical violations;
- ``screenshot(page, name)``: a full-page PNG at ``.local/screenshots/<name>.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM_VARIABLE = "ILMO_CHROMIUM"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".local" / "screenshots"
# A phone's height: enough for the first screenful; full-page screenshots show the rest.
VIEWPORT_HEIGHT = 800
# The WCAG 2.0 and 2.1 success criteria of levels A and AA: what the public sector must meet.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# Violations that stop a person from using the page; "minor" and "moderate" ones are left
# to review, or every test would fail on advice.
BLOCKING_IMPACTS = ("serious", "critical")
_AXE = Axe()


class BrowserMissingError(RuntimeError):
    """No Chromium to launch: the tests that need one cannot say anything about the pages."""


def chromium_path() -> str:
    """Debian's Chromium: ``ILMO_CHROMIUM``, or ``chromium`` on PATH."""
    configured = os.environ.get(CHROMIUM_VARIABLE)
    if configured:
        if not os.access(configured, os.X_OK):
            raise BrowserMissingError(
                f"{CHROMIUM_VARIABLE}={configured} is not an executable; "
                "run `make browser` to install Debian's chromium, or correct the variable"
            )
        return configured
    found = shutil.which("chromium")
    if found is None:
        raise BrowserMissingError(
            "no Chromium for the browser tests: run `make browser` (installs Debian's chromium "
            f"package) or set {CHROMIUM_VARIABLE} to a Chromium executable"
        )
    return found


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Browser]:
    """A headless Chromium for as long as the block runs (also for ``tests.screenshots``)."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session; a missing browser fails the test, never skips."""
    try:
        async with launched_browser() as chromium:
            yield chromium
    except BrowserMissingError as missing:
        pytest.fail(str(missing), pytrace=False)


async def open_page(browser: Browser, url: str, *, width: int = 375, language: str = "fi") -> Page:
    """``url`` in a new context as a person with ``language`` sees it, ``width`` px wide.

    The context is the caller's to close (``await page.context.close()``);
    the ``page_at`` fixture does it at the end of the test.
    """
    context = await browser.new_context(
        viewport={"width": width, "height": VIEWPORT_HEIGHT},
        locale=language,
        extra_http_headers={"Accept-Language": language},
    )
    page = await context.new_page()
    await page.goto(url)
    return page


class PageOpener(Protocol):
    """What the ``page_at`` fixture gives: ``open_page`` without the browser and the closing."""

    def __call__(self, url: str, *, width: int = 375, language: str = "fi") -> Awaitable[Page]: ...


@pytest.fixture
async def page_at(browser: Browser) -> AsyncIterator[PageOpener]:
    """Opens pages like ``open_page``; their contexts are closed when the test ends."""
    contexts: list[BrowserContext] = []

    async def opener(url: str, *, width: int = 375, language: str = "fi") -> Page:
        page = await open_page(browser, url, width=width, language=language)
        contexts.append(page.context)
        return page

    yield opener
    for context in contexts:
        await context.close()


async def accessibility_violations(
    page: Page, *, every_impact: bool = False
) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of WCAG 2.0/2.1 A and AA on the page.

    ``every_impact`` keeps the minor and moderate ones too (for review, e.g. by
    ``tests.screenshots``).
    """
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_TAGS)},
        "resultTypes": ["violations"],
    }
    results = await _AXE.run(page, options=options)
    violations: list[dict[str, Any]] = results.response["violations"]
    if every_impact:
        return violations
    return [found for found in violations if found.get("impact") in BLOCKING_IMPACTS]


def describe_violation(violation: dict[str, Any]) -> str:
    """One violation as a line a developer can act on: rule, impact, help, where."""
    targets = ", ".join(
        " ".join(str(part) for part in node.get("target", [])) for node in violation["nodes"]
    )
    return (
        f"- {violation['id']} ({violation['impact']}): {violation['help']} "
        f"[{targets}] {violation.get('helpUrl', '')}".rstrip()
    )


async def assert_accessible(page: Page, what: str) -> None:
    """Fail, listing every serious or critical WCAG A/AA violation axe-core finds on the page."""
    violations = await accessibility_violations(page)
    if violations:
        lines = "\n".join(describe_violation(found) for found in violations)
        raise AssertionError(f"{what}: {len(violations)} accessibility violations\n{lines}")


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``.local/screenshots/<name>.png``; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path

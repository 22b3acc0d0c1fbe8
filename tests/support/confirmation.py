"""Confirming an address as a person does: the link in the mail, the page, its button.

Used by the end-to-end tests, the chaos run and the benchmark. The link is
found in the mail's text; the page it leads to (GET, which changes nothing)
holds a form whose button posts the token back (POST), which confirms and
redirects to the manage page.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import httpx

CONFIRMATION_LINK = re.compile(r"https?://[^\s\"'<>]+/confirm/[0-9a-f-]{36}\?token=[A-Za-z0-9_-]+")
_FORM = re.compile(r'<form method="post" action="([^"]+)">')
_TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]*)">')


def confirmation_link_in(text: str) -> str | None:
    """The confirmation link of a "confirm your address" mail's text, if it has one."""
    found = CONFIRMATION_LINK.search(text)
    return found.group(0) if found else None


async def follow_confirmation(browser: httpx.AsyncClient, link: str) -> httpx.Response:
    """Open the link, then press the page's button: the answer to the button (303 when done).

    Raises AssertionError when the page is not the confirmation page.
    """
    page = await browser.get(link)
    form, token = _FORM.search(page.text), _TOKEN.search(page.text)
    if page.status_code != 200 or form is None or token is None:
        raise AssertionError(f"not the confirmation page: {page.status_code} {page.text[:300]}")
    return await browser.post(
        urljoin(link, unescape(form.group(1))),
        data={"token": unescape(token.group(1))},
        follow_redirects=False,
    )

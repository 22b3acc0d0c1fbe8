"""The registration service's pages read as a browser reads them, for tests over HTTP.

``Page`` parses a page with the standard library's HTML parser: its text as
a person sees it, its forms and their fields, its links and the ids and
ARIA attributes of its elements. ``register_on_page`` fills in and sends the
registration form as a person does: it opens the form first, so it carries
the form's CSRF token and the cookie it belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

FORM_FIELDS = {
    "first_name": "Maija",
    "last_name": "Meikäläinen",
    "organisation": "Esimerkkikunta",
    "attendance": "in_person",
    "language": "fi",
}
# Text inside these is not shown.
_HIDDEN = {"script", "style", "title", "head"}
_VOID = {"input", "br", "meta", "link", "img", "hr"}


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class Page(HTMLParser):
    """One HTML page as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.forms: list[Form] = []
        self._text: list[str] = []
        self._open: list[str] = []
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag not in _VOID:
            self._open.append(tag)
        if tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get")))
        if tag == "input" and self.forms and attributes.get("name"):
            kind = attributes.get("type", "text")
            if kind not in ("radio", "checkbox") or "checked" in attributes:
                self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        if tag == "textarea" and self.forms and attributes.get("name"):
            self._textarea = attributes["name"]
            self.forms[-1].fields[attributes["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass
        if tag in ("p", "li", "h1", "h2", "h3", "dt", "dd", "label", "legend", "button"):
            self._text.append(" ")

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] == "textarea" and self._textarea is not None:
            # What a text area holds is its value.
            self.forms[-1].fields[self._textarea] += data
        if not any(tag in _HIDDEN for tag in self._open):
            self._text.append(data)

    @property
    def text(self) -> str:
        """The page's text as a person reads it, white space collapsed."""
        return re.sub(r"\s+", " ", "".join(self._text)).strip()

    @property
    def lang(self) -> str:
        return next(
            attributes.get("lang", "") for tag, attributes in self.elements if tag == "html"
        )

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attributes for name, attributes in self.elements if name == tag]

    def by_id(self, element_id: str) -> dict[str, str] | None:
        return next(
            (attributes for _, attributes in self.elements if attributes.get("id") == element_id),
            None,
        )

    def links(self) -> dict[str, str]:
        """Each link's href by its id-less position: href -> href (for membership tests)."""
        return {a["href"]: a["href"] for a in self.named("a") if "href" in a}

    def form(self, action_ending: str = "") -> Form:
        return next(f for f in self.forms if f.action.split("?")[0].endswith(action_ending))


def page_of(response: httpx.Response) -> Page:
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    return Page(response.text)


async def open_form(client: httpx.AsyncClient, event_id: str, **params: Any) -> Page:
    response = await client.get(f"/events/{event_id}/registration", params=params)
    assert response.status_code == 200, response.text[:500]
    return page_of(response)


async def register_on_page(
    client: httpx.AsyncClient,
    event_id: str,
    *,
    params: dict[str, str] | None = None,
    **changes: str | None,
) -> httpx.Response:
    """Open the form, fill it in (``FORM_FIELDS``, ``changes``; ``None`` leaves one out), send."""
    page = await open_form(client, event_id, **(params or {}))
    form = page.form("registration")
    values = {**form.fields, **FORM_FIELDS, "email": f"maija.{id(page)}@example.fi", **changes}
    path = f"/events/{event_id}/registration"
    action = urljoin(f"http://registration.test{path}", form.action)
    target = urlsplit(action)
    url = f"{target.path}?{target.query}" if target.query else target.path
    return await client.post(url, data={k: v for k, v in values.items() if v is not None})

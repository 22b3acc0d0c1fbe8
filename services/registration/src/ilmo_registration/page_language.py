"""Which language a page speaks, and the links of the language switcher.

A visitor's choice wins: the ``lang`` query parameter of the switcher's
links, remembered in a cookie (``ilmo_lang``) for the pages that follow,
with no script needed. Without a choice, public pages follow the browser's
``Accept-Language`` (``ilmo_shared.i18n.negotiate``); the manage page
follows the registrant's own language instead, unless a link of its
switcher says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request, Response

from ilmo_event_contracts import Language
from ilmo_shared.i18n import negotiate

PARAMETER = "lang"
COOKIE = "ilmo_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Each language named in itself, as the switcher shows it.
NAMES = {Language.FI: "Suomeksi", Language.SV: "På svenska", Language.EN: "In English"}


@dataclass(frozen=True)
class PageLanguage:
    """The language of one page, and whether the visitor chose it with the switcher now."""

    language: Language
    chosen: bool = False

    def remember(self, response: Response, *, secure: bool) -> Response:
        """Keep a choice made now in a cookie; nothing when none was made."""
        if self.chosen:
            response.set_cookie(
                COOKIE,
                self.language.value,
                max_age=COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=secure,
            )
            if response.headers.get("Cache-Control") != "no-store":
                # A public page that sets a cookie is this visitor's alone.
                response.headers["Cache-Control"] = "private, no-cache"
        return response

    def query(self) -> str:
        """``?lang=..`` for links and form actions when the choice was made in the address."""
        return f"?{PARAMETER}={self.language.value}" if self.chosen else ""


def _parsed(value: str | None) -> Language | None:
    if value is None:
        return None
    return Language._value2member_map_.get(value.strip().lower())  # type: ignore[return-value]


def of_request(request: Request, default: Language | None = None) -> PageLanguage:
    """The page's language: ``lang``, then (without ``default``) the cookie, then the browser.

    ``default`` is a language the page knows better than the browser (the
    registrant's own, on the manage page).
    """
    chosen = _parsed(request.query_params.get(PARAMETER))
    if chosen is not None:
        return PageLanguage(chosen, chosen=True)
    if default is not None:
        return PageLanguage(default)
    remembered = _parsed(request.cookies.get(COOKIE))
    if remembered is not None:
        return PageLanguage(remembered)
    return PageLanguage(negotiate(request.headers.get("accept-language")))


@dataclass(frozen=True)
class SwitcherLink:
    """One link of the language switcher."""

    language: str
    name: str
    href: str
    current: bool


def switcher(request: Request, current: Language) -> list[SwitcherLink]:
    """Links to this very page in each language, keeping its other query parameters.

    Relative (``?token=..&lang=sv``), so they work behind any path prefix.
    """
    kept = [
        (name, value) for name, value in request.query_params.multi_items() if name != PARAMETER
    ]
    return [
        SwitcherLink(
            language=language.value,
            name=name,
            href="?" + urlencode([*kept, (PARAMETER, language.value)]),
            current=language is current,
        )
        for language, name in NAMES.items()
    ]

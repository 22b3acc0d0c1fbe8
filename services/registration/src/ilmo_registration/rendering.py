"""How every page of the service is rendered and sent: templates, catalogues, headers.

Pages are Jinja2 templates (``templates/``) whose texts are gettext messages
(``locale/{fi,sv}/LC_MESSAGES/messages.po``; English is the source), so no
English text reaches a Finnish or Swedish page unless a translation is
missing, which a unit test catches (``ilmo_shared.i18n.untranslated``).

Two kinds of page, two sets of headers:

- personal pages (the registration form, the manage and confirmation pages
  and every error page) are never cached, indexed or sent on in a
  ``Referer``: they hold personal data or a secret token in the address;
- public pages (the list of events, an event) may be cached for a minute,
  varying by the visitor's language.

Both share one Content-Security-Policy: no script at all, styles only from
the service's own stylesheet (``/static/ilmo.css``), forms only to itself.
The console's signed-in pages alone add the one script of the service
(``/static/console-timeout.js``, ``console.pages.content_security_policy``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment

from ilmo_event_contracts import Language
from ilmo_registration import CATALOGUE
from ilmo_shared.i18n import environment

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}
# Pages with personal data or a token in the address: never cached, indexed or leaked.
PAGE_HEADERS = {
    **_COMMON,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
# The list of events and an event's page: the same for everyone who reads them
# in one language, so shared caches may keep them for a minute.
PUBLIC_HEADERS = {
    **_COMMON,
    "Cache-Control": "public, max-age=60",
    "Vary": "Accept-Language, Cookie",
}

STYLESHEET = "ilmo.css"
SCRIPT = "console-timeout.js"


@cache
def stylesheet() -> bytes:
    """The one stylesheet every page links to."""
    return files(CATALOGUE).joinpath("static", STYLESHEET).read_bytes()


@cache
def stylesheet_version() -> str:
    """A digest of the stylesheet, in its address: a changed file is a new address."""
    return hashlib.sha256(stylesheet()).hexdigest()[:12]


@cache
def script() -> bytes:
    """The console's timeout warning (``console.timeout``): the only script of the service."""
    return files(CATALOGUE).joinpath("static", SCRIPT).read_bytes()


@cache
def script_version() -> str:
    """A digest of the script, in its address, as for the stylesheet."""
    return hashlib.sha256(script()).hexdigest()[:12]


CHECK_IN_SCRIPT = "check-in.js"
# jsQR 1.4.0 (Apache-2.0, github.com/cozmo/jsQR), minified with its licence beside it:
# the check-in page's QR decoder where the browser has no ``BarcodeDetector``.
JSQR = ("vendor", "jsqr", "jsQR.min.js")
JSQR_LICENSE = ("vendor", "jsqr", "LICENSE")


@cache
def check_in_script() -> bytes:
    """The door page's scanner (``console.check_in``)."""
    return files(CATALOGUE).joinpath("static", CHECK_IN_SCRIPT).read_bytes()


@cache
def check_in_script_version() -> str:
    return hashlib.sha256(check_in_script()).hexdigest()[:12]


@cache
def jsqr_script() -> bytes:
    return files(CATALOGUE).joinpath("static", *JSQR).read_bytes()


@cache
def jsqr_license() -> bytes:
    return files(CATALOGUE).joinpath("static", *JSQR_LICENSE).read_bytes()


@cache
def _environment(language: Language) -> Environment:
    return environment(
        CATALOGUE,
        language,
        stylesheet_version=stylesheet_version(),
        script_version=script_version(),
        check_in_script_version=check_in_script_version(),
    )


def render(template: str, language: Language, /, **values: Any) -> str:
    """``template`` in ``language``, with ``values``; everything from input is escaped."""
    return _environment(language).get_template(template).render(**values)


def page_response(status: int, html: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A personal page: with ``PAGE_HEADERS`` (no-store, no-referrer, noindex)."""
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def public_response(html: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A public page: briefly cacheable, varying by language."""
    return HTMLResponse(html, status_code=200, headers={**PUBLIC_HEADERS, **(headers or {})})


def redirect(location: str, headers: Mapping[str, str] | None = None) -> Response:
    """After a form: 303 to the page that shows what happened (POST, redirect, GET)."""
    return Response(
        status_code=303, headers={"Location": location, **PAGE_HEADERS, **(headers or {})}
    )

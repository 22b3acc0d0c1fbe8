"""What every public page makes of its request, and the refusals public forms share.

The public pages (``public``: the event, its registration form; and
``manage_link_pages``: asking for the link again) are served at different
depths, in the visitor's language, over HTTP locally and HTTPS in
production. Each page needs the same chrome (a relative root, so the pages
work behind any prefix, and the language switcher), the same rule for its
cookies, and the same two refusal pages: an event that is not public, and a
form whose CSRF token could not be checked.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ilmo_event_contracts import Language
from ilmo_registration.page_language import PageLanguage, switcher
from ilmo_registration.pages import Chrome, Link, message_page
from ilmo_registration.registration_form import FieldError
from ilmo_registration.rendering import page_response, render
from ilmo_shared.i18n import _

FORM_EXPIRED = _("Your form could not be checked")
FORM_EXPIRED_TEXT = _(
    "This happens when the form was open for a long time or your browser does not accept "
    "cookies from this service. Nothing was sent. Open the form again and send it."
)


def secure(request: Request) -> bool:
    """Cookies are sent back only over HTTPS when the page came over HTTPS."""
    return request.url.scheme == "https"


def chrome(request: Request, language: Language) -> Chrome:
    """The page's frame: links relative to the site's root, and the language switcher."""
    depth = max(request.url.path.count("/") - 1, 0)
    return Chrome(root="../" * depth or "./", switcher=switcher(request, language))


def render_page(
    request: Request,
    shown: PageLanguage,
    template: str,
    *,
    title: str,
    personal: bool = False,
    errors: list[FieldError] | None = None,
    **values: Any,
) -> str:
    """``template`` in the page's language, in its chrome (``personal``: never cached)."""
    return render(
        template,
        shown.language,
        chrome=chrome(request, shown.language),
        personal=personal,
        errors=errors or [],
        title=title,
        query=shown.query(),
        **values,
    )


def event_not_found(request: Request, shown: PageLanguage) -> Response:
    """404: no such event, or not a public one; the way back is the list of events."""
    frame = chrome(request, shown.language)
    html = message_page(
        shown.language,
        _("Event not found"),
        [_("There is no such event, or it is not public. Check the address.")],
        Link(frame.root + shown.query(), _("All upcoming events")),
        frame,
    )
    return page_response(404, html)


def form_expired(request: Request, shown: PageLanguage, form: str) -> Response:
    """403: the form's CSRF token did not match its cookie; ``form`` opens it again."""
    html = message_page(
        shown.language,
        FORM_EXPIRED,
        [FORM_EXPIRED_TEXT],
        Link(f"{form}{shown.query()}", _("Open the form again")),
        chrome(request, shown.language),
    )
    return page_response(403, html)

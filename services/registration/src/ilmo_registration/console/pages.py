"""How a console page is rendered: the frame every console template extends.

A console template extends ``console/base.html`` and fills its blocks
``title`` and ``main``. ``console_page`` gives every template the same view
model: ``principal`` (who is signed in, or None on the sign-in and
signed-out pages), ``language`` (``fi``/``sv``/``en``), ``switcher`` (the
language links), ``section`` (which navigation link is current),
``csrf_field()`` (the hidden input with the session's CSRF token, for every
form) and whatever the route adds. Pages are never cached and never indexed
(``rendering.PAGE_HEADERS``): they hold personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from markupsafe import Markup, escape

from ilmo_event_contracts import Language
from ilmo_registration import CATALOGUE
from ilmo_registration.console.session import CSRF_FIELD, ConsoleSession, current_session
from ilmo_registration.console.timeout import TimeLeft, countdown
from ilmo_registration.page_language import of_request, switcher
from ilmo_registration.pages import Link
from ilmo_registration.rendering import CONTENT_SECURITY_POLICY, page_response, render
from ilmo_shared.access import Permission, Role
from ilmo_shared.i18n import _, translate
from ilmo_shared.localized_time import format_time, local

# The console's wall clock (as its audit trail): where its organisers work.
CONSOLE_TIMEZONE = "Europe/Helsinki"
ROLE_NAMES: Mapping[Role, str] = {
    Role.ORGANISER: _("Organiser"),
    Role.VIEWER: _("Viewer"),
    Role.DOOR: _("Door staff"),
    Role.OPERATOR: _("Operator"),
}
FORM_REFUSED = _("Your form could not be checked")
FORM_REFUSED_TEXT = _(
    "Nothing was saved. This happens when the page was open for a long time or "
    "you signed in again in another window. Open the page again and send the form again."
)
NOT_PERMITTED = _("You do not have permission to do this")
NOT_PERMITTED_TEXT = _(
    "Your role in Ilmo does not allow this page or action. If you need it, ask your "
    "administrator for the right role."
)


@dataclass(frozen=True)
class TimeoutView:
    """The timeout warning of a signed-in page: seconds for its script, texts for the person."""

    left: TimeLeft
    countdown: Markup  # the warning's lead, e.g. ``2 min``, in the element the script counts down
    absolute_end: str  # e.g. ``17.30``: when the session ends whatever happens


def language_of(request: Request) -> Language:
    """The language the console speaks to this request (``page_language``)."""
    return of_request(request).language


def text(request: Request, message: str, **values: object) -> str:
    """A gettext message in the request's language."""
    translated = translate(CATALOGUE, language_of(request), message)
    return translated % values if values else translated


def console_page(
    request: Request,
    template: str,
    *,
    title: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> Response:
    """``template`` as a console page; ``title`` is already in the reader's language."""
    shown = of_request(request)
    session = current_session(request)
    principal = session.principal if session is not None else None
    token = session.csrf_token if session is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(token)
        )

    html = render(
        template,
        shown.language,
        title=title,
        principal=principal,
        role_names=_role_names(principal.roles, shown.language) if principal else [],
        may_read_audit=principal is not None and principal.may(Permission.READ_AUDIT),
        may_check_in=principal is not None and principal.may(Permission.CHECK_IN),
        language=shown.language.value,
        switcher=switcher(request, shown.language),
        csrf_field=csrf_field,
        timeout=_timeout_view(session, shown.language),
        **{"section": None, "errors": [], **values},
    )
    policy = {"Content-Security-Policy": content_security_policy(request, scripted=principal)}
    response = page_response(status, html, {**policy, **(headers or {})})
    return shown.remember(response, secure=request.url.scheme == "https")


def content_security_policy(request: Request, *, scripted: object = None) -> str:
    """The pages' policy, with the identity provider allowed as a form's destination.

    Signing out is a form whose answer redirects to the provider's logout,
    and ``form-action`` covers where a form's redirects lead too. A
    signed-in page (``scripted``) may also run the service's own timeout
    warning script and let it call the service (``console.continuation``).
    """
    policy = CONTENT_SECURITY_POLICY
    if scripted:
        policy += "; script-src 'self'; connect-src 'self'"
    origin: str | None = getattr(request.app.state, "console_provider_origin", None)
    if origin is None:
        return policy
    return policy.replace("form-action 'self'", f"form-action 'self' {origin}")


def message(
    request: Request,
    heading: str,
    paragraphs: list[str],
    *,
    status: int = 200,
    link: Link | None = None,
) -> Response:
    """A page that says one thing; ``heading``, ``paragraphs`` and the link's text are msgids."""
    return console_page(
        request,
        "console/message.html",
        title=text(request, heading),
        status=status,
        paragraphs=[text(request, paragraph) for paragraph in paragraphs],
        link=Link(link.href, text(request, link.text)) if link else None,
    )


def refusal(request: Request, reason: str) -> Response:
    """The 403 pages of ``ConsoleSessions``: a form that failed its check, a missing permission."""
    if reason == "form":
        return message(request, FORM_REFUSED, [FORM_REFUSED_TEXT], status=403)
    return message(request, NOT_PERMITTED, [NOT_PERMITTED_TEXT], status=403, link=_way_on(request))


def _way_on(request: Request) -> Link:
    """Where a refused person can go: door staff to the door, not to events they cannot read."""
    session = current_session(request)
    principal = session.principal if session is not None else None
    if (
        principal is not None
        and principal.may(Permission.CHECK_IN)
        and not principal.may(Permission.READ_EVENTS)
    ):
        return Link("/console/check-in", _("Go to check-in at the door"))
    return Link("/console", _("Back to the events"))


def _timeout_view(session: ConsoleSession | None, language: Language) -> TimeoutView | None:
    """What the page's timeout warning needs (``console/base.html``), if signed in."""
    if session is None or session.time_left is None:
        return None
    left = session.time_left
    return TimeoutView(
        left=left,
        countdown=Markup("<span data-countdown>{}</span>").format(countdown(left.warn_seconds)),
        absolute_end=format_time(local(left.absolute_at, CONSOLE_TIMEZONE), language),
    )


def _role_names(roles: frozenset[Role], language: Language) -> list[str]:
    return [translate(CATALOGUE, language, ROLE_NAMES[role]) for role in sorted(roles)]

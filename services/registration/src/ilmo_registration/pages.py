"""The manage, confirmation and error pages: what they show, rendered without I/O.

The notification service writes a manage link into the "registration
received" email; following it shows ``manage_page`` in the registrant's own
language (the switcher's ``lang`` overrides it). The confirmation link of the
"confirm your address" mail leads to ``confirm_page``, whose button
confirms and leads on to the manage page. Everything comes from templates
(``templates/``) with their texts in the gettext catalogues; everything
from input is escaped by Jinja2's autoescaping, and no page runs a script.

``error_page_response`` is how the service's ``PageErrors`` answer a
failure under the pages' addresses: it cannot know the reader's language,
so it speaks all three, and for 404 it is the same page whatever was not
found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance, Language
from ilmo_registration import CATALOGUE
from ilmo_registration.domain import Cancellation, Status, Switch
from ilmo_registration.event_views import moment
from ilmo_registration.page_language import SwitcherLink
from ilmo_registration.registration_form import FieldError, FormInput
from ilmo_registration.rendering import page_response, render
from ilmo_shared.i18n import _, translate
from ilmo_shared.localized_time import WeekdayStyle, format_span, zone_name

# The manage page's sections, each one template under templates/manage/.
MANAGE_SECTIONS = ("status", "details", "needs", "attendance", "cancel")
# The language choices of the forms, each named in itself.
LANGUAGE_CHOICES: Mapping[Language, str] = {
    Language.FI: "suomi",
    Language.SV: "svenska",
    Language.EN: "English",
}

LANGUAGE_NAMES = {Language.FI: _("Finnish"), Language.SV: _("Swedish"), Language.EN: _("English")}


@dataclass(frozen=True)
class Chrome:
    """What every page's frame needs: the way to the site's root and the language switcher."""

    root: str = "/"
    switcher: list[SwitcherLink] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    href: str
    text: str


@dataclass(frozen=True)
class ManagePage:
    """What the manage page shows about one registration (GDPR Art. 15: all of it)."""

    registration_id: str
    token: str
    language: Language
    first_name: str
    last_name: str
    event_title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    attendance: Attendance
    venue_name: str | None
    venue_address: str | None
    status: Status
    waitlist_position: int | None
    stream_link_url: str | None
    # What a cancellation asked for now would do: CANCEL offers it.
    cancellation: Cancellation
    # The needs given with consent (shown with a form that withdraws it), and
    # whether a consent was withdrawn (the needs are then gone).
    needs: str | None = None
    needs_consent_withdrawn: bool = False
    email: str = ""
    organisation: str | None = None
    registrant_language: Language | None = None
    registered_at: datetime | None = None
    cancelled_at: datetime | None = None
    consent_given_at: datetime | None = None
    consent_withdrawn_at: datetime | None = None
    notice_version: str | None = None
    notice_shown_at: datetime | None = None
    # Whether the page's language was chosen with the switcher (forms keep it).
    language_chosen: bool = False
    # What switching to the other attendance would do now: SWITCH offers it.
    switch: Switch = Switch.UNCHANGED
    # Whether the details can be corrected now (not cancelled, the event not over).
    correctable: bool = False
    # The organiser cancelled the event; their note's paragraphs, in the page's language.
    event_cancelled: bool = False
    event_cancellation_note: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManageView:
    """A ``ManagePage`` as its template reads it: every value formatted in the page's language."""

    page: ManagePage

    def __getattr__(self, name: str) -> object:
        return getattr(self.page, name)

    def _moment(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return moment(value, self.page.timezone, self.page.language)

    @property
    def when(self) -> str:
        return when(self.page.starts_at, self.page.ends_at, self.page.timezone, self.page.language)

    @property
    def venue(self) -> str | None:
        if self.page.attendance is not Attendance.IN_PERSON or not self.page.venue_name:
            return None
        return ", ".join(p for p in (self.page.venue_name, self.page.venue_address) if p)

    @property
    def stream_link(self) -> str | None:
        if self.page.status is Status.CANCELLED:
            return None
        return web_address(self.page.stream_link_url)

    @property
    def language_name(self) -> str:
        spoken = self.page.registrant_language or self.page.language
        return translate(CATALOGUE, self.page.language, LANGUAGE_NAMES[spoken])

    @property
    def registered_at(self) -> str | None:
        return self._moment(self.page.registered_at)

    @property
    def cancelled_at(self) -> str | None:
        return self._moment(self.page.cancelled_at)

    @property
    def consent_given_at(self) -> str | None:
        return self._moment(self.page.consent_given_at)

    @property
    def consent_withdrawn_at(self) -> str | None:
        return self._moment(self.page.consent_withdrawn_at)

    @property
    def notice_shown_at(self) -> str | None:
        return self._moment(self.page.notice_shown_at)

    @property
    def cancel_action(self) -> str:
        return cancel_action(self.page.registration_id)

    @property
    def withdraw_action(self) -> str:
        return withdraw_action(self.page.registration_id)

    @property
    def correct_action(self) -> str:
        """The correction form, relative to the manage page."""
        return f"{quote(self.page.registration_id, safe='')}/details"

    @property
    def calendar_action(self) -> str:
        """The calendar file, relative to the manage page."""
        return f"{quote(self.page.registration_id, safe='')}/calendar.ics"

    @property
    def attendance_action(self) -> str:
        """Where the switch form posts, relative to the manage page."""
        return f"{quote(self.page.registration_id, safe='')}/attendance"

    @property
    def other_attendance(self) -> str:
        """The attendance a switch would lead to."""
        if self.page.attendance is Attendance.IN_PERSON:
            return Attendance.REMOTE.value
        return Attendance.IN_PERSON.value

    @property
    def confirm_cancel_action(self) -> str:
        """Where the "are you sure" page posts, relative to ``/manage/{id}/cancel``."""
        return "cancel"

    @property
    def back(self) -> str:
        chosen = self.page.language if self.page.language_chosen else None
        return back_to_page(self.page.registration_id, self.page.token, chosen)


# ------------------------------------------------------------------ formatting


def when(starts_at: datetime, ends_at: datetime, timezone: str, language: Language) -> str:
    """The event's date and time in its own time zone, as people write it in ``language``.

    fi "perjantai 11.9.2026 klo 9.00-12.00 (Suomen aikaa)", sv "fredag 11.9.2026
    kl. 9.00-12.00 (finsk tid)", en "Friday 11 September 2026, 9:00-12:00
    (Finnish time)", with an en dash.
    """
    span = format_span(starts_at, ends_at, timezone, language, WeekdayStyle.LONG)
    return f"{span} ({zone_name(timezone, language)})"


def web_address(url: str | None) -> str | None:
    """``url`` if it is a web address (http or https with a host), else None: never a link."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return url


# ------------------------------------------------------------------- addresses


def cancel_action(registration_id: str) -> str:
    """Where the cancel button leads, relative to the manage page (``/manage/{id}``)."""
    return f"{quote(registration_id, safe='')}/cancel"


def withdraw_action(registration_id: str) -> str:
    """Where the needs form posts, relative to the manage page (``/manage/{id}``)."""
    return f"{quote(registration_id, safe='')}/needs"


def back_to_page(registration_id: str, token: str, language: Language | None = None) -> str:
    """The manage page, relative to ``/manage/{id}/...`` (works behind any path prefix)."""
    query = [("token", token)] + ([("lang", language.value)] if language is not None else [])
    return f"../{quote(registration_id, safe='')}?{urlencode(query, safe='')}"


def manage_page_of(registration_id: str, manage_token: str) -> str:
    """The manage page, relative to ``/confirm/{id}``: where a confirmation leads."""
    return f"../manage/{quote(registration_id, safe='')}?token={quote(manage_token, safe='')}"


# ---------------------------------------------------------------------- pages


def manage_page(page: ManagePage, chrome: Chrome | None = None) -> str:
    return render(
        "manage.html",
        page.language,
        chrome=chrome or Chrome(),
        personal=True,
        errors=[],
        title=translate(CATALOGUE, page.language, "Your registration"),
        page=ManageView(page),
        sections=MANAGE_SECTIONS,
    )


def cancel_step_page(page: ManagePage, chrome: Chrome | None = None) -> str:
    """The "are you sure" page between the manage page's cancel button and the cancellation."""
    return render(
        "manage_cancel.html",
        page.language,
        chrome=chrome or Chrome(),
        personal=True,
        errors=[],
        title=translate(CATALOGUE, page.language, "Do you want to cancel your registration?"),
        page=ManageView(page),
    )


def correction_page(
    page: ManagePage,
    form: FormInput,
    errors: list[FieldError],
    chrome: Chrome | None = None,
) -> str:
    """The form that corrects one's details (GDPR Art. 16), filled in, with what is wrong."""
    return render(
        "manage_correct.html",
        page.language,
        chrome=chrome or Chrome(),
        personal=True,
        errors=errors,
        title=translate(CATALOGUE, page.language, "Correct your details"),
        page=ManageView(page),
        form=form,
        errors_by_field={error.field: error for error in errors},
        languages=[(code.value, name) for code, name in LANGUAGE_CHOICES.items()],
    )


def message_page(
    language: Language,
    heading: str,
    paragraphs: list[str],
    link: Link | None = None,
    chrome: Chrome | None = None,
) -> str:
    """A page that says one thing: a heading, its explanation and perhaps a link onwards.

    ``heading`` and ``paragraphs`` are gettext messages, translated here.
    """
    return render(
        "message.html",
        language,
        chrome=chrome or Chrome(),
        personal=True,
        errors=[],
        title=translate(CATALOGUE, language, heading),
        heading=translate(CATALOGUE, language, heading),
        paragraphs=[translate(CATALOGUE, language, text) for text in paragraphs],
        link=Link(link.href, translate(CATALOGUE, language, link.text)) if link else None,
    )


EVENT_STARTED = _("The event has already started, so the registration can no longer be cancelled.")


def event_started_page(
    language: Language, registration_id: str, token: str, chrome: Chrome | None = None
) -> str:
    """The answer to a cancellation once the event has started (HTTP 409)."""
    back = Link(back_to_page(registration_id, token), _("Back to your registration"))
    return message_page(language, _("Cancel your registration"), [EVENT_STARTED], back, chrome)


def confirm_page(
    registration_id: str, token: str, language: Language = Language.FI, chrome: Chrome | None = None
) -> str:
    """The page behind the confirmation link: a button, since only a POST confirms.

    Mail scanners and link previews fetch links with GET; they must not
    confirm anybody's address, so this page changes nothing and reads
    nothing (the link is checked from the id alone). It speaks the
    visitor's language, as nothing tells the registrant's yet.
    """
    return render(
        "confirm.html",
        language,
        chrome=chrome or Chrome(),
        personal=True,
        errors=[],
        title=translate(CATALOGUE, language, "Confirm your email address"),
        action=quote(registration_id, safe=""),
        token=token,
    )


def confirmation_expired_page() -> str:
    """The answer to a confirmation after the registration expired (HTTP 410).

    In all three languages: the registration is gone, and with it its language.
    """
    return trilingual_page(
        _("The link has expired"),
        [
            _(
                "The registration was not confirmed in time, so it was not accepted. You can "
                "register again while registration is open."
            )
        ],
    )


def confirmation_closed_page() -> str:
    """The answer to a confirmation after registration closed (HTTP 409), in all three."""
    return trilingual_page(
        _("Registration has closed"),
        [_("Registration closed before your address was confirmed, so it was not accepted.")],
    )


# ----------------------------------------------------------------- error pages

_ERRORS: dict[int, tuple[str, str]] = {
    404: (
        _("Page not found"),
        _("Check the address. If you followed a link in an email, use the newest message."),
    ),
    405: (_("Page not found"), _("This address does not take that kind of request.")),
    410: (
        _("Registration erased"),
        _("The personal data of this registration has been erased, so its link no longer works."),
    ),
    413: (_("The form was too large"), _("Nothing was changed. Go back and try again.")),
    503: (
        _("The service is not available right now"),
        _("Nothing was changed. Please try again in a moment."),
    ),
}
_GENERIC_ERROR = (_("Something went wrong"), _("Please try again in a moment."))


@dataclass(frozen=True)
class Part:
    language: str
    heading: str
    paragraphs: list[str]


def trilingual_page(heading: str, paragraphs: list[str]) -> str:
    """One page saying the same in Finnish, Swedish and English, each part in its own language."""
    parts = [
        Part(
            language.value,
            translate(CATALOGUE, language, heading),
            [translate(CATALOGUE, language, text) for text in paragraphs],
        )
        for language in (Language.FI, Language.SV, Language.EN)
    ]
    return render(
        "trilingual.html",
        Language.FI,
        chrome=Chrome(),
        personal=True,
        errors=[],
        title=" / ".join(part.heading for part in parts),
        parts=parts,
    )


def error_page(status: int) -> str:
    """A page for a wrong link (404) or a failure, in all three languages.

    The same for every wrong link: it never tells whether a registration exists.
    """
    heading, explanation = _ERRORS.get(status, _GENERIC_ERROR)
    return trilingual_page(heading, [explanation])


def error_page_response(status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The trilingual error page; for 404 the same bytes whatever was not found."""
    return page_response(status, error_page(status), headers)

"""The manage page and its error pages: HTML for people, rendered without I/O.

``page_response`` and ``error_page_response`` wrap a page in the response
every page is sent as (``PAGE_HEADERS``); ``error_page_response`` is also how
the service's ``PageErrors`` answer a failure under ``/manage/``.

The notification service writes a manage link into the "registration
received" email; following it shows this page. The confirmation link of the
"confirm your address" mail leads to ``confirm_page``, whose button confirms
and leads on to the manage page. Everything that comes from
input (event title, names, venue, URLs, the token) is escaped with
``html.escape``; the page needs no script, and its Content-Security-Policy
allows none. Texts are built in, in Finnish, Swedish and English; the
registrant's own language is used. Pages that cannot know whose they are
(a wrong link, a failure) say it in all three languages.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote, urlsplit

from fastapi.responses import HTMLResponse

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.catalogue import zone
from ilmo_registration.domain import Cancellation, Status
from ilmo_shared.localized_time import (
    WeekdayStyle,
    format_local_span,
)

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5;"
    "margin:0;padding:1rem;color:#1a1a1a;background:#fff}"
    "main{max-width:40rem;margin:0 auto}"
    "h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem}"
    "dt{font-weight:600}dd{margin:0}"
    ".status{font-size:1.15rem;font-weight:600;padding:.75rem 1rem;"
    "border-left:.35rem solid #0b5fa5;background:#eef4fa}"
    "button{font:inherit;font-weight:600;padding:.6rem 1.2rem;border:2px solid #8a1c1c;"
    "border-radius:.25rem;background:#8a1c1c;color:#fff;cursor:pointer}"
    "button.primary{border-color:#0b5fa5;background:#0b5fa5}"
    "button:focus-visible,a:focus-visible{outline:3px solid #0b5fa5;outline-offset:2px}"
    "a{color:#0b5fa5}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

# Sent with every page: never cached, never indexed, the token in the address
# never leaves in a Referer header, nothing runs but the inline style above.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True)
class Texts:
    """Everything the manage page says, in one language."""

    page_title: str
    name: str
    event: str
    when: str
    where: str
    attendance: str
    in_person: str
    remote: str
    status: str
    pending_confirmation: str
    accepted: str
    seat_reserved: str
    waitlisted: str  # {position}
    waitlisted_somewhere: str
    remote_status: str
    cancelled: str
    stream_link: str
    cancel_heading: str
    cancel_explanation: str
    seat_goes_on: str
    cancel_button: str
    event_started: str
    back: str
    needs: str
    needs_heading: str
    needs_explanation: str
    needs_button: str
    needs_withdrawn: str


FINNISH = Texts(
    page_title="Ilmoittautumisesi",
    name="Nimi",
    event="Tilaisuus",
    when="Aika",
    where="Paikka",
    attendance="Osallistumistapa",
    in_person="Paikan päällä",
    remote="Etänä",
    status="Tila",
    pending_confirmation="Vahvista sähköpostiosoitteesi sille lähetetyn viestin linkistä.",
    accepted="Ilmoittautumisesi on vastaanotettu, ja sitä käsitellään.",
    seat_reserved="Sinulle on varattu paikka.",
    waitlisted="Olet varasijalla, jonossa sijalla {position}.",
    waitlisted_somewhere="Olet varasijalla.",
    remote_status="Osallistut etänä; henkilökohtainen katselulinkkisi on valmis.",
    cancelled="Ilmoittautumisesi on peruttu.",
    stream_link="Henkilökohtainen katselulinkkisi",
    cancel_heading="Ilmoittautumisen peruminen",
    cancel_explanation="Jos et pääse osallistumaan, peru ilmoittautumisesi.",
    seat_goes_on="Vapautuva paikka annetaan seuraavalle jonossa olevalle.",
    cancel_button="Peru ilmoittautuminen",
    event_started="Tilaisuus on jo alkanut, joten ilmoittautumista ei voi enää perua.",
    back="Takaisin ilmoittautumiseen",
    needs="Erityistarpeet",
    needs_heading="Suostumus erityistarpeiden käsittelyyn",
    needs_explanation="Käsittelemme erityistarpeitasi suostumuksesi perusteella. Jos perut "
    "suostumuksen, erityistarpeesi poistetaan heti eikä järjestäjä näe niitä enää.",
    needs_button="Peru suostumus ja poista erityistarpeet",
    needs_withdrawn="Peruit suostumuksen; erityistarpeesi on poistettu.",
)
SWEDISH = Texts(
    page_title="Din anmälan",
    name="Namn",
    event="Evenemang",
    when="Tid",
    where="Plats",
    attendance="Deltagande",
    in_person="På plats",
    remote="På distans",
    status="Status",
    pending_confirmation="Bekräfta din e-postadress med länken i meddelandet vi skickade dit.",
    accepted="Din anmälan har tagits emot och behandlas.",
    seat_reserved="En plats är reserverad för dig.",
    waitlisted="Du står på reservlistan, som nummer {position} i kön.",
    waitlisted_somewhere="Du står på reservlistan.",
    remote_status="Du deltar på distans; din personliga länk till sändningen är klar.",
    cancelled="Din anmälan har annullerats.",
    stream_link="Din personliga länk till sändningen",
    cancel_heading="Annullera anmälan",
    cancel_explanation="Om du inte kan delta, annullera din anmälan.",
    seat_goes_on="Platsen går då till nästa person i kön.",
    cancel_button="Annullera anmälan",
    event_started="Evenemanget har redan börjat, så anmälan kan inte längre annulleras.",
    back="Tillbaka till anmälan",
    needs="Särskilda behov",
    needs_heading="Samtycke till behandling av särskilda behov",
    needs_explanation="Vi behandlar dina särskilda behov med ditt samtycke. Om du återkallar "
    "samtycket raderas dina särskilda behov genast och arrangören ser dem inte längre.",
    needs_button="Återkalla samtycket och radera särskilda behov",
    needs_withdrawn="Du har återkallat samtycket; dina särskilda behov har raderats.",
)
ENGLISH = Texts(
    page_title="Your registration",
    name="Name",
    event="Event",
    when="When",
    where="Where",
    attendance="Attendance",
    in_person="In person",
    remote="Remotely",
    status="Status",
    pending_confirmation="Please confirm your email address with the link in the message "
    "we sent to it.",
    accepted="Your registration has been received and is being processed.",
    seat_reserved="A seat is reserved for you.",
    waitlisted="You are on the waiting list, number {position} in line.",
    waitlisted_somewhere="You are on the waiting list.",
    remote_status="You are attending remotely; your personal stream link is ready.",
    cancelled="Your registration has been cancelled.",
    stream_link="Your personal stream link",
    cancel_heading="Cancel your registration",
    cancel_explanation="If you cannot attend, please cancel your registration.",
    seat_goes_on="Your seat then goes to the next person on the waiting list.",
    cancel_button="Cancel my registration",
    event_started="The event has already started, so the registration can no longer be cancelled.",
    back="Back to your registration",
    needs="Special needs",
    needs_heading="Consent to process your special needs",
    needs_explanation="We process your special needs with your consent. If you withdraw it, "
    "your needs are erased at once and the organiser no longer sees them.",
    needs_button="Withdraw consent and erase my needs",
    needs_withdrawn="You withdrew your consent; your special needs have been erased.",
)
TEXTS = {Language.FI: FINNISH, Language.SV: SWEDISH, Language.EN: ENGLISH}


@dataclass(frozen=True)
class ManagePage:
    """What the manage page shows about one registration."""

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
    # What a cancellation asked for now would do: CANCEL shows the form.
    cancellation: Cancellation
    # The needs given with consent (shown with a form that withdraws it), and
    # whether a consent was withdrawn (the needs are then gone).
    needs: str | None = None
    needs_consent_withdrawn: bool = False


# ------------------------------------------------------------------ formatting


def when(starts_at: datetime, ends_at: datetime, timezone: str, language: Language) -> str:
    """The event's date and time in its own time zone, as people write it in ``language``.

    fi "perjantai 11.9.2026 klo 9.00-12.00", sv "fredag 11.9.2026 kl. 9.00-12.00",
    en "Friday 11 September 2026, 9:00-12:00" (with an en dash); the zone's name follows.
    """
    where = zone(timezone)
    if where is not None:
        starts_at, ends_at = starts_at.astimezone(where), ends_at.astimezone(where)
    text = format_local_span(starts_at, ends_at, language, WeekdayStyle.LONG)
    return f"{text} ({timezone})"


def status_text(page: ManagePage) -> str:
    """The registration's state as the API reports it, in words."""
    texts = TEXTS[page.language]
    match page.status:
        case Status.SEAT_RESERVED:
            return texts.seat_reserved
        case Status.WAITLISTED:
            if page.waitlist_position is None:
                return texts.waitlisted_somewhere
            return texts.waitlisted.format(position=page.waitlist_position)
        case Status.REMOTE:
            return texts.remote_status
        case Status.CANCELLED:
            return texts.cancelled
        case Status.PENDING_CONFIRMATION:
            return texts.pending_confirmation
        case _:
            return texts.accepted


# --------------------------------------------------------------------- pages


def cancel_action(registration_id: str) -> str:
    """Where the form posts, relative to the manage page (``/manage/{id}``)."""
    return f"{quote(registration_id, safe='')}/cancel"


def withdraw_action(registration_id: str) -> str:
    """Where the needs form posts, relative to the manage page (``/manage/{id}``)."""
    return f"{quote(registration_id, safe='')}/needs"


def back_to_page(registration_id: str, token: str) -> str:
    """The manage page, relative to ``/manage/{id}/cancel`` (works behind any path prefix)."""
    return f"../{quote(registration_id, safe='')}?token={quote(token, safe='')}"


def manage_page(page: ManagePage) -> str:
    texts = TEXTS[page.language]
    rows = [
        (texts.name, escape(f"{page.first_name} {page.last_name}")),
        (texts.event, escape(page.event_title)),
        (texts.when, escape(when(page.starts_at, page.ends_at, page.timezone, page.language))),
        (
            texts.attendance,
            texts.in_person if page.attendance is Attendance.IN_PERSON else texts.remote,
        ),
    ]
    if page.attendance is Attendance.IN_PERSON and page.venue_name:
        place = ", ".join(p for p in (page.venue_name, page.venue_address) if p)
        rows.insert(3, (texts.where, escape(place)))
    link = _stream_link(page.stream_link_url)
    if link is not None and page.status is not Status.CANCELLED:
        rows.append((texts.stream_link, link))
    details = "\n".join(f"<dt>{term}</dt>\n<dd>{value}</dd>" for term, value in rows)
    body = (
        f"<h1>{texts.page_title}</h1>\n"
        f'<p class="status"><span>{texts.status}:</span> {escape(status_text(page))}</p>\n'
        f"<dl>\n{details}\n</dl>\n"
    )
    if page.cancellation is Cancellation.CANCEL:
        explanation = texts.cancel_explanation
        if page.attendance is Attendance.IN_PERSON:
            explanation += f" {texts.seat_goes_on}"
        body += (
            '<section aria-labelledby="cancel-heading">\n'
            f'<h2 id="cancel-heading">{texts.cancel_heading}</h2>\n'
            f"<p>{explanation}</p>\n"
            f'<form method="post" action="{escape(cancel_action(page.registration_id))}">\n'
            f'<input type="hidden" name="token" value="{escape(page.token)}">\n'
            f'<button type="submit">{texts.cancel_button}</button>\n'
            "</form>\n</section>\n"
        )
    elif page.cancellation is Cancellation.EVENT_STARTED:
        body += f"<p>{texts.event_started}</p>\n"
    body += _needs_section(page, texts)
    return _document(page.language, f"{texts.page_title}: {page.event_title}", body)


def _needs_section(page: ManagePage, texts: Texts) -> str:
    """The needs given and the form that withdraws the consent, or that it was withdrawn."""
    if page.needs_consent_withdrawn:
        content = f"<p>{texts.needs_withdrawn}</p>\n"
    elif page.needs is not None:
        content = (
            f"<p><strong>{texts.needs}:</strong> {escape(page.needs)}</p>\n"
            f"<p>{texts.needs_explanation}</p>\n"
            f'<form method="post" action="{escape(withdraw_action(page.registration_id))}">\n'
            f'<input type="hidden" name="token" value="{escape(page.token)}">\n'
            f'<button type="submit">{texts.needs_button}</button>\n'
            "</form>\n"
        )
    else:
        return ""
    return (
        '<section aria-labelledby="needs-heading">\n'
        f'<h2 id="needs-heading">{texts.needs_heading}</h2>\n{content}</section>\n'
    )


def event_started_page(language: Language, registration_id: str, token: str) -> str:
    """The answer to a cancellation once the event has started (HTTP 409)."""
    texts = TEXTS[language]
    back = escape(back_to_page(registration_id, token))
    body = (
        f"<h1>{texts.cancel_heading}</h1>\n"
        f"<p>{texts.event_started}</p>\n"
        f'<p><a href="{back}">{texts.back}</a></p>\n'
    )
    return _document(language, texts.cancel_heading, body)


_ERRORS: dict[int, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    404: (
        ("Sivua ei löytynyt", "Sidan hittades inte", "Page not found"),
        (
            "Tarkista, että avasit koko linkin sähköpostistasi.",
            "Kontrollera att du öppnade hela länken i ditt e-postmeddelande.",
            "Please check that you opened the whole link from your email.",
        ),
    ),
    410: (
        (
            "Ilmoittautumisen tiedot on poistettu",
            "Anmälans uppgifter har raderats",
            "The registration's data was erased",
        ),
        (
            "Ilmoittautumisen henkilötiedot on poistettu, eikä tämä linkki enää toimi.",
            "Anmälans personuppgifter har raderats och länken fungerar inte längre.",
            "The personal data of this registration was erased; this link no longer works.",
        ),
    ),
    503: (
        (
            "Palvelu ei ole juuri nyt käytettävissä",
            "Tjänsten är inte tillgänglig just nu",
            "The service is not available right now",
        ),
        (
            "Mitään ei muutettu. Yritä hetken kuluttua uudelleen.",
            "Ingenting ändrades. Försök igen om en stund.",
            "Nothing was changed. Please try again in a moment.",
        ),
    ),
}
_GENERIC_ERROR = (
    ("Jokin meni vikaan", "Något gick fel", "Something went wrong"),
    (
        "Yritä hetken kuluttua uudelleen.",
        "Försök igen om en stund.",
        "Please try again in a moment.",
    ),
)


# ---------------------------------------------------------- confirmation pages

# (Finnish, Swedish, English): the confirmation link may be opened before
# anything tells whose it is, so its pages speak all three.
_CONFIRM_TITLE = (
    "Vahvista sähköpostiosoitteesi",
    "Bekräfta din e-postadress",
    "Confirm your email address",
)
_CONFIRM_TEXT = (
    "Vahvista ilmoittautumisesi painamalla alla olevaa painiketta. Vasta sitten "
    "ilmoittautumisesi otetaan vastaan.",
    "Bekräfta din anmälan med knappen nedan. Först då tas din anmälan emot.",
    "Confirm your registration with the button below. Only then is your registration accepted.",
)
_CONFIRM_BUTTON = (
    "Vahvista ilmoittautuminen",
    "Bekräfta anmälan",
    "Confirm my registration",
)
_EXPIRED = (
    ("Vahvistuslinkki on vanhentunut", "Bekräftelselänken har gått ut", "The link has expired"),
    (
        "Ilmoittautumista ei vahvistettu ajoissa, joten sitä ei otettu vastaan. Voit "
        "ilmoittautua uudelleen, jos ilmoittautuminen on yhä auki.",
        "Anmälan bekräftades inte i tid och togs därför inte emot. Du kan anmäla dig på "
        "nytt om anmälan fortfarande är öppen.",
        "The registration was not confirmed in time, so it was not accepted. You can "
        "register again while registration is open.",
    ),
)
_CLOSED = (
    ("Ilmoittautuminen on päättynyt", "Anmälan har stängt", "Registration has closed"),
    (
        "Ilmoittautuminen päättyi ennen kuin osoitteesi vahvistettiin, joten sitä ei "
        "otettu vastaan.",
        "Anmälan stängde innan din adress bekräftades, så den togs inte emot.",
        "Registration closed before your address was confirmed, so it was not accepted.",
    ),
)


def confirm_page(registration_id: str, token: str) -> str:
    """The page behind the confirmation link: a button, since only a POST confirms.

    Mail scanners and link previews fetch links with GET; they must not
    confirm anybody's address, so this page changes nothing and reads
    nothing (the link is checked from the id alone).
    """
    parts = []
    for index, language in enumerate((Language.FI, Language.SV, Language.EN)):
        heading = "h1" if index == 0 else "h2"
        parts.append(
            f'<section lang="{language.value}">\n'
            f"<{heading}>{_CONFIRM_TITLE[index]}</{heading}>\n<p>{_CONFIRM_TEXT[index]}</p>\n"
            "</section>\n"
        )
    action = escape(quote(registration_id, safe=""))
    button = " / ".join(_CONFIRM_BUTTON)
    parts.append(
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="token" value="{escape(token)}">\n'
        f'<button class="primary" type="submit">{escape(button)}</button>\n'
        "</form>\n"
    )
    return _document(Language.FI, " / ".join(_CONFIRM_TITLE), "".join(parts))


def confirmation_expired_page() -> str:
    """The answer to a confirmation after the registration expired (HTTP 410)."""
    return _trilingual(*_EXPIRED)


def confirmation_closed_page() -> str:
    """The answer to a confirmation after registration closed (HTTP 409)."""
    return _trilingual(*_CLOSED)


def manage_page_of(registration_id: str, manage_token: str) -> str:
    """The manage page, relative to ``/confirm/{id}``: where a confirmation leads."""
    return f"../manage/{quote(registration_id, safe='')}?token={quote(manage_token, safe='')}"


def _trilingual(titles: tuple[str, str, str], explanations: tuple[str, str, str]) -> str:
    parts = []
    for index, language in enumerate((Language.FI, Language.SV, Language.EN)):
        heading = "h1" if index == 0 else "h2"
        parts.append(
            f'<section lang="{language.value}">\n'
            f"<{heading}>{titles[index]}</{heading}>\n<p>{explanations[index]}</p>\n"
            "</section>\n"
        )
    return _document(Language.FI, " / ".join(titles), "".join(parts))


def error_page(status: int) -> str:
    """A page for a wrong link (404) or a failure, in all three languages.

    The same for every wrong link: it never tells whether a registration exists.
    """
    titles, explanations = _ERRORS.get(status, _GENERIC_ERROR)
    return _trilingual(titles, explanations)


def page_response(status: int, html: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """An HTML page with the headers every manage page has (no-store, no-referrer, noindex)."""
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def error_page_response(status: int, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The trilingual error page; for 404 the same bytes whatever was not found."""
    return page_response(status, error_page(status), headers)


def _stream_link(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return f'<a href="{escape(url)}">{escape(url)}</a>'


def _document(language: Language, title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        f'<html lang="{language.value}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{_STYLE}</style>\n"
        f"</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )

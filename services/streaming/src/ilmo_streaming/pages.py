"""The short pages a viewer sees when their link does not lead to the stream (yet).

Each page says the same thing in Finnish, Swedish and English (the service
does not know the viewer's language: it stores nothing personal), with times
in the event's own time zone. Everything inserted is HTML-escaped, and no
page repeats the link's token or anything else from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ilmo_event_contracts import Language
from ilmo_shared.localized_time import WeekdayStyle, at_time, format_date, format_time
from ilmo_streaming.domain import EventStream

_LANGUAGES = (Language.FI, Language.SV, Language.EN)


@dataclass(frozen=True)
class Page:
    """A page: its title and one paragraph per language."""

    title: str
    paragraphs: dict[Language, str]
    heading: str | None = None


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_time(moment: datetime, timezone: str, language: Language) -> str:
    """``moment`` in ``timezone`` as people write it in ``language``, with the zone named.

    E.g. ``perjantaina 18.9.2026 klo 08.30 (Europe/Helsinki)``, to follow "opens";
    a zone nobody knows is shown in UTC.
    """
    zone = _zone(timezone)
    local = moment.astimezone(zone)
    date = format_date(local, language, WeekdayStyle.ESSIVE)
    time = format_time(local, language, two_digit_hour=True)
    text = f"on {date} at {time}" if language is Language.EN else at_time(date, time, language)
    return f"{text} ({timezone if isinstance(zone, ZoneInfo) else 'UTC'})"


def not_open_yet(stream: EventStream) -> Page:
    def when(language: Language) -> str:
        return local_time(stream.opens_at, stream.timezone, language)

    return Page(
        title="Lähetys ei ole vielä alkanut · Sändningen har inte börjat · Not open yet",
        heading=stream.title.fi,
        paragraphs={
            Language.FI: f"Lähetys avautuu {when(Language.FI)}. Avaa linkki silloin uudelleen.",
            Language.SV: f"Sändningen öppnas {when(Language.SV)}. Öppna länken igen då.",
            Language.EN: f"The stream opens {when(Language.EN)}. Open this link again then.",
        },
    )


def ended(stream: EventStream) -> Page:
    return Page(
        title="Lähetys on päättynyt · Sändningen har avslutats · The stream has ended",
        heading=stream.title.fi,
        paragraphs={
            Language.FI: "Lähetys on päättynyt, eikä linkki enää toimi.",
            Language.SV: "Sändningen har avslutats och länken fungerar inte längre.",
            Language.EN: "The stream has ended and this link no longer works.",
        },
    )


def revoked() -> Page:
    return Page(
        title="Linkki on peruttu · Länken har återkallats · Link revoked",
        paragraphs={
            Language.FI: "Tämä katselulinkki on peruttu, koska ilmoittautuminen peruttiin "
            "tai sen tiedot poistettiin.",
            Language.SV: "Den här tittarlänken har återkallats eftersom anmälan avbokades "
            "eller dess uppgifter raderades.",
            Language.EN: "This viewing link was revoked because the registration was cancelled "
            "or its data erased.",
        },
    )


def not_found() -> Page:
    return Page(
        title="Linkkiä ei löydy · Länken hittades inte · Link not found",
        paragraphs={
            Language.FI: "Katselulinkkiä ei löydy. Tarkista, että linkki on kopioitu kokonaan.",
            Language.SV: "Tittarlänken hittades inte. Kontrollera att hela länken kopierades.",
            Language.EN: "This viewing link was not found. Check that the whole link was copied.",
        },
    )


def unavailable() -> Page:
    return Page(
        title="Palvelu ei ole käytettävissä · Tjänsten är inte tillgänglig · Unavailable",
        paragraphs={
            Language.FI: "Palvelu ei juuri nyt vastaa. Yritä hetken kuluttua uudelleen.",
            Language.SV: "Tjänsten svarar inte just nu. Försök igen om en stund.",
            Language.EN: "The service is not answering right now. Please try again shortly.",
        },
    )


def failed() -> Page:
    """Anything else that went wrong with a request for a link (e.g. a wrong method)."""
    return Page(
        title="Jokin meni vikaan · Något gick fel · Something went wrong",
        paragraphs={
            Language.FI: "Linkin avaaminen ei onnistunut. Yritä hetken kuluttua uudelleen.",
            Language.SV: "Länken kunde inte öppnas. Försök igen om en stund.",
            Language.EN: "The link could not be opened. Please try again shortly.",
        },
    )


def render(page: Page) -> str:
    """The page as a small, self-contained HTML document."""
    heading = f"<h1>{escape(page.heading)}</h1>\n" if page.heading else ""
    paragraphs = "\n".join(
        f'<p lang="{language.value}">{escape(page.paragraphs[language])}</p>'
        for language in _LANGUAGES
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="fi">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{escape(page.title)}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;"
        "padding:0 1em;line-height:1.5}</style>\n"
        f"</head>\n<body>\n{heading}{paragraphs}\n</body>\n</html>\n"
    )

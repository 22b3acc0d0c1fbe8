"""The short pages a viewer sees when their link does not lead to the stream (yet).

Each page says the same thing in Finnish, Swedish and English, one paragraph
per language with its ``lang`` attribute: the service does not know the
viewer's language (it stores nothing personal). The texts are gettext
messages in one template per page (``templates/<page>.html``: its ``title``
and ``message`` blocks, English as written), translated from the package's
catalogues (``locale/<lang>/LC_MESSAGES/messages.po``, :mod:`ilmo_shared.i18n`);
``document.html`` puts the three together. Times are in the event's own time
zone. Everything inserted is HTML-escaped, and no page repeats the link's
token or anything else from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment
from markupsafe import Markup, escape

from ilmo_event_contracts import Language
from ilmo_shared.i18n import environment
from ilmo_shared.localized_time import WeekdayStyle, at_time, format_date, format_time, zone_name
from ilmo_streaming import CATALOGUE
from ilmo_streaming.domain import EventStream

# The order the languages are shown in; the page itself is Finnish first.
_LANGUAGES = (Language.FI, Language.SV, Language.EN)
_TITLE_SEPARATOR = " · "


@dataclass(frozen=True)
class Page:
    """A page: its title and one paragraph per language, both already HTML."""

    title: Markup
    paragraphs: dict[Language, Markup]
    heading: str | None = None


@cache
def _templates(language: Language) -> Environment:
    return environment(CATALOGUE, language)


def _block(language: Language, page: str, block: str, values: Mapping[str, Any]) -> Markup:
    """One block of a page's template in ``language``: autoescaped HTML."""
    template = _templates(language).get_template(f"{page}.html")
    rendered = "".join(template.blocks[block](template.new_context(dict(values))))
    return Markup(rendered.strip())  # noqa: S704 - the template's own autoescaped output


def _page(
    name: str,
    heading: str | None = None,
    values: Mapping[Language, Mapping[str, Any]] | None = None,
) -> Page:
    """The page ``name`` in every language, with the values its texts need in each."""

    def of(language: Language) -> Mapping[str, Any]:
        return (values or {}).get(language, {})

    titles = [_block(language, name, "title", of(language)) for language in _LANGUAGES]
    return Page(
        title=escape(_TITLE_SEPARATOR).join(titles),
        paragraphs={
            language: _block(language, name, "message", of(language)) for language in _LANGUAGES
        },
        heading=heading,
    )


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_time(moment: datetime, timezone: str, language: Language) -> str:
    """``moment`` in ``timezone`` as people write it in ``language``, with the zone named.

    E.g. ``perjantaina 18.9.2026 klo 08.30 (Suomen aikaa)``, to follow "opens":
    the zone in words, as in the mails; a zone nobody knows is shown in UTC.
    """
    zone = _zone(timezone)
    local = moment.astimezone(zone)
    date = format_date(local, language, WeekdayStyle.ESSIVE)
    time = format_time(local, language, two_digit_hour=True)
    text = f"on {date} at {time}" if language is Language.EN else at_time(date, time, language)
    return f"{text} ({zone_name(timezone, language) if isinstance(zone, ZoneInfo) else 'UTC'})"


def not_open_yet(stream: EventStream) -> Page:
    return _page(
        "not_open_yet",
        heading=stream.title.fi,
        values={
            language: {"when": local_time(stream.opens_at, stream.timezone, language)}
            for language in _LANGUAGES
        },
    )


def ended(stream: EventStream) -> Page:
    return _page("ended", heading=stream.title.fi)


def cancelled(stream: EventStream) -> Page:
    """The event was cancelled: the link leads nowhere any more."""
    return _page("cancelled", heading=stream.title.fi)


def revoked() -> Page:
    return _page("revoked")


def not_found() -> Page:
    return _page("not_found")


def unavailable() -> Page:
    return _page("unavailable")


def failed() -> Page:
    """Anything else that went wrong with a request for a link (e.g. a wrong method)."""
    return _page("failed")


def render(page: Page) -> str:
    """The page as a small, self-contained HTML document."""
    return (
        _templates(Language.FI)
        .get_template("document.html")
        .render(
            title=page.title,
            heading=page.heading,
            paragraphs=[(language.value, page.paragraphs[language]) for language in _LANGUAGES],
        )
    )

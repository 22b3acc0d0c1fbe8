"""Texts in Finnish, Swedish and English from gettext catalogues, and the visitor's language.

Every text a person reads (pages, mails, problem details) is written in the
source as English and marked with ``_()`` (Python) or ``{% trans %}`` /
``_()`` (Jinja2's i18n extension). Translators work on standard gettext
files, one per package and language: ``<package>/locale/<lang>/LC_MESSAGES/
messages.po``, which Babel's ``pybabel extract`` / ``update`` keep in step
with the source (``make messages``). English needs no catalogue: its text is
the message id.

The ``.po`` files are compiled in memory when a catalogue is loaded, so no
binary ``.mo`` file is kept in the repository or built in a separate step;
a message marked fuzzy does not count as translated. ``untranslated`` is
what the test that fails on a missing translation asks.

``negotiate`` picks the language of a request from ``Accept-Language``
(RFC 9110 section 12.5.4, quality values honoured), falling back to Finnish.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from gettext import NullTranslations
from importlib.resources import files
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ilmo_event_contracts import Language

DOMAIN = "messages"
DEFAULT_LANGUAGE = Language.FI
# The languages a translator writes; English is the source text itself.
TRANSLATED = (Language.FI, Language.SV)
# How ``pybabel extract`` and ``untranslated`` find the texts of a package.
EXTRACTION = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
]
EXTRACTION_OPTIONS = {
    "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"},
    "**/templates/**.txt": {"extensions": "jinja2.ext.i18n", "trimmed": "true"},
}


def locale_directory(package: str) -> Path:
    """Where ``package`` keeps its catalogues (``<package>/locale``)."""
    return Path(str(files(package).joinpath("locale")))


@cache
def translations(package: str, language: Language) -> NullTranslations:
    """The compiled catalogue of ``package`` in ``language`` (English: the ids themselves).

    Cached: a catalogue is read once per process.
    """
    if language is Language.EN:
        return NullTranslations()
    po_file = locale_directory(package) / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=language.value, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def _(message: str) -> str:
    """Marks a text for extraction where it is written; ``translate`` looks it up later.

    For texts in Python that are chosen before the reader's language is
    known (a problem's title, a status name).
    """
    return message


def translate(package: str, language: Language, message: str, **values: Any) -> str:
    """``message`` of ``package`` in ``language``, with ``%(name)s`` values filled in."""
    text = translations(package, language).gettext(message)
    return text % values if values else text


def environment(package: str, language: Language, **globals_: Any) -> Environment:
    """A Jinja2 environment for ``package``'s templates, speaking ``language``.

    One environment per language, because installed translations belong to
    the environment; HTML autoescaped, undefined names an error, ``{% trans %}``
    trimmed as the extraction trims it.
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Whitespace in ``{% trans %}`` collapsed as ``pybabel extract`` (``EXTRACTION_OPTIONS``)
    # does it: otherwise a text that spans lines is looked up under an id that
    # no catalogue has, and shows in English.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(package, language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(globals_, language=language.value)
    return env


def negotiate(accept_language: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The best of fi, sv and en for an ``Accept-Language`` header; ``default`` if none fits.

    ``sv-FI;q=0.9, en;q=0.8`` is Swedish; ``*`` or an unknown language gives
    the default. Equal qualities keep the header's order.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if negative_quality < 0 and primary in Language._value2member_map_:
            return Language(primary)
    return default


def untranslated(package: str, source: Path) -> dict[Language, list[str]]:
    """Per translated language, the texts of ``source`` with no translation (or a fuzzy one)."""
    wanted = sorted({_message_id(found[2]) for found in _extract(source)})
    missing: dict[Language, list[str]] = {}
    for language in TRANSLATED:
        po_file = locale_directory(package) / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po_file.open("rb") as file:
            catalog = read_po(file, locale=language.value)
        gaps = []
        for message_id in wanted:
            message = catalog.get(message_id)
            strings = message.string if message is not None else ""
            texts = strings if isinstance(strings, tuple) else (strings,)
            if message is None or message.fuzzy or not all(texts):
                gaps.append(message_id)
        if gaps:
            missing[language] = gaps
    return missing


def _extract(source: Path) -> Iterable[tuple[Any, ...]]:
    return extract_from_dir(str(source), method_map=EXTRACTION, options_map=EXTRACTION_OPTIONS)


def _message_id(message: str | tuple[str, ...]) -> str:
    """A plural message is found in a catalogue by its singular form."""
    return message if isinstance(message, str) else message[0]

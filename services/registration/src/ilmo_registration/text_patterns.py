"""What the OpenAPI document states about text input: patterns that admit what the API accepts.

The validators of ``schemas`` trim strings and then refuse control
characters, and a blank optional text means "none". JSON Schema cannot
trim, so each pattern here describes the untrimmed input: any whitespace at
either end, then the text itself, which must contain a character that is
not whitespace and no forbidden one. A client (or a generated one) that
checks its input against the document then gets the same verdict as the
service, not a 422 it could not foresee.

Two kinds of whitespace count. Pydantic's ``strip_whitespace`` trims
Unicode's White_Space characters (``TRIMMED``); whether an optional text is
blank is Python's ``str.strip`` (``BLANK``), which also removes the four
separator controls U+001C to U+001F.

The patterns are written for both ECMA-262 (what JSON Schema names) and
Python's ``re``: character classes of ``\\xNN`` and ``\\uNNNN`` escapes only,
no ``\\s`` (whose members differ between the two). ``maxLength`` in the
document counts the untrimmed input, so it is at most as lenient as the
service.
"""

from __future__ import annotations

from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES

from ilmo_registration.catalogue import TIMEZONE_NAME

# What pydantic's ``strip_whitespace`` trims: Unicode's White_Space characters.
TRIMMED = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# What ``str.strip`` removes (``str.isspace``): a text of only these is blank.
BLANK = TRIMMED + "\\x1c-\\x1f"
# A single line (a name, a title, an address): no control character (Unicode
# category Cc) and no line or paragraph separator (Zl, Zp).
SINGLE_LINE_FORBIDDEN = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
# Paragraphs (a description, needs): control characters but tab and line breaks.
PARAGRAPHS_FORBIDDEN = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"


def text_pattern(forbidden: str, *, blank: bool = False) -> str:
    """Text with none of ``forbidden`` once trimmed, and something left; ``blank``: or blank.

    After any whitespace, a character that is neither whitespace nor
    forbidden, then none that is forbidden, but for whitespace at the end.
    """
    text = f"^[{TRIMMED}]*[^{TRIMMED}{forbidden}][^{forbidden}]*[{TRIMMED}]*$"
    return f"^[{BLANK}]*$|{text}" if blank else text


def text_schema(max_length: int, forbidden: str) -> dict[str, Any]:
    """The JSON Schema of a required text of at most ``max_length`` characters."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": text_pattern(forbidden),
    }


def optional_text_schema(max_length: int, forbidden: str) -> dict[str, Any]:
    """The JSON Schema of an optional text: null or blank (both: none), or the text."""
    return {
        "anyOf": [
            {
                "type": "string",
                "maxLength": max_length,
                "pattern": text_pattern(forbidden, blank=True),
            },
            {"type": "null"},
        ]
    }


# The catalogue's rule for the stream, feedback and recording addresses
# (``catalogue.is_https_url``), on the untrimmed input: the scheme https in any
# case, then after the optional user information a host name, which is not
# empty once the whole address is trimmed. A host in brackets (an IPv6
# address) is not described: the document is stricter there than the service.
_HOST = f"[^/?#@:\\[\\]{SINGLE_LINE_FORBIDDEN}]"
_VISIBLE_HOST = f"[^/?#@:\\[\\]{SINGLE_LINE_FORBIDDEN}{TRIMMED}]"
# Or plain http to this machine itself (127.0.0.1 or localhost, any port), which
# browsers treat as secure: a developer's local origin (deploy/local/hls-origin.sh).
_LOOPBACK = "(?:127\\.0\\.0\\.1|[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt])"
HTTPS_URL_PATTERN = (
    f"^[{TRIMMED}]*(?:[Hh][Tt][Tt][Pp][Ss]://(?:[^/?#{SINGLE_LINE_FORBIDDEN}]*@)?"
    f"(?:{_HOST}+[:/?#][^{SINGLE_LINE_FORBIDDEN}]*|{_HOST}*{_VISIBLE_HOST}{_HOST}*)"
    f"|[Hh][Tt][Tt][Pp]://(?:[^/?#{SINGLE_LINE_FORBIDDEN}]*@)?{_LOOPBACK}(?::[0-9]*)?"
    f"(?:[/?#][^{SINGLE_LINE_FORBIDDEN}]*)?)"
    f"[{TRIMMED}]*$"
)
# Blank (no address), or an https URL.
OPTIONAL_HTTPS_URL_PATTERN = f"^[{BLANK}]*$|{HTTPS_URL_PATTERN}"

# The catalogue's rule for time zone names (``catalogue.zone``), untrimmed;
# whether the zone exists is the time zone database's answer.
TIMEZONE_PATTERN = f"^[{TRIMMED}]*{TIMEZONE_NAME}[{TRIMMED}]*$"


def _in_any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)


# An address the service takes (email-validator, behind pydantic's EmailStr)
# has a domain that is no special-use name (RFC 6761: ``.test``, ``.local``…),
# which ``format: email`` alone allows.
SPECIAL_USE_DOMAIN = (
    "\\.(?:" + "|".join(_in_any_case(name) for name in sorted(SPECIAL_USE_DOMAIN_NAMES)) + ")$"
)
EMAIL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "email",
    "not": {"pattern": SPECIAL_USE_DOMAIN},
}

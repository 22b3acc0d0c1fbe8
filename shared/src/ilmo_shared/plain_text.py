"""An organiser's plain text (a message, a cancellation note) as written: paragraphs of lines.

The mails and the console's preview show it the same way: a blank line
starts a paragraph, a single line break stays a line break, and nothing in
it is markup (templates escape each line).
"""

from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def paragraphs(text: str) -> list[list[str]]:
    """``text``'s paragraphs, each its lines (any of ``\\r\\n``, ``\\r``, ``\\n`` ends a line)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return [
        [line.rstrip() for line in block.strip("\n").split("\n")]
        for block in _BLANK_LINES.split(lines)
        if block.strip()
    ]

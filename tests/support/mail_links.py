"""The links people follow from their mails: the manage page and the personal stream link.

Browser tests and ``tests.screenshots`` open pages the way a registrant
reaches them, from the link in the mail the SMTP sink received.
"""

from __future__ import annotations

import re

from tests.support.smtp import ReceivedMail

MANAGE_LINK = re.compile(r"https?://[^\s\"'<>]+/manage/[0-9a-f-]{36}\?token=[A-Za-z0-9_-]+")
WATCH_LINK = re.compile(r"https?://[^\s\"'<>]+/watch/[A-Za-z0-9_-]+")


def _link(pattern: re.Pattern[str], mail: ReceivedMail, what: str) -> str:
    found = pattern.search(mail.text())
    assert found is not None, f"no {what} in the {mail.kind} mail:\n{mail.text()}"
    return found.group(0)


def manage_link_in(mail: ReceivedMail) -> str:
    """The manage page link of a mail (every mail about a registration has one)."""
    return _link(MANAGE_LINK, mail, "manage link")


def watch_link_in(mail: ReceivedMail) -> str:
    """The personal stream link of a "stream link" mail."""
    return _link(WATCH_LINK, mail, "stream link")

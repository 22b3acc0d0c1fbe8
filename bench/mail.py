"""The test SMTP server (``tests/support/smtp.py``), timing each mail instead of keeping it.

``SmtpTestServer`` keeps every message it takes; a benchmark run takes tens of
thousands of mails, so this subclass replaces its one storing hook: it reads
only the headers (kind and registration), notes the arrival time, counts the
bytes, and drops the message; of a "confirm your address" mail it reads the
body too and hands its link on (``confirmations``), as a person reads it.
Everything else (aiosmtpd in its own thread, a free port, refusal switches)
is the test server's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32, default
from typing import cast

from tests.support.confirmation import confirmation_link_in
from tests.support.smtp import KIND_HEADER, REGISTRATION_HEADER, ReceivedMail, SmtpTestServer

MailSink = Callable[[float, str | None, str | None], None]
# (arrival time, registration id, confirmation link) of a "confirm your address" mail.
ConfirmationSink = Callable[[float, str, str], None]
CONFIRM_ADDRESS = "confirm_address"


class TimedSmtpServer(SmtpTestServer):
    """Reports (arrival time, registration id, kind) of each mail to ``sink``.

    ``sink`` runs in the SMTP server's thread: it must be thread-safe
    (``CompletionTracker.on_mail`` is).
    """

    def __init__(
        self,
        sink: MailSink,
        port: int | None = None,
        *,
        confirmations: ConfirmationSink | None = None,
    ) -> None:
        super().__init__(port)
        self._sink = sink
        # The one kind whose body is read: its link is what the person follows.
        self._confirmations = confirmations
        self._parser = BytesHeaderParser(policy=compat32)
        self.count = 0
        self.bytes = 0

    def _store(self, mail: ReceivedMail) -> None:
        at = time.time()
        headers = self._parser.parsebytes(mail.data)
        kind = headers.get(KIND_HEADER)
        registration_id = headers.get(REGISTRATION_HEADER)
        with self._lock:
            self.count += 1
            self.bytes += len(mail.data)
        rid = None if registration_id is None else str(registration_id).strip()
        kind_text = None if kind is None else str(kind).strip()
        self._sink(at, rid, kind_text)
        if self._confirmations is not None and kind_text == CONFIRM_ADDRESS and rid is not None:
            message = message_from_bytes(mail.data, policy=default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(("plain",))
            text = str(cast(EmailMessage, body).get_content()) if body is not None else ""
            link = confirmation_link_in(text)
            if link is not None:
                self._confirmations(at, rid, link)

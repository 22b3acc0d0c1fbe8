"""The test SMTP server (``tests/support/smtp.py``), timing each mail instead of keeping it.

``SmtpTestServer`` keeps every message it takes; a benchmark run takes tens of
thousands of mails, so this subclass replaces its one storing hook: it reads
only the headers (kind and registration), notes the arrival time, counts the
bytes, and drops the message. Everything else (aiosmtpd in its own thread, a
free port, refusal switches) is the test server's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32

from tests.support.smtp import KIND_HEADER, REGISTRATION_HEADER, ReceivedMail, SmtpTestServer

MailSink = Callable[[float, str | None, str | None], None]


class TimedSmtpServer(SmtpTestServer):
    """Reports (arrival time, registration id, kind) of each mail to ``sink``.

    ``sink`` runs in the SMTP server's thread: it must be thread-safe
    (``CompletionTracker.on_mail`` is).
    """

    def __init__(self, sink: MailSink, port: int | None = None) -> None:
        super().__init__(port)
        self._sink = sink
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
        self._sink(
            at,
            None if registration_id is None else str(registration_id).strip(),
            None if kind is None else str(kind).strip(),
        )

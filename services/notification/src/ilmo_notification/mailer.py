"""SMTP delivery with aiosmtplib: one connection per worker, reused while there is work.

Failures are classified for the retry rules (``domain.FailureKind``) and
described by the SMTP reply code and the exception's type only: a server's
reply text may quote the recipient's address, so it is never kept or logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPException,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from ilmo_notification.domain import FailureKind
from ilmo_notification.metrics import SMTP_SECONDS


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


class SendError(Exception):
    """A failed mail transaction: what kind of failure, and a description without personal data."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


def classify(error: BaseException) -> SendError:
    """The ``SendError`` an aiosmtplib (or socket) error stands for."""
    name = type(error).__name__
    if isinstance(error, SMTPRecipientsRefused):
        codes = sorted({refused.code for refused in error.recipients})
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        kind = FailureKind.PERMANENT if permanent else FailureKind.TRANSIENT
        return SendError(kind, f"recipient refused, smtp {'/'.join(map(str, codes))}")
    if isinstance(
        error,
        SMTPConnectError
        | SMTPServerDisconnected
        | SMTPTimeoutError
        | SMTPHeloError
        | SMTPAuthenticationError
        | SMTPNotSupported
        | OSError,
    ):
        code = getattr(error, "code", None)
        return SendError(FailureKind.CONNECTION, f"{name}" + (f", smtp {code}" if code else ""))
    if isinstance(error, SMTPResponseException):
        if error.code == 421:  # the server is closing the connection
            return SendError(FailureKind.CONNECTION, f"{name}, smtp {error.code}")
        return SendError(FailureKind.TRANSIENT, f"{name}, smtp {error.code}")
    if isinstance(error, ValueError):  # an address aiosmtplib will not put on the wire
        return SendError(FailureKind.PERMANENT, name)
    return SendError(FailureKind.TRANSIENT, name)


class SmtpSession:
    """One SMTP connection, opened on first use and reopened after a failure."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            start_tls=settings.starttls,
            timeout=settings.timeout,
            username=settings.username,
            password=settings.password,
        )
        await client.connect()
        # Learn the server's extensions now: the SMTPUTF8 check of ``send`` reads them.
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        self._client = client
        return client

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """One mail transaction, over within the SMTP timeout; raises ``SendError``.

        aiosmtplib's timeout bounds each command; the whole transaction is
        bounded too, because the dispatcher's sending lease counts on an
        attempt being over (sent or failed) well before the lease ends.
        """
        started = time.perf_counter()
        # An internationalised address (RFC 6531) needs SMTPUTF8 from the server.
        utf8 = not recipient.isascii()
        try:
            async with asyncio.timeout(self._settings.timeout):
                client = await self._connected()
                if utf8 and not client.supports_extension("smtputf8"):
                    raise SendError(
                        FailureKind.PERMANENT, "address needs SMTPUTF8, server lacks it"
                    )
                await client.sendmail(
                    sender, [recipient], message, mail_options=["SMTPUTF8"] if utf8 else None
                )
        except SendError:
            raise
        except Exception as error:
            # Chained exceptions would carry the server's text, and with it the address.
            failure = classify(error)
            if isinstance(error, TimeoutError):
                self._drop()  # mid-transaction: QUIT could wait as long again
            elif failure.kind is FailureKind.CONNECTION:
                await self.close()
            raise failure from None
        finally:
            SMTP_SECONDS.observe(time.perf_counter() - started)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (SMTPException, OSError, TimeoutError):
            client.close()

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.close()


class SmtpMailer:
    """Makes sessions to the configured server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def session(self) -> SmtpSession:
        return SmtpSession(self.settings)

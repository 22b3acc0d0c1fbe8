"""SMTP delivery with aiosmtplib: one connection per worker, reused while there is work.

Failures are classified for the retry rules (``domain.FailureKind``) and
described by the SMTP reply code and the exception's type only: a server's
reply text may quote the recipient's address, so it is never kept or logged.

A connection is encrypted unless the settings say ``none``: STARTTLS is
required (aiosmtplib's own default only uses it when offered, so a server, or
anyone in between, that leaves it out would get the mail and the password in
clear), or TLS from the first byte. The server's certificate is verified.
Failing to secure the connection is a connection failure, never a reason to
go on in clear.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
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


class SmtpTls(StrEnum):
    """How the connection to the SMTP server is encrypted (``ILMO_SMTP_TLS``)."""

    # Plain connection upgraded with STARTTLS before anything else; required.
    STARTTLS = "starttls"
    # TLS from the first byte (submissions port 465).
    IMPLICIT = "implicit"
    # No encryption: only for a local sink, and never with a password.
    NONE = "none"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: SmtpTls = SmtpTls.STARTTLS
    # PEM bundle of the CAs to trust instead of the system's (a private CA).
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    """The client side of TLS: certificate and host name verified; None for plain SMTP."""
    if settings.tls is SmtpTls.NONE:
        return None
    return ssl.create_default_context(cafile=settings.ca_file)


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

    def __init__(self, settings: SmtpSettings, tls: ssl.SSLContext | None) -> None:
        self._settings = settings
        self._tls = tls
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.tls is SmtpTls.IMPLICIT,
            # Not aiosmtplib's STARTTLS-if-offered: ``_open`` requires it.
            start_tls=False,
            tls_context=self._tls,
            timeout=settings.timeout,
        )
        await client.connect()
        try:
            await self._open(client)
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    async def _open(self, client: aiosmtplib.SMTP) -> None:
        """EHLO, STARTTLS when required, then AUTH: nothing private crosses in clear.

        Ends with the server's extensions known (EHLO, again over TLS after
        STARTTLS, RFC 3207), which the SMTPUTF8 check of ``send`` reads.
        """
        await client.ehlo()
        if self._settings.tls is SmtpTls.STARTTLS:
            if not client.supports_extension("starttls"):
                raise SendError(FailureKind.CONNECTION, "server does not offer STARTTLS")
            try:
                await client.starttls()
            except SMTPResponseException as refusal:
                raise SendError(
                    FailureKind.CONNECTION, f"STARTTLS refused, smtp {refusal.code}"
                ) from None
            await client.ehlo()
        if self._settings.username is not None:
            await client.login(self._settings.username, self._settings.password or "")

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
    """Makes sessions to the configured server, all with one TLS context (built once)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tls = tls_context(settings)

    def session(self) -> SmtpSession:
        return SmtpSession(self.settings, self._tls)

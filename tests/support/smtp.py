"""A real SMTP server for tests (aiosmtpd), capturing what it is sent.

It runs in aiosmtpd's ``Controller`` thread, so it keeps answering while a test
blocks its own event loop (e.g. while service processes start). It can be told
to refuse mail for a while (``refuse``: a reply such as ``451`` to the next
``n`` DATA commands, or to every one), to refuse recipients for good, or be
taken down and brought back on the same port (``down`` / ``up``) so that
clients get "connection refused" meanwhile.

It can serve STARTTLS or TLS from the first byte with a certificate from a
throwaway CA (``throwaway_ca``), and go without the SMTPUTF8 extension; it
records whether each login and each mail came over TLS.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, free_port, running_services

HOSTNAME = "ilmo-test-smtp.localhost"
KIND_HEADER = "X-Ilmo-Kind"
LANGUAGE_HEADER = "X-Ilmo-Language"
REGISTRATION_HEADER = "X-Ilmo-Registration"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server took it."""

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    # What the client said with MAIL FROM (e.g. SMTPUTF8), and whether it came over TLS.
    mail_options: tuple[str, ...] = ()
    over_tls: bool = False

    @cached_property
    def message(self) -> EmailMessage:
        """Parsed once: the chaos run's 2000 people each look through every mail for theirs."""
        # From text: Python's bytes parser does not read UTF-8 headers (SMTPUTF8).
        return message_from_string(self.data.decode("utf-8"), policy=default)

    @cached_property
    def kind(self) -> str | None:
        return self.message.get(KIND_HEADER)

    @property
    def language(self) -> str | None:
        return self.message.get(LANGUAGE_HEADER)

    @property
    def registration_id(self) -> str | None:
        return self.message.get(REGISTRATION_HEADER)

    @property
    def message_id(self) -> str | None:
        return self.message.get("Message-ID")

    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(cast(EmailMessage, body).get_content())

    def html(self) -> str:
        body = self.message.get_body(("html",))
        assert body is not None
        return str(cast(EmailMessage, body).get_content())


@dataclass(frozen=True)
class ThrowawayCa:
    """A CA made for one test: its certificate as a PEM file, and a server context it signed."""

    ca_file: Path
    server_context: ssl.SSLContext


def throwaway_ca(directory: Path) -> ThrowawayCa:
    """A new CA, and a certificate from it for the test server's address (127.0.0.1)."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", HOSTNAME)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = directory / "smtp-test-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return ThrowawayCa(ca_file, context)


def _over_tls(server: Any) -> bool:
    """Whether the aiosmtpd session ``server`` talks over TLS (STARTTLS or from the start)."""
    return server.transport is not None and (
        server.transport.get_extra_info("ssl_object") is not None
    )


class _Handler:
    """aiosmtpd hooks (called in the server's thread)."""

    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, _session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self._server._count_transaction()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        refusal = self._server._next_recipient_refusal()
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, _session: Any, envelope: Any
    ) -> str:
        refusal = self._server._next_data_refusal()
        if refusal is not None:
            return refusal
        self._server._store(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                recipients=tuple(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                mail_options=tuple(envelope.mail_options),
                over_tls=_over_tls(server),
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class SmtpTestServer:
    """An SMTP server on a free loopback port; ``received`` holds what it accepted."""

    def __init__(
        self,
        port: int | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        smtputf8: bool = True,
        tls: Literal["starttls", "implicit"] | None = None,
        certificate: ssl.SSLContext | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        # With credentials the server demands AUTH (over plain TCP too: tests only).
        self.credentials = credentials
        self.smtputf8 = smtputf8
        # ``tls`` needs ``certificate`` (a server context, e.g. ``throwaway_ca``).
        self.tls = tls
        self.certificate = certificate
        self.logins: list[str] = []
        self.logins_in_clear: list[str] = []
        # MAIL FROM commands (transactions begun), whether or not a mail followed.
        self.transactions = 0
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []
        self._data_refusals = 0
        self._data_refusal = "451 4.3.0 Try again later"
        self._recipient_refusals = 0
        self._recipient_refusal = "550 5.1.1 No such user"
        self.refused = 0
        self._controller: Controller | None = None

    # ------------------------------------------------------------ life

    def up(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=HOSTNAME,
            enable_SMTPUTF8=self.smtputf8,
            decode_data=False,
            **self._auth_options(),
            **self._tls_options(),
        )
        controller.start()
        self._controller = controller

    def down(self) -> None:
        """Stop listening: clients now get "connection refused"."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _auth_options(self) -> dict[str, Any]:
        if self.credentials is None:
            return {}
        # aiosmtpd counts only STARTTLS as TLS; ``logins_in_clear`` tells the truth.
        return {
            "authenticator": self._authenticate,
            "auth_required": True,
            "auth_require_tls": False,
        }

    def _tls_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        assert self.certificate is not None, "a TLS server needs a certificate"
        if self.tls == "implicit":
            return {"ssl_context": self.certificate}
        return {"tls_context": self.certificate, "require_starttls": True}

    def _authenticate(
        self, server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        login, password = bytes(data.login).decode(), bytes(data.password).decode()
        with self._lock:
            self.logins.append(login)
            if not _over_tls(server):
                self.logins_in_clear.append(login)
        return AuthResult(success=(login, password) == self.credentials)

    # ------------------------------------------------------------ behaviour

    def refuse(self, count: int = 1_000_000, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer ``reply`` to the next ``count`` messages (DATA)."""
        with self._lock:
            self._data_refusals = count
            self._data_refusal = reply

    def refuse_recipients(
        self, count: int = 1_000_000, reply: str = "550 5.1.1 No such user"
    ) -> None:
        with self._lock:
            self._recipient_refusals = count
            self._recipient_refusal = reply

    def accept(self) -> None:
        with self._lock:
            self._data_refusals = 0
            self._recipient_refusals = 0

    def _next_data_refusal(self) -> str | None:
        with self._lock:
            if self._data_refusals <= 0:
                return None
            self._data_refusals -= 1
            self.refused += 1
            return self._data_refusal

    def _next_recipient_refusal(self) -> str | None:
        with self._lock:
            if self._recipient_refusals <= 0:
                return None
            self._recipient_refusals -= 1
            self.refused += 1
            return self._recipient_refusal

    def _count_transaction(self) -> None:
        with self._lock:
            self.transactions += 1

    def _store(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)

    # ------------------------------------------------------------ what arrived

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def matching(
        self, *, registration_id: str | None = None, kind: str | None = None
    ) -> list[ReceivedMail]:
        return [
            mail
            for mail in self.received
            if (registration_id is None or mail.registration_id == registration_id)
            and (kind is None or mail.kind == kind)
        ]

    async def wait_for(
        self,
        count: int,
        *,
        registration_id: str | None = None,
        kind: str | None = None,
        timeout: float = 20.0,
    ) -> list[ReceivedMail]:
        """Wait until at least ``count`` matching mails arrived; return them all."""

        def found() -> list[ReceivedMail]:
            return self.matching(registration_id=registration_id, kind=kind)

        async def enough() -> bool:
            return len(found()) >= count

        await eventually(
            enough,
            what=f"{count} mails ({kind or 'any kind'}, {registration_id or 'anyone'})",
            timeout=timeout,
            interval=0.05,
            detail=lambda: f"got {len(found())} of {count}",
        )
        return found()


@contextmanager
def smtp_server(
    port: int | None = None,
    *,
    credentials: tuple[str, str] | None = None,
    smtputf8: bool = True,
    tls: Literal["starttls", "implicit"] | None = None,
    certificate: ssl.SSLContext | None = None,
) -> Iterator[SmtpTestServer]:
    """A running ``SmtpTestServer``, stopped afterwards."""
    server = SmtpTestServer(
        port, credentials=credentials, smtputf8=smtputf8, tls=tls, certificate=certificate
    )
    server.up()
    try:
        yield server
    finally:
        server.down()


@contextmanager
def services_with_mail(
    infrastructure: IsolatedInfrastructure,
    extra_environment: Mapping[str, str] | None = None,
    *,
    process_type: type[ServiceProcess] = ServiceProcess,
) -> Iterator[tuple[SmtpTestServer, dict[str, ServiceProcess]]]:
    """The four services as processes, sending their mail to a test SMTP server of their own."""
    with (
        smtp_server() as smtp,
        running_services(
            infrastructure,
            extra_environment={
                **(extra_environment or {}),
                "ILMO_SMTP_HOST": smtp.host,
                "ILMO_SMTP_PORT": str(smtp.port),
            },
            process_type=process_type,
        ) as services,
    ):
        yield smtp, services

"""Notification service settings (``ILMO_*`` environment variables)."""

from __future__ import annotations

import ssl
from email.utils import parseaddr
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    Field,
    FilePath,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ilmo_notification.mailer import SmtpTls
from ilmo_shared.settings import Port, Secret, ServiceSettings

Seconds = Annotated[float, Field(gt=0, le=24 * 3600)]


class NotificationSettings(ServiceSettings):
    """Defaults for the notification service; every value can be overridden from the environment.

    ``manage_link_secret`` (``ILMO_MANAGE_LINK_SECRET``, at least 32
    characters, the same value the registration service has) derives the
    manage links written into emails. The service does not start without it
    (``main`` requires it); it is optional here only so that the settings
    object can be built without it, e.g. by tools that read the port.
    """

    http_port: Port = 8083
    operations_port: Port = 9083
    mongodb_database: str = "ilmo_notification"

    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: Port = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # After the credentials, so that its check sees them. Encrypted unless
    # told otherwise: ``none`` is for a local sink only.
    smtp_tls: SmtpTls = SmtpTls.STARTTLS
    # CAs to trust for the server's certificate instead of the system's.
    smtp_ca_file: FilePath | None = None
    smtp_timeout_seconds: Seconds = 30.0
    mail_from: str = "Ilmo <ilmo@localhost>"

    # The registration service as registrants reach it: the base of manage links.
    registration_public_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8081"))
    manage_link_secret: Secret = None

    # Retry budget: attempt n waits min(base * 2**(n-1), max) before attempt n+1.
    mail_max_attempts: int = Field(default=8, ge=1, le=100)
    mail_retry_base_seconds: Seconds = 2.0
    mail_retry_max_seconds: Seconds = 300.0
    # SMTP connections (and so mails in flight) at once.
    mail_concurrency: int = Field(default=4, ge=1, le=64)
    # How often due mails are looked for when nothing wakes the dispatcher.
    mail_poll_seconds: Seconds = 5.0
    # Due mails read by one pass of the dispatcher.
    mail_batch_size: int = Field(default=200, ge=1, le=10_000)
    # A mail found in ``sending`` this long after its attempt started is taken
    # for abandoned (its process died) and sent again with the same Message-ID.
    # It is also how late a registrant's mail can be after a crash mid-send, so
    # it is short: an attempt is over within the SMTP timeout (the mailer bounds
    # the whole transaction), and twice that leaves room for the storage writes.
    mail_sending_lease_seconds: Seconds = 60.0
    # The longest the broadcast scheduler sleeps between looks at its due list
    # (it wakes at the earliest due time, and when something is scheduled).
    schedule_poll_seconds: Seconds = 15.0
    # How often the mails still waiting are counted for the metrics (one query each time).
    mail_waiting_sample_seconds: Seconds = 30.0

    @field_validator("mail_from")
    @classmethod
    def _mail_from_has_an_address(cls, value: str) -> str:
        _name, address = parseaddr(value)
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            raise ValueError("must be an address such as 'Ilmo <ilmo@example.fi>'")
        return value

    @field_validator("smtp_tls")
    @classmethod
    def _no_password_in_clear(cls, value: SmtpTls, info: ValidationInfo) -> SmtpTls:
        credentials = (info.data.get("smtp_username"), info.data.get("smtp_password"))
        if value is SmtpTls.NONE and credentials != (None, None):
            raise ValueError(
                "'none' would send ILMO_SMTP_USERNAME and ILMO_SMTP_PASSWORD in clear;"
                " use 'starttls' or 'implicit'"
            )
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file_holds_certificates(cls, value: FilePath | None) -> FilePath | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except (ssl.SSLError, ValueError) as error:
                raise ValueError("not a PEM bundle of CA certificates") from error
        return value

    @model_validator(mode="after")
    def _credentials_come_in_pairs(self) -> NotificationSettings:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("ILMO_SMTP_USERNAME and ILMO_SMTP_PASSWORD go together")
        if self.mail_sending_lease_seconds < 2 * self.smtp_timeout_seconds:
            raise ValueError(
                "ILMO_MAIL_SENDING_LEASE_SECONDS must be at least twice ILMO_SMTP_TIMEOUT_SECONDS"
            )
        return self

    @property
    def sender_address(self) -> str:
        """The bare address of ``mail_from`` (the SMTP envelope sender)."""
        return parseaddr(self.mail_from)[1]

    @property
    def message_id_domain(self) -> str:
        """The right-hand side of our Message-IDs: the domain of ``mail_from``."""
        return self.sender_address.rsplit("@", 1)[1]

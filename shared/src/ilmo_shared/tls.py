"""TLS to the broker, the database and Redis: one way to build a client's context.

Every connection that leaves the machine verifies the server's certificate
against a CA (the system's, or the private one a setting names) and checks
that the certificate names the host the URL names. There is deliberately no
setting that turns either check off: a certificate that does not verify is a
configuration to fix, not a warning to silence (docs/security.md, "TLS to the
broker, the database, Redis and SMTP").
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from ilmo_shared.settings import BrokerSettings

# MongoDB URL options that would weaken verification: refused in ILMO_MONGODB_URL.
MONGODB_UNVERIFIED_OPTIONS = frozenset(
    {
        "tlsinsecure",
        "tlsallowinvalidcertificates",
        "tlsallowinvalidhostnames",
        "tlsdisableocspendpointcheck",
        "tlsdisablecertificaterevocationcheck",
        "ssl_cert_reqs",
    }
)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def client_context(
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> ssl.SSLContext:
    """A client context that verifies the server and its host name; TLS 1.2 at least.

    ``ca_file`` replaces nothing: without it the system's CAs are trusted; with
    it only that CA (a private CA is the usual case inside a cluster).
    ``cert_file`` (and ``key_file``, unless the key is in the same PEM) is the
    client's own certificate, for servers that ask for one.
    """
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file is not None else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
    return context


def broker_context(settings: BrokerSettings) -> ssl.SSLContext | None:
    """The broker's TLS context over ``amqps://`` (None over ``amqp://``).

    Given even without a CA file: aio-pika's own context would honour a
    ``no_verify_ssl`` in the URL, ours never stops verifying.
    """
    if not settings.amqp_tls:
        return None
    return client_context(
        settings.amqp_ca_file, settings.amqp_client_cert_file, settings.amqp_client_key_file
    )


def url_options(url: str) -> dict[str, str]:
    """A URL's query options, names in lower case (MongoDB's are case-insensitive)."""
    return {name.lower(): value for name, value in parse_qsl(urlsplit(url).query)}


def mongodb_tls_requested(url: str) -> bool | None:
    """What ``tls``/``ssl`` in a MongoDB URL say: True, False, or None when they say nothing.

    ``mongodb+srv://`` URLs are TLS unless they say otherwise, as in every driver.
    """
    options = url_options(url)
    for name in ("tls", "ssl"):
        value = options.get(name, "").lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return True if urlsplit(url).scheme == "mongodb+srv" else None


def mongodb_tls_options(
    url: str, ca_file: Path | None, certificate_key_file: Path | None
) -> dict[str, Any]:
    """PyMongo's keyword arguments for TLS: on when the URL asks for it or a file is set."""
    if mongodb_tls_requested(url) is False or (
        mongodb_tls_requested(url) is None and ca_file is None and certificate_key_file is None
    ):
        return {}
    options: dict[str, Any] = {"tls": True}
    if ca_file is not None:
        options["tlsCAFile"] = str(ca_file)
    if certificate_key_file is not None:
        options["tlsCertificateKeyFile"] = str(certificate_key_file)
    return options

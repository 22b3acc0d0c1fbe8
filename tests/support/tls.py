"""Throwaway certificates for tests that speak real TLS: a CA and the servers it signs.

Each test makes its own CA in a temporary folder, so that "another CA" is a
real second authority whose signature the client must refuse. Servers get a
certificate for ``127.0.0.1`` and ``localhost`` (what the tests connect to),
clients one for client authentication. Keys are EC P-256: quick to make.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=2)
SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1",)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its key, each in its own PEM file, and both in one (``combined``)."""

    certificate: Path
    key: Path
    combined: Path


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA whose certificate is ``certificate`` (the file a client trusts)."""

    name: str
    certificate: Path
    _key: ec.EllipticCurvePrivateKey
    _subject: x509.Name
    _folder: Path

    @classmethod
    def create(cls, folder: Path, name: str = "Ilmo test CA") -> CertificateAuthority:
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        path = folder / "ca.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(name, path, key, subject, folder)

    def issue_server(
        self,
        stem: str = "server",
        names: tuple[str, ...] = SERVER_NAMES,
        addresses: tuple[str, ...] = SERVER_ADDRESSES,
    ) -> IssuedCertificate:
        """A server certificate for ``names`` and ``addresses`` (its subjectAltName)."""
        alternatives: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        return self._issue(
            stem, names[0] if names else stem, alternatives, ExtendedKeyUsageOID.SERVER_AUTH
        )

    def issue_client(self, stem: str = "client", name: str = "ilmo-test") -> IssuedCertificate:
        """A client certificate (for servers that authenticate their clients)."""
        return self._issue(stem, name, [], ExtendedKeyUsageOID.CLIENT_AUTH)

    def _issue(
        self,
        stem: str,
        common_name: str,
        alternatives: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if alternatives:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternatives), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        paths = IssuedCertificate(
            certificate=self._folder / f"{stem}.pem",
            key=self._folder / f"{stem}-key.pem",
            combined=self._folder / f"{stem}-combined.pem",
        )
        paths.certificate.write_bytes(certificate_pem)
        paths.key.write_bytes(key_pem)
        paths.key.chmod(0o644)  # read by servers running as their own user (rabbitmq)
        paths.combined.write_bytes(certificate_pem + key_pem)
        return paths

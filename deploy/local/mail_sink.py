"""SMTP sink for local development and tests.

Listens on ``ILMO_SMTP_HOST``:``ILMO_SMTP_PORT`` (default 127.0.0.1:1025),
accepts every message without authentication or TLS, and stores each one as
an ``.eml`` file in ``ILMO_MAIL_SINK_DIR`` (default ``<repo>/.local/mail``).

Each file holds the message bytes exactly as the client sent them after the
SMTP dot-unstuffing (line endings as received, normally CRLF), preceded by
one ``X-Ilmo-Envelope-From`` header and one ``X-Ilmo-Envelope-To`` header per
envelope recipient, so that tests can check Bcc-style delivery, which the
message headers do not show.

File names are ``<UTC arrival time>-<sequence>-<random>.eml``, for example
``20260527T091500.123456Z-000001-5f0c2a9d41be.eml``: sorting the names sorts
the messages by arrival, and the random part keeps them unique across
restarts. A file appears under its final name only when it is complete (it is
written to a hidden temporary name and then renamed), so a reader polling for
``*.eml`` never sees a partial message.

The log never contains addresses, subjects or bodies: only counts, sizes and
file names. Started and stopped by ``deploy/local/infra.sh``; it can also be
run directly::

    uv run --frozen python deploy/local/mail_sink.py --port 1025
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

LOG = logging.getLogger("ilmo.mail_sink")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025
DEFAULT_MAIL_DIR = REPO_ROOT / ".local" / "mail"
# Announced in the SMTP greeting instead of socket.getfqdn(), which can stall
# for seconds on machines without working reverse DNS.
SERVER_HOSTNAME = "ilmo-mail-sink.localhost"
DATA_SIZE_LIMIT = 32 * 1024 * 1024
MAX_PORT = 65535


@dataclass(frozen=True)
class Settings:
    """Where the sink listens and where it stores messages."""

    host: str
    port: int
    mail_dir: Path


class MailDirHandler:
    """aiosmtpd handler that stores every accepted message as an ``.eml`` file."""

    def __init__(self, mail_dir: Path) -> None:
        """Store messages in ``mail_dir``, which must exist."""
        self._mail_dir = mail_dir
        self._sequence = itertools.count(1)
        self.stored = 0

    # aiosmtpd finds its hooks by these exact names, hence the upper case.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Write the message to disk and accept it, or answer 451 if that fails."""
        raw = envelope.original_content
        if raw is None:  # aiosmtpd always sets it before calling the hook
            return "451 4.3.0 No message content received"
        number = next(self._sequence)
        data = envelope_headers(envelope) + raw
        try:
            name = await asyncio.to_thread(self._write, number, data)
        except OSError as exc:
            LOG.error("could not store message #%d: %s", number, exc.strerror)
            return "451 4.3.0 Could not store the message"
        self.stored += 1
        LOG.info(
            "stored message #%d as %s (%d bytes, %d recipients)",
            number,
            name,
            len(raw),
            len(envelope.rcpt_tos),
        )
        return "250 2.0.0 Message accepted for delivery"

    def _write(self, number: int, data: bytes) -> str:
        """Write ``data`` atomically under a new sortable, unique file name."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{number:06d}-{uuid.uuid4().hex[:12]}.eml"
        final = self._mail_dir / name
        temporary = self._mail_dir / f".{name}.tmp"
        with temporary.open("xb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.replace(final)
        return name


def envelope_headers(envelope: Envelope) -> bytes:
    """Return the envelope sender and recipients as header lines ending in CRLF."""
    lines = [f"X-Ilmo-Envelope-From: <{envelope.mail_from or ''}>"]
    lines.extend(f"X-Ilmo-Envelope-To: <{rcpt}>" for rcpt in envelope.rcpt_tos)
    return "".join(f"{line}\r\n" for line in lines).encode("utf-8")


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Read settings from the command line, falling back to ``ILMO_*`` variables."""
    parser = argparse.ArgumentParser(
        description="Store every mail received over SMTP as an .eml file."
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("ILMO_SMTP_HOST", DEFAULT_HOST),
        help="address to listen on (env ILMO_SMTP_HOST, default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("ILMO_SMTP_PORT", str(DEFAULT_PORT)),
        help="TCP port to listen on (env ILMO_SMTP_PORT, default %(default)s)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("ILMO_MAIL_SINK_DIR", str(DEFAULT_MAIL_DIR))),
        help="directory for the .eml files (env ILMO_MAIL_SINK_DIR, default %(default)s)",
    )
    args = parser.parse_args(argv)
    port: int = args.port
    if not 0 < port <= MAX_PORT:
        parser.error(f"port out of range: {port}")
    host: str = args.host
    mail_dir: Path = args.dir
    return Settings(host=host, port=port, mail_dir=mail_dir.resolve())


async def serve(settings: Settings) -> None:
    """Run the SMTP server until SIGTERM or SIGINT."""
    settings.mail_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = MailDirHandler(settings.mail_dir)

    def protocol() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=SERVER_HOSTNAME,
            loop=loop,
        )

    server = await loop.create_server(protocol, host=settings.host, port=settings.port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    LOG.info(
        "listening on %s:%d, storing messages in %s",
        settings.host,
        settings.port,
        settings.mail_dir,
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        LOG.info("stopped after storing %d messages", handler.stored)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse settings, then serve until stopped."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiosmtpd logs each SMTP command, including MAIL FROM and RCPT TO
    # addresses, at INFO level; keep those out of the log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    settings = parse_settings(argv)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        LOG.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

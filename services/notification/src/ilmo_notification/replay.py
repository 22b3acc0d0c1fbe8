"""``ilmo-notification-replay``: send parked mails again, with a fresh retry budget.

A mail is parked (``failed``, announced by ``notification.failed``) when its
retry budget was spent or the server refused its recipient for good. Once an
operator has fixed the cause (the mail server, a typo corrected by the
registrant's organisation), this puts the mail back in line; the running
service sends it at its next look (within ``ILMO_MAIL_POLL_SECONDS``), with
the same Message-ID. It reads the same ``ILMO_*`` settings as the service.

    ilmo-notification-replay                     # every failed mail
    ilmo-notification-replay <registration id>:<kind> ...
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ilmo_notification.settings import NotificationSettings
from ilmo_notification.storage.mails import MAILS, OPEN_MAILS, replay_failed
from ilmo_shared.settings import load_settings
from ilmo_shared.storage import connect_with

PROGRAM = "ilmo-notification-replay"


async def replay(settings: NotificationSettings, mail_ids: Sequence[str] | None) -> list[str]:
    """Replay failed mails (all, or those named); returns the ids put back in line."""
    client = connect_with(settings)
    try:
        database = client[settings.mongodb_database]
        return await replay_failed(database[MAILS], mail_ids, open_mails=database[OPEN_MAILS])
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Send parked (failed) mails again, with a fresh retry budget."
    )
    parser.add_argument(
        "mail_ids",
        nargs="*",
        metavar="MAIL_ID",
        help="<registration id>:<kind> of a failed mail; every failed mail if none is given",
    )
    args = parser.parse_args(argv)
    wanted: list[str] = list(args.mail_ids)
    settings = load_settings(NotificationSettings, PROGRAM)
    replayed = asyncio.run(replay(settings, wanted or None))
    for mail_id in replayed:
        print(f"replayed {mail_id}")
    missing = sorted(set(wanted) - set(replayed))
    for mail_id in missing:
        print(f"{PROGRAM}: {mail_id} is not a failed mail", file=sys.stderr)
    print(f"{len(replayed)} mail(s) put back in line")
    if missing:
        raise SystemExit(1)

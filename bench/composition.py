"""How much CPU the notification service spends writing one mail, kind by kind.

``uv run python -m bench.composition`` composes mails with the service's own
``MailRenderer`` (templates, calendar file, check-in QR, MIME, the bytes
that go on the wire) for the tests' seminar and registrants, in Finnish,
Swedish and English in turn, each to a registrant of their own. It prints,
per kind, the CPU time of this process per mail (``time.process_time``:
on a machine shared with other work the wall clock says more about the
others than about the code) and mails per CPU second, then the same for the
benchmark's mix (``bench.run``'s default event: what a registration costs
notification in mails).

It is a program, not a test: nothing asserts a time. ``--profile`` prints
cProfile's busiest functions of one kind instead, to see where that time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ilmo_event_contracts import Attendance, EventDetails, Language, NotificationKind
from ilmo_notification.domain import Contact, MailRequest
from ilmo_notification.rendering import MailRenderer
from tests.support.notification import STARTS_AT, accepted, contact_of, renderer, seminar

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LANGUAGES = (Language.FI, Language.SV, Language.EN)
# What each kind's request carries, as the service's handlers and scheduler record it.
DETAILS: dict[NotificationKind, dict[str, Any]] = {
    NotificationKind.CONFIRM_ADDRESS: {"expires_at": NOW + timedelta(hours=24)},
    NotificationKind.ALREADY_REGISTERED: {},
    NotificationKind.MANAGE_LINK: {"awaiting_confirmation": False},
    NotificationKind.REGISTRATION_RECEIVED: {"attendance": "in_person"},
    NotificationKind.SEAT_CONFIRMED: {"promoted": False},
    NotificationKind.WAITLISTED: {"position": 3},
    NotificationKind.STREAM_LINK: {
        "url": "https://watch.example.fi/w/Zm9vYmFyYmF6cXV4?x=1",
        "valid_from": STARTS_AT - timedelta(minutes=30),
        "valid_until": STARTS_AT + timedelta(hours=5),
    },
    NotificationKind.CANCELLATION_CONFIRMED: {"attendance": "in_person"},
    NotificationKind.REMINDER: {"role": "seat", "stream_link": None, "minutes_before": 1440},
    NotificationKind.EVENT_CHANGED: {
        "role": "seat",
        "stream_link": None,
        "revision": 2,
        "changes": ["time"],
        "previous": {
            "starts_at": STARTS_AT - timedelta(days=1),
            "ends_at": STARTS_AT - timedelta(days=1) + timedelta(hours=3),
        },
    },
    NotificationKind.EVENT_CANCELLED: {"role": "seat", "stream_link": None, "cancelled_at": NOW},
    NotificationKind.ORGANISER_MESSAGE: {
        "role": "seat",
        "stream_link": None,
        "message_id": "0b7a2f5e-3c1d-4e8f-9a6b-7c5d4e3f2a10",
        "title": {"fi": "Tärkeää tietoa", "sv": "Viktigt", "en": "Important"},
        "body": {"fi": "Ovet avataan klo 8.30.", "sv": "Dörrarna öppnas.", "en": "Doors open."},
    },
    NotificationKind.THANK_YOU: {"role": "seat", "stream_link": None},
}
# Mails per registration in ``bench.run``'s default event (N = 5000, 300 seats, 70 % remote):
# everyone's receipt; a stream link for the remote and the waitlisted; 300 seat
# confirmations; the other 1200 in person waitlisted.
BENCH_MIX = {
    NotificationKind.REGISTRATION_RECEIVED: 1.0,
    NotificationKind.STREAM_LINK: 0.94,
    NotificationKind.WAITLISTED: 0.24,
    NotificationKind.SEAT_CONFIRMED: 0.06,
}


@dataclass(frozen=True)
class Mail:
    request: MailRequest
    contact: Contact


def mails(kind: NotificationKind, count: int, event: EventDetails) -> list[Mail]:
    """``count`` requests of ``kind``, each for a registrant of its own, languages in turn."""
    made = []
    for index in range(count):
        registration = accepted(
            event.event_id,
            language=LANGUAGES[index % len(LANGUAGES)],
            attendance=Attendance.REMOTE
            if kind is NotificationKind.STREAM_LINK
            else Attendance.IN_PERSON,
            registration_id=uuid.UUID(int=index + 1),
            email=f"person.{index}@example.fi",
        )
        request = MailRequest(
            str(registration.registration_id), event.event_id, kind, DETAILS[kind]
        )
        made.append(Mail(request, contact_of(registration)))
    return made


def cpu_per_mail(composer: MailRenderer, batch: Sequence[Mail], event: EventDetails) -> float:
    """CPU seconds of this process per mail, composing ``batch`` once (after one warm-up)."""
    composer.compose(batch[0].request, batch[0].contact, event, now=NOW)
    started = time.process_time()
    for mail in batch:
        composer.compose(mail.request, mail.contact, event, now=NOW)
    return (time.process_time() - started) / len(batch)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.composition", description=__doc__)
    parser.add_argument("--mails", type=int, default=300, help="mails per kind (default 300)")
    parser.add_argument(
        "--kinds",
        choices=("bench", "all"),
        default="all",
        help="the benchmark's four kinds, or every kind (default)",
    )
    parser.add_argument("--profile", metavar="KIND", help="cProfile one kind instead")
    options = parser.parse_args(argv)
    event = seminar("ministry-seminar")
    composer = renderer()
    if options.profile:
        batch = mails(NotificationKind(options.profile), options.mails, event)
        profile = cProfile.Profile()
        profile.runcall(cpu_per_mail, composer, batch, event)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    kinds = list(BENCH_MIX) if options.kinds == "bench" else list(NotificationKind)
    costs = {
        kind: cpu_per_mail(composer, mails(kind, options.mails, event), event) for kind in kinds
    }
    print(f"{'kind':24} {'µs CPU/mail':>12} {'mails/CPU s':>12}")
    for kind, seconds in costs.items():
        print(f"{kind.value:24} {seconds * 1e6:12.0f} {1 / seconds:12.0f}")
    per_registration = sum(costs[kind] * share for kind, share in BENCH_MIX.items())
    mails_per_registration = sum(BENCH_MIX.values())
    print(
        f"bench mix: {mails_per_registration:.2f} mails and {per_registration * 1e3:.2f} ms CPU "
        f"per registration ({per_registration / mails_per_registration * 1e6:.0f} µs per mail)"
    )


if __name__ == "__main__":
    main()

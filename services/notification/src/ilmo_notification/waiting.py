"""The mails still waiting to go out, counted every so often for the metrics.

``ilmo_mails_waiting`` and ``ilmo_mail_oldest_waiting_age_seconds`` answer
"is mail getting out?" even when nothing fails: a dispatcher stuck behind a
slow server, or mails waiting for details that never come. Counting them
reads ``open_mails``, the copies of the open mails (a scan on FerretDB v1,
which filters only ``_id`` by index, but of the backlog, not of every mail
ever sent), on its own interval, not on the hot path.
"""

from __future__ import annotations

from datetime import datetime

from ilmo_notification.metrics import MAIL_OLDEST_WAITING_AGE, MAILS_WAITING
from ilmo_notification.storage.mails import MailStore
from ilmo_shared.clock import Clock, utc_now
from ilmo_shared.periodic import Periodic


def waiting_age(oldest: datetime | None, now: datetime) -> float:
    """Seconds since the oldest waiting mail was asked for; 0 when none waits."""
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        # FerretDB and MongoDB hand back naive UTC datetimes unless told otherwise.
        now = now.replace(tzinfo=None)
    return max(0.0, (now - oldest).total_seconds())


class MailsWaitingSampler(Periodic):
    """A ``runtime.Worker`` setting the two gauges from one query per interval."""

    def __init__(self, mails: MailStore, *, interval: float, clock: Clock = utc_now) -> None:
        super().__init__("mails_waiting_sample", self.sample, interval=interval, first_delay=0)
        self._mails = mails
        self._clock = clock

    async def sample(self) -> None:
        count, oldest = await self._mails.waiting()
        MAILS_WAITING.set(count)
        MAIL_OLDEST_WAITING_AGE.set(waiting_age(oldest, self._clock()))

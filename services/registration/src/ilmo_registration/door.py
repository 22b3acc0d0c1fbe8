"""The door's use cases: check someone in, record a first watch of the stream, count who came.

Called by the console's check-in page (``console.check_in``) and by the
``stream.joined`` handler (``handlers``); the rules are ``attendance``'s,
the storage ``storage.check_ins`` and ``RegistrationStore``. Kept beside
``usecases.UseCases`` (whose catalogue and listing reads it uses) rather
than inside it: the door is a part of its own, with its own store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from prometheus_client import Counter

from ilmo_event_contracts import CheckInMethod
from ilmo_registration.attendance import (
    AttendanceFigures,
    CheckInDecision,
    CheckInOutcome,
    attendance_figures,
    decide_check_in,
)
from ilmo_registration.listing import ListingQuery, ListingRow, everything
from ilmo_registration.storage import ReportOutcome, StoredEvent
from ilmo_registration.storage.check_ins import CheckIn, CheckInStore
from ilmo_registration.usecases import UseCases

CHECK_INS = Counter(
    "ilmo_check_ins_total",
    "Codes and names tried at the door, by outcome (checked_in: recorded now).",
    ["outcome", "method"],
)
# A name search at the door shows at most this many people.
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class CheckInResult:
    """What the door is shown: the decision, whom it is about and when they came in."""

    decision: CheckInDecision
    registration_id: str | None = None
    name: str = ""
    checked_in_at: datetime | None = None
    without_seat: bool = False

    @property
    def outcome(self) -> CheckInOutcome:
        return self.decision.outcome


@dataclass(frozen=True)
class Door:
    """Check-in and attendance over the registration service's stores."""

    usecases: UseCases
    check_ins: CheckInStore

    async def event(self, event_id: str) -> StoredEvent:
        """The event at the door (drafts too: a rehearsal); ``NotFound`` if there is none."""
        return await self.usecases.show_event(event_id, admin=True)

    async def check_in_code(self, event_id: str, code: str) -> CheckInResult:
        """Check in the registration a scanned or typed code names, if it is valid for the event."""
        registration_id = self.usecases.manage_links.check_in_registration(code)
        if registration_id is None:
            CHECK_INS.labels(CheckInOutcome.NOT_REGISTERED.value, CheckInMethod.QR.value).inc()
            return CheckInResult(CheckInDecision(CheckInOutcome.NOT_REGISTERED))
        return await self.check_in(event_id, registration_id, CheckInMethod.QR)

    async def check_in(
        self,
        event_id: str,
        registration_id: str,
        method: CheckInMethod,
        *,
        without_seat: bool = False,
    ) -> CheckInResult:
        """Check ``registration_id`` in at ``event_id``'s door, once (``attendance``'s rule).

        Two phones at once: one insert wins, the other is told "already
        checked in" with the winner's time.
        """
        registration = await self.usecases.registrations.get(registration_id)
        earlier = await self.check_ins.get(registration_id)
        decision = decide_check_in(
            registration.state if registration is not None else None,
            event_id,
            earlier.checked_in_at if earlier is not None else None,
            without_seat=without_seat,
        )
        name = ""
        if registration is not None and decision.outcome is not CheckInOutcome.NOT_REGISTERED:
            person = registration.registrant
            name = f"{person.first_name} {person.last_name}".strip()
        if decision.records:
            now = self.usecases.now()
            chosen = CheckIn(registration_id, event_id, now, method, without_seat=without_seat)
            earlier = await self.check_ins.add(chosen)
            if earlier is None:
                result = CheckInResult(decision, registration_id, name, now, without_seat)
                await self.usecases.registrations.mark_checked_in(registration_id, now)
                CHECK_INS.labels(result.outcome.value, method.value).inc()
                return result
            # Another phone was first, between the reading and the insert.
            decision = CheckInDecision(CheckInOutcome.ALREADY_CHECKED_IN, decision.seat)
        result = CheckInResult(decision, registration_id, name)
        if decision.outcome is CheckInOutcome.ALREADY_CHECKED_IN and earlier is not None:
            # The copy on the registration, again: it heals a crash after the insert.
            await self.usecases.registrations.mark_checked_in(
                registration_id, earlier.checked_in_at
            )
            result = replace(
                result, checked_in_at=earlier.checked_in_at, without_seat=earlier.without_seat
            )
        CHECK_INS.labels(result.outcome.value, method.value).inc()
        return result

    async def search(self, event_id: str, q: str) -> list[ListingRow]:
        """Registrations of the event whose names match ``q`` (names only: door staff read no
        addresses), cancelled ones too so that the door can say so; at most ``SEARCH_LIMIT``."""
        if not q.strip():
            return []
        rows = await self.usecases.registration_rows(event_id)
        query = ListingQuery(q=q[:200], personal=False)
        return everything(rows, query)[:SEARCH_LIMIT]

    async def figures(self, event_id: str) -> AttendanceFigures:
        """The event's attendance so far, from its listing."""
        return attendance_figures(await self.usecases.registration_rows(event_id))

    async def record_watch(self, registration_id: str, joined_at: datetime) -> ReportOutcome:
        """The registrant first opened the stream (``stream.joined``): kept once, the first time."""
        return await self.usecases.registrations.record_watch(registration_id, joined_at)

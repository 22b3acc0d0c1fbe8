"""Who came and who watched: the door's check-in rule and the attendance figures. No I/O.

A registration is checked in at most once (``storage.check_ins`` makes
"once" hold under concurrent scanners with an insert against ``_id``).
What the door sees for a code or a name is decided here:

- **checked in** (green): an accepted registration for this event with a
  seat, checked in now;
- **already checked in** (red): checked in before, at the time shown, so a
  passed-on QR code or a second scan lets nobody in twice;
- **not registered** (red): a code that is not Ilmo's, a registration of
  another event, one never confirmed, one that expired or was erased;
- **cancelled** (red);
- **no seat** (amber): the person is registered for this event but holds no
  seat: on the waiting list, registered to watch remotely, or in person
  with the seat not decided yet. Nothing is recorded. The door team decides
  (often there are free seats when people do not come): the page offers
  "check in anyway", which records the check-in like any other, and the
  result says it was without a seat. Door staff cannot give seats; that is
  capacity's decision, so the seat count does not change.

The attendance figures count an event's listed registrations (the listing
read model's rows, which carry the check-in and first-watch times):
checked in, watched, and no-shows: on-site seat holders who were not
checked in, and remote registrants (with their stream link) who never
opened it. Cancelled registrations are nobody's no-show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ilmo_event_contracts import Attendance
from ilmo_registration.domain import RegistrationState, SeatState, Status
from ilmo_registration.listing import ListingRow


class CheckInOutcome(StrEnum):
    """What the door is told about a code or a name."""

    CHECKED_IN = "checked_in"
    ALREADY_CHECKED_IN = "already_checked_in"
    NOT_REGISTERED = "not_registered"
    CANCELLED = "cancelled"
    NO_SEAT = "no_seat"


class SeatSituation(StrEnum):
    """Why a registration for the event has no seat (``NO_SEAT``), or that it has one."""

    SEAT = "seat"
    WAITLISTED = "waitlisted"
    REMOTE = "remote"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class CheckInDecision:
    """The outcome, whether to record a check-in now, and the person's seat."""

    outcome: CheckInOutcome
    seat: SeatSituation | None = None

    @property
    def records(self) -> bool:
        return self.outcome is CheckInOutcome.CHECKED_IN


def seat_situation(state: RegistrationState) -> SeatSituation:
    """Where an accepted registration stands as to a seat at the venue."""
    if state.attendance is Attendance.REMOTE:
        return SeatSituation.REMOTE
    if state.seat.state is SeatState.RESERVED:
        return SeatSituation.SEAT
    if state.seat.state is SeatState.WAITLISTED:
        return SeatSituation.WAITLISTED
    return SeatSituation.UNDECIDED


def decide_check_in(
    state: RegistrationState | None,
    event_id: str,
    checked_in_at: datetime | None,
    *,
    without_seat: bool = False,
) -> CheckInDecision:
    """What checking ``state`` in at ``event_id``'s door does.

    ``checked_in_at`` is an earlier check-in, if any; ``without_seat`` is
    the door team's "check in anyway" for someone without a seat.
    """
    if state is None or state.event_id != event_id or state.erased:
        return CheckInDecision(CheckInOutcome.NOT_REGISTERED)
    if checked_in_at is not None:
        return CheckInDecision(CheckInOutcome.ALREADY_CHECKED_IN, seat_situation(state))
    if state.cancelled:
        return CheckInDecision(CheckInOutcome.CANCELLED)
    if state.pending or state.expired:
        return CheckInDecision(CheckInOutcome.NOT_REGISTERED)
    seat = seat_situation(state)
    if seat is not SeatSituation.SEAT and not without_seat:
        return CheckInDecision(CheckInOutcome.NO_SEAT, seat)
    return CheckInDecision(CheckInOutcome.CHECKED_IN, seat)


@dataclass(frozen=True)
class AttendanceFigures:
    """An event's attendance so far (see the module's docstring for each definition)."""

    seat_holders: int
    checked_in: int
    checked_in_without_seat: int
    remote: int
    watched: int
    no_show_on_site: int
    no_show_remote: int


def attendance_figures(rows: Iterable[ListingRow]) -> AttendanceFigures:
    """Count the event's listed registrations; expired stubs count nowhere."""
    seat_holders = checked_in = without_seat = remote = watched = 0
    no_show_on_site = no_show_remote = 0
    for row in rows:
        if row.expired:
            continue
        if row.checked_in_at is not None:
            checked_in += 1
            if row.status is not Status.SEAT_RESERVED:
                without_seat += 1
        if row.watched_at is not None:
            watched += 1
        if row.status is Status.SEAT_RESERVED:
            seat_holders += 1
            no_show_on_site += row.checked_in_at is None
        elif row.status is Status.REMOTE:
            remote += 1
            no_show_remote += row.watched_at is None
    return AttendanceFigures(
        seat_holders=seat_holders,
        checked_in=checked_in,
        checked_in_without_seat=without_seat,
        remote=remote,
        watched=watched,
        no_show_on_site=no_show_on_site,
        no_show_remote=no_show_remote,
    )

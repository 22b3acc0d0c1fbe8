"""The console's listing rules (``ilmo_registration.listing``) and a registration's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import RegistrationState, Seat, SeatState, Status
from ilmo_registration.history import Change, Entry, reported
from ilmo_registration.listing import (
    PAGE_SIZE,
    ListingParameters,
    ListingQuery,
    ListingRow,
    Sort,
    SortKey,
    search_key,
    select,
)

START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def row(n: int, first: str = "Aino", last: str = "Aalto", **changes: object) -> ListingRow:
    values: dict[str, object] = {
        "registration_id": f"00000000-0000-0000-0000-{n:012}",
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}@example.fi",
        "organisation": None,
        "language": Language.FI,
        "attendance": Attendance.IN_PERSON,
        "status": Status.SEAT_RESERVED,
        "registered_at": START + timedelta(minutes=n),
    }
    values.update(changes)
    return ListingRow(**values)  # type: ignore[arg-type]


def test_search_ignores_case_and_finnish_and_swedish_accents() -> None:
    assert search_key("  MÄKINEN ") == "makinen"
    assert search_key("Åsa Öhman") == "asa ohman"
    rows = [row(1, "Åsa", "Öhman"), row(2, "Eero", "Mäkinen", organisation="Kela")]
    assert [r.first_name for r in select(rows, ListingQuery(q="ohman")).rows] == ["Åsa"]
    assert [r.first_name for r in select(rows, ListingQuery(q="Mäki")).rows] == ["Eero"]
    assert [r.first_name for r in select(rows, ListingQuery(q="kela")).rows] == ["Eero"]
    assert [r.first_name for r in select(rows, ListingQuery(q="eero mak")).rows] == ["Eero"]
    assert select(rows, ListingQuery(q="virtanen")).total == 0


def test_filters_combine_and_expired_stubs_are_never_listed() -> None:
    rows = [
        row(1, status=Status.CANCELLED),
        row(2, attendance=Attendance.REMOTE, status=Status.REMOTE, language=Language.SV),
        row(3, status=Status.WAITLISTED),
        row(4, status=Status.PENDING_CONFIRMATION, expired=True),
    ]
    assert select(rows, ListingQuery()).total == 3
    assert select(rows, ListingQuery(status=Status.CANCELLED)).total == 1
    remote_sv = ListingQuery(attendance=Attendance.REMOTE, language=Language.SV)
    assert [r.status for r in select(rows, remote_sv).rows] == [Status.REMOTE]
    assert select(rows, ListingQuery(status=Status.PENDING_CONFIRMATION)).total == 0


def test_sorting_by_name_status_and_time_with_ties_broken_by_time() -> None:
    rows = [
        row(1, "Ulla", "Öhman", status=Status.CANCELLED),
        row(2, "Aino", "Aalto", status=Status.WAITLISTED),
        row(3, "Bertil", "Aalto", status=Status.PENDING_CONFIRMATION),
    ]
    by_name = select(rows, ListingQuery(sort=Sort(SortKey.NAME))).rows
    assert [r.first_name for r in by_name] == ["Aino", "Bertil", "Ulla"]
    by_status = select(rows, ListingQuery(sort=Sort(SortKey.STATUS))).rows
    assert [r.first_name for r in by_status] == ["Bertil", "Aino", "Ulla"]
    newest = select(rows, ListingQuery(sort=Sort.parse("-registered_at"))).rows
    assert [r.first_name for r in newest] == ["Bertil", "Aino", "Ulla"]


def test_an_unknown_order_is_the_default_and_orders_print_as_parsed() -> None:
    assert Sort.parse("shoe size") == Sort()
    assert Sort.parse(None) == Sort(SortKey.REGISTERED_AT)
    assert str(Sort.parse("-name")) == "-name"


def test_pages_of_fifty_and_a_page_past_the_end_is_the_last() -> None:
    rows = [row(n) for n in range(2 * PAGE_SIZE + 7)]
    first = select(rows, ListingQuery())
    assert (first.total, first.page, first.pages, len(first.rows)) == (107, 1, 3, 50)
    far = select(rows, ListingQuery(page=99))
    assert (far.page, far.rows[0].registered_at) == (3, START + timedelta(minutes=100))
    assert select([], ListingQuery(page=5)).pages == 1
    assert select(rows, ListingQuery(page=0)).page == 1


def test_plain_parameters_list_everything_as_before() -> None:
    assert ListingParameters().plain()
    searched = ListingParameters(q="aalto", page=2)
    assert not searched.plain()
    assert searched.query() == ListingQuery(q="aalto", page=2)
    # A form's selects left at "any", or a value no status has: no filter.
    form = ListingParameters(q="", status="", attendance="remote", language="xx")
    assert form.query() == ListingQuery(attendance=Attendance.REMOTE)
    assert ListingParameters(status="").plain()


def test_history_of_a_seat_report_names_the_new_seat_at_its_time() -> None:
    before = RegistrationState(event_id="e", attendance=Attendance.IN_PERSON)
    at = START + timedelta(hours=1)
    after = RegistrationState(
        event_id="e",
        attendance=Attendance.IN_PERSON,
        seat=Seat(SeatState.RESERVED, None, at),
    )
    assert reported(before, after) == [Entry(at, Change.SEAT_RESERVED)]
    assert reported(after, after) == []

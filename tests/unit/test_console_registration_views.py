"""What the console's registration screens work out before rendering: links, chart, token cache."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.console.chart import chart, cumulative_by_day, nice_ceiling
from ilmo_registration.console.other_services import (
    EventFigures,
    OtherServices,
    SeatFigures,
    ServiceToken,
)
from ilmo_registration.console.registration_views import (
    figure_list,
    listing_href,
    paging,
    sort_columns,
)
from ilmo_registration.domain import Status
from ilmo_registration.listing import ListingQuery, ListingRow, Sort, SortKey, select

HELSINKI = ZoneInfo("Europe/Helsinki")


def row(n: int, at: datetime, attendance: Attendance, **changes: object) -> ListingRow:
    values: dict[str, object] = {
        "registration_id": f"00000000-0000-0000-0000-{n:012}",
        "first_name": "Aino",
        "last_name": "Aalto",
        "email": "aino@example.fi",
        "organisation": None,
        "language": Language.FI,
        "attendance": attendance,
        "status": Status.ACCEPTED,
        "registered_at": at,
    }
    values.update(changes)
    return ListingRow(**values)  # type: ignore[arg-type]


def test_a_sorted_column_links_to_the_reverse_order_and_says_how_it_is_sorted() -> None:
    query = ListingQuery(q="aalto", status=Status.WAITLISTED, sort=Sort(SortKey.NAME), page=3)
    columns = sort_columns("seminar", query)
    assert columns["name"].aria_sort == "ascending"
    assert columns["name"].href == (
        "/console/events/seminar/registrations?q=aalto&status=waitlisted&sort=-name"
    )
    assert columns["status"].aria_sort is None
    assert columns["status"].href.endswith("q=aalto&status=waitlisted&sort=status")
    assert listing_href("seminar", ListingQuery()) == "/console/events/seminar/registrations"


def test_paging_links_keep_the_search_and_stop_at_the_ends() -> None:
    rows = [row(n, datetime(2026, 12, 1, tzinfo=UTC), Attendance.REMOTE) for n in range(120)]
    query = ListingQuery(q="aino", page=2)
    links = paging("seminar", query, select(rows, query))
    assert links.previous == "/console/events/seminar/registrations?q=aino"
    assert links.next == "/console/events/seminar/registrations?q=aino&page=3"
    last = paging("seminar", ListingQuery(page=3), select(rows, ListingQuery(page=3)))
    assert (last.next, last.page, last.pages) == (None, 3, 3)


def test_registrations_add_up_per_day_in_the_events_zone_with_quiet_days_filled() -> None:
    # 23.30 UTC on 1 December is already 2 December in Helsinki.
    first = datetime(2026, 11, 30, 10, tzinfo=UTC)
    rows = [
        row(1, first, Attendance.IN_PERSON),
        row(2, datetime(2026, 12, 1, 23, 30, tzinfo=UTC), Attendance.REMOTE),
        row(3, datetime(2026, 12, 2, 8, tzinfo=UTC), Attendance.IN_PERSON, status=Status.CANCELLED),
        row(4, first, Attendance.REMOTE, expired=True),
    ]
    days = cumulative_by_day(rows, HELSINKI)
    assert [(d.day, d.on_site, d.remote) for d in days] == [
        (date(2026, 11, 30), 1, 0),
        (date(2026, 12, 1), 1, 0),
        (date(2026, 12, 2), 2, 1),
    ]
    assert cumulative_by_day([], HELSINKI) == []


def test_the_chart_scales_to_a_round_top_and_marks_a_single_day() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 230)] == [1, 1, 5, 10, 10, 20, 500]
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    rows = [row(n, start + timedelta(days=n // 3), Attendance.IN_PERSON) for n in range(30)]
    drawn = chart(cumulative_by_day(rows, HELSINKI))
    xs = [float(point.split(",")[0]) for point in drawn.on_site.split()]
    ys = [float(point.split(",")[1]) for point in drawn.on_site.split()]
    assert xs[0] == drawn.left
    assert xs == sorted(xs)
    # 30 on site by the last day, on an axis that tops at 50 (16 px from the top).
    assert ys[-1] == round(drawn.bottom - (drawn.bottom - 16) * 30 / 50, 1)
    assert [tick.label for tick in drawn.y_ticks] == ["0", "10", "20", "30", "40", "50"]
    one = chart(cumulative_by_day(rows[:1], HELSINKI))
    assert len(one.on_site_marks) == 1
    assert [tick.label for tick in one.y_ticks] == ["0", "1"]


def test_figures_show_what_the_services_answered() -> None:
    statuses = {Status.WAITLISTED: 2, Status.CANCELLED: 1}
    shown = figure_list(
        statuses, EventFigures(seats=SeatFigures(40, 41, 2), missing=("notification",))
    )
    values = {figure.label: figure.value for figure in shown}
    assert values["Seats taken"] == "41 / 40"
    assert values["Seats free"] == "0"
    assert values["On the waiting list"] == "2"
    assert "Mails sent" not in values
    assert "Seats taken" not in {f.label for f in figure_list(statuses, EventFigures())}


async def test_the_service_token_is_fetched_once_and_renewed_before_it_expires() -> None:
    fetched: list[str] = []
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"token_endpoint": "http://idp.test/oauth2/token"})
        if request.url.path == "/oauth2/token":
            fetched.append(request.content.decode())
            return httpx.Response(200, json={"access_token": f"t{len(fetched)}", "expires_in": 300})
        assert request.headers["authorization"] == f"Bearer t{len(fetched)}"
        return httpx.Response(200, json={"capacity": 40, "reserved": 3, "waitlisted": 0})

    transport = httpx.MockTransport(answer)
    token = ServiceToken("http://idp.test/", "ilmo-console", "secret", clock=lambda: now[0])
    services = OtherServices(token, "http://c.test", "http://n.test", "http://s.test", transport)

    first = await services.figures("seminar")
    await services.figures("seminar")
    assert first.seats == SeatFigures(40, 3, 0)
    assert set(first.missing) == {"notification", "streaming"}  # they answered seats, not mails
    assert len(fetched) == 1
    assert "grant_type=client_credentials" in fetched[0]
    now[0] = 271.0  # within 30 s of expiry: renewed
    await services.figures("seminar")
    assert len(fetched) == 2
    assert all("secret" not in body for body in fetched)  # the secret goes in the header

"""The console's export: the same cells in CSV and XLSX, formulas never evaluated."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import Registrant, RegistrationState
from ilmo_registration.export import EXPORT_COLUMNS, export_table, table_csv, table_xlsx
from ilmo_registration.storage import StoredRegistration

HELSINKI = ZoneInfo("Europe/Helsinki")


def registration(
    first: str,
    organisation: str | None,
    *,
    checked_in_at: datetime | None = None,
    watched_at: datetime | None = None,
) -> StoredRegistration:
    return StoredRegistration(
        id="3f0c2d61-7a4e-4f5b-9d0e-3c1b6a2e9f47",
        registrant=Registrant(
            first, "Öhman", "asa@example.fi", organisation, Attendance.REMOTE, Language.SV
        ),
        token_digest="",
        registered_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        cancelled_at=None,
        state=RegistrationState(event_id="seminar", attendance=Attendance.REMOTE),
        checked_in_at=checked_in_at,
        watched_at=watched_at,
    )


def test_xlsx_holds_what_csv_holds_with_real_dates_and_no_formulas() -> None:
    table = export_table(
        [
            registration(
                "Åsa",
                '=HYPERLINK("http://evil")',
                checked_in_at=datetime(2026, 12, 4, 7, 2, tzinfo=UTC),
            ),
            registration("-1+1", None, watched_at=datetime(2026, 12, 4, 6, 58, 30, tzinfo=UTC)),
        ],
        HELSINKI,
        lambda text: text,
    )
    sheet = load_workbook(io.BytesIO(table_xlsx(table, "seminar"))).active
    assert sheet is not None
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == [column.header for column in EXPORT_COLUMNS]
    assert cells[1][3] == '\'=HYPERLINK("http://evil")'
    assert sheet.cell(2, 4).data_type == "s"
    assert cells[2][0] == "'-1+1"
    # 8.30 UTC is 10.30 in Helsinki in December, stored as a date, not text.
    assert cells[1][8] == datetime(2026, 12, 1, 10, 30)
    # Checked in at the door at 9.02 Helsinki time; never watched. The other one the reverse.
    assert cells[1][9:] == [datetime(2026, 12, 4, 9, 2), None]
    assert cells[2][9:] == [None, datetime(2026, 12, 4, 8, 58, 30)]
    assert sheet.column_dimensions["C"].width == 32

    from_csv = list(csv.reader(io.StringIO(table_csv(table).removeprefix("\ufeff"))))
    as_text = [
        ["" if v is None else v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row]
        for row in cells
    ]
    assert from_csv == as_text


def test_headers_are_in_the_organisers_language() -> None:
    table = export_table([], HELSINKI, lambda text: text.upper())
    assert table.headers[0] == "FIRST NAME"
    assert table.headers[-2:] == ["CHECKED IN AT", "WATCHED THE STREAM FROM"]
    assert table.rows == []

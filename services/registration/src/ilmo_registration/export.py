"""Registrations as CSV and XLSX for spreadsheets, safe to open.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would be taken for a formula by Excel, LibreOffice and Google Sheets
(CSV injection); such cells get a leading apostrophe, which spreadsheets show
as text. The file starts with a byte order mark so that Excel reads it as
UTF-8 (ä, ö, å).

The console's export (``export_table``) has the columns an organiser works
with (``EXPORT_COLUMNS``: who, where they stand, and when they registered,
were checked in at the door and first opened the stream), headed in the
organiser's language, as CSV or as XLSX (openpyxl: one sheet, a header
row, column widths, times as real dates in the event's time zone, every
text cell a string cell, never a formula, and the same neutralisation; no
macros). The JSON API's CSV keeps
every field of ``RegistrationSummary``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from ilmo_registration.schemas import RegistrationSummary
from ilmo_registration.storage import StoredRegistration
from ilmo_shared.i18n import _

COLUMNS = tuple(RegistrationSummary.model_fields)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet will show it as text, never evaluate it."""
    if cell.startswith(_FORMULA_STARTS) or cell.lstrip().startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def registrations_csv(rows: Sequence[RegistrationSummary]) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow([_cell(values[column]) for column in COLUMNS])
    return buffer.getvalue()


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int


# Headers are gettext messages: ``export_table`` takes the function that translates them.
EXPORT_COLUMNS = (
    Column("first_name", _("First name"), 18),
    Column("last_name", _("Last name"), 20),
    Column("email", _("Email"), 32),
    Column("organisation", _("Organisation"), 28),
    Column("language", _("Language"), 10),
    Column("attendance", _("Attendance"), 12),
    Column("status", _("Status"), 22),
    Column("needs", _("Needs"), 30),
    Column("registered_at", _("Registered at"), 20),
    Column("checked_in_at", _("Checked in at"), 20),
    Column("watched_at", _("Watched the stream from"), 20),
)
Cell = str | datetime | None


@dataclass(frozen=True)
class ExportTable:
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def export_table(
    registrations: Sequence[StoredRegistration], zone: tzinfo, translate: Callable[[str], str]
) -> ExportTable:
    """The rows of the console's export: one per registration, times in ``zone``."""
    rows = []
    for registration in registrations:
        person = registration.registrant
        rows.append(
            [
                person.first_name,
                person.last_name,
                person.email,
                person.organisation,
                person.language.value,
                person.attendance.value,
                registration.state.status.value,
                # Stored only with consent, and erased when it is withdrawn.
                person.needs,
                _local(registration.registered_at, zone),
                # At the door; and the first time the personal stream link was opened.
                _local(registration.checked_in_at, zone),
                _local(registration.watched_at, zone),
            ]
        )
    return ExportTable([translate(column.header) for column in EXPORT_COLUMNS], rows)


def _local(at: datetime | None, zone: tzinfo) -> datetime | None:
    """A time on the event's wall clock, as spreadsheets take it (no zone)."""
    return at.astimezone(zone).replace(tzinfo=None) if at is not None else None


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ", timespec="seconds")
    return neutralise(cell)


def table_csv(table: ExportTable) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    writer.writerows([_text(cell) for cell in row] for row in table.rows)
    return buffer.getvalue()


def table_xlsx(table: ExportTable, title: str) -> bytes:
    """The table as an XLSX workbook (write-only: 10,000 rows stay small in memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31] or "Ilmo")
    for n, column in enumerate(EXPORT_COLUMNS):
        sheet.column_dimensions[chr(ord("A") + n)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for text in table.headers:
        cell = WriteOnlyCell(sheet, value=neutralise(text))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(sheet: object, value: Cell) -> WriteOnlyCell:
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    cell = WriteOnlyCell(sheet, value=neutralise(value) if value is not None else None)
    if value is not None:
        cell.data_type = "s"  # a string, whatever it begins with: never a formula
    return cell

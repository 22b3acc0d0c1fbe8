"""Registrations as CSV for spreadsheets, safe to open.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would be taken for a formula by Excel, LibreOffice and Google Sheets
(CSV injection); such cells get a leading apostrophe, which spreadsheets show
as text. The file starts with a byte order mark so that Excel reads it as
UTF-8 (ä, ö, å).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ilmo_registration.schemas import RegistrationSummary

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

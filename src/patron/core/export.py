"""Every file of rows Patron hands out (CSV or .xlsx) is written here, so that what people typed
or imported reaches a spreadsheet as text and never as a formula (CSV/formula injection).

A text cell that a spreadsheet would read as a formula or a command (`=`, `+`, `-`, `@`, their
full-width forms, a tab or a carriage return first) is kept as text: in CSV behind a leading
apostrophe, in .xlsx as a string cell with Excel's quote prefix (what Excel stores when someone
types the apostrophe). Numbers stay numbers. The file is built in a spooled temporary file while
the request's transaction reads the rows, then streamed: memory stays bounded however many rows.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.responses import StreamingResponse

Cell = str | int | Decimal | float | date | datetime | None
# What makes Excel, LibreOffice, WPS or Google Sheets treat a cell as a formula (or DDE).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
CHUNK = 64 * 1024
# Kept in memory up to this size, then spilled to disk.
SPOOL_BYTES = 8 * 1024 * 1024
UTF8_BOM = "\ufeff"
REPLACEMENT = "\ufffd"


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


MEDIA_TYPES = {
    Format.csv: "text/csv; charset=utf-8",
    Format.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def risky(text: str) -> bool:
    """Whether a spreadsheet would take this text for a formula."""
    return text.startswith(FORMULA_STARTS)


def escape(text: str) -> str:
    """The text as a CSV cell that a spreadsheet shows as text."""
    return "'" + text if risky(text) else text


def _text(value: date | datetime | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
    """UTF-8 with a BOM (Excel then reads it as UTF-8), CRLF lines, every text cell escaped."""
    out.write(UTF8_BOM)
    writer = csv.writer(out)
    writer.writerow([escape(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])


def _csv_cell(value: Cell) -> str | int | Decimal | float:
    if value is None:
        return ""
    if isinstance(value, int | Decimal | float):
        return value
    return escape(_text(value))


Sheet = tuple[str, Sequence[str], Iterable[Sequence[Cell]]]  # title, header, rows


def write_xlsx(
    out: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Cell]], title: str
) -> None:
    """One sheet, written row by row (openpyxl's write-only mode); text cells are string cells,
    the risky ones with the quote prefix."""
    write_workbook(out, [(title, header, rows)])


def write_workbook(out: IO[bytes], sheets: Iterable[Sheet]) -> None:
    """Several sheets in one workbook (a report's summary and its tables), each as write_xlsx
    writes its one."""
    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title[:31])  # Excel's longest sheet name
        sheet.append([_xlsx_cell(sheet, h) for h in header])
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(out)


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Cell) -> WriteOnlyCell | int | Decimal | float:
    if value is None:
        return WriteOnlyCell(sheet)
    if isinstance(value, int | Decimal | float):
        return value
    # XML cannot carry most C0 controls (openpyxl would refuse the whole file): they show as �.
    text = ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, _text(value))
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
    if risky(text):
        cell.quotePrefix = True
    return cell


def download(
    fmt: Format, filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> StreamingResponse:
    """The rows as a file to save, `filename` without its suffix. The rows are read now (in the
    request's transaction); the response streams the finished file."""
    return _attachment(spooled(fmt, header, rows, filename), f"{filename}.{fmt.value}", fmt)


def download_workbook(filename: str, sheets: Iterable[Sheet]) -> StreamingResponse:
    """Several sheets as one .xlsx file to save, `filename` without its suffix."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - streamed
    try:
        write_workbook(spool, sheets)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _attachment(spool, f"{filename}.{Format.xlsx.value}", Format.xlsx)


def _attachment(spool: IO[bytes], name: str, fmt: Format) -> StreamingResponse:
    disposition = f'attachment; filename="{name.encode("ascii", "replace").decode()}"; '
    disposition += f"filename*=UTF-8''{quote(name)}"
    return StreamingResponse(
        _chunks(spool),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def spooled(
    fmt: Format, header: Sequence[str], rows: Iterable[Sequence[Cell]], title: str
) -> IO[bytes]:
    """The file, written and rewound; the caller closes it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        if fmt is Format.csv:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            write_csv(text, header, rows)
            text.flush()
            text.detach()
        else:
            write_xlsx(spool, header, rows, title)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk

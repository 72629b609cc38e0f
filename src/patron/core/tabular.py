"""Reading the CSV and Excel files operators upload: one header row, known column names in
Chinese or English, rows numbered as the operator sees them in their spreadsheet."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from pydantic_core import PydanticCustomError

from patron.core import text
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import IMPORT_MAX_ROWS, IMPORT_MAX_UNPACKED_MB, Settings

# The longest sku or external order number a row may carry: the columns' width.
KEY_LENGTH = 64
DECODE_CHUNK = 1 << 20
MB = 1024 * 1024
# A part of a workbook may unpack to at most this many times its packed size.
MAX_RATIO = 100
SHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml")
# A row element's start tag, with or without a namespace prefix, and how long it can be.
ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,15}:)?row[\s/>]")
ROW_TAG_MAX = 24
_ZERO_WIDTH = re.compile(f"[{text.ZERO_WIDTH}]")


class RowError(Exception):
    """One row refused: the field of the offending column, a stable code (patron.core.reasons)
    and the reason in English."""

    def __init__(self, field_name: str, reason: str, *, code: Reason) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field_name, self.reason, self.code = field_name, reason, code

    @classmethod
    def coded(cls, field_name: str, error: PydanticCustomError) -> RowError:
        """A schema rule's refusal (a mobile, an e-mail address), with the rule's code."""
        return cls(field_name, error.message(), code=Reason(error.type))

    def as_report(self, number: int) -> dict[str, object]:
        return row_error(number, self.field_name, self.code, self.reason)


class RefusedCell(RowError):
    """A cell whose text no field may hold (patron.core.text), raised when it is read."""

    def __init__(self, field_name: str, value: str, refusal: text.Refusal) -> None:
        super().__init__(field_name, refusal.message, code=refusal.code)
        self.value = value


def row_error(number: int, field_name: str, code: Reason, reason: str) -> dict[str, object]:
    """One entry of an import report's `errors`."""
    return {"row": number, "field": field_name, "code": code.value, "reason": reason}


def check_key(field_name: str, value: str) -> None:
    """A row's sku or external order number: present and at most KEY_LENGTH characters."""
    if not value:
        raise RowError(field_name, "missing", code=Reason.missing)
    if len(value) > KEY_LENGTH:
        raise RowError(field_name, f"longer than {KEY_LENGTH} characters", code=Reason.too_long)


@dataclass(frozen=True)
class FileLimits:
    """What an uploaded file may hold: data rows, and what an .xlsx (a zip) may unpack to."""

    max_rows: int = IMPORT_MAX_ROWS
    max_unpacked_bytes: int = IMPORT_MAX_UNPACKED_MB * MB

    @classmethod
    def of(cls, settings: Settings) -> FileLimits:
        return cls(settings.import_max_rows, settings.import_max_unpacked_mb * MB)


DEFAULT_LIMITS = FileLimits()


def measure(content: bytes, filename: str, limits: FileLimits) -> int:
    """How many data rows the file holds at most (its lines, or the row elements of its
    sheets), counted without parsing it; a file over the limits is refused before any row is
    read or written. `read_table` holds the row limit exactly as it reads."""
    if _is_xlsx(filename):
        with _checked_archive(content, limits) as archive:
            rows = sum(_row_elements(archive, info) for info in _sheets(archive))
    else:
        rows = content.count(b"\n") + int(not content.endswith(b"\n"))
    data_rows = max(rows - 1, 0)
    if data_rows > limits.max_rows:
        raise _too_many_rows(limits)
    return data_rows


def read_table(
    content: bytes,
    filename: str,
    headers: Mapping[str, str],
    required: tuple[str, ...],
    limits: FileLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {field: value}) for each non-empty data row; `headers` maps column titles
    (matched case-insensitively) to field names, and unknown columns are ignored. Past
    `limits.max_rows` rows, the file is refused."""
    raw_rows = _raw_rows(content, filename, limits)
    fields = _header_fields(raw_rows, headers, required)
    for number, values in _numbered(raw_rows, limits):
        pairs = [(f, v) for f, v in zip(fields, values, strict=False) if f is not None]
        names = [f for f, _ in pairs]
        row = dict(zip(names, _screened_row(names, [v for _, v in pairs]), strict=True))
        if any(v not in (None, "") for v in row.values()):
            yield number, row


def read_records(
    content: bytes,
    filename: str,
    headers: Mapping[str, str],
    wanted: tuple[str, ...],
    required: tuple[str, ...],
    limits: FileLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """As `read_table`, each row as the tuple of its cells of the `wanted` fields in that
    order ("" for a field the file has no column for, as for an empty cell), without a dict
    per row: for files of a million rows. Text cells come trimmed as `cell_text` trims them
    (`record_text` reads them without trimming again)."""
    raw_rows = _raw_rows(content, filename, limits)
    fields = _header_fields(raw_rows, headers, required)
    position = {name: i for i, name in enumerate(fields) if name is not None}  # the last wins
    columns = [position.get(name) for name in wanted]
    names = list(wanted)
    for number, values in _numbered(raw_rows, limits):
        width = len(values)
        cells = [values[i] if i is not None and i < width else "" for i in columns]
        row = tuple(_trimmed_row(names, cells))
        if row.count("") + row.count(None) < len(row):
            yield number, row


def _raw_rows(content: bytes, filename: str, limits: FileLimits) -> Iterator[Any]:
    return _xlsx_rows(content, limits) if _is_xlsx(filename) else _csv_rows(content)


def _header_fields(
    raw_rows: Iterator[Any], headers: Mapping[str, str], required: tuple[str, ...]
) -> list[str | None]:
    """The field of each column of the header row, checked to hold every required one."""
    header = next(raw_rows, None)
    if header is None:
        raise InvalidInput("file", "the file is empty", code=Reason.file_empty)
    lookup = {title.lower(): name for title, name in headers.items()}
    fields = [lookup.get(str(title or "").strip().lower()) for title in header]
    missing = [name for name in required if name not in fields]
    if missing:
        raise InvalidInput(
            "file",
            f"the header row lacks column(s): {', '.join(missing)}",
            code=Reason.columns_missing,
        )
    return fields


def _numbered(raw_rows: Iterator[Any], limits: FileLimits) -> Iterator[tuple[int, Any]]:
    """The data rows with their numbers as the spreadsheet shows them, up to the row limit."""
    last_row = limits.max_rows + 1
    for number, values in enumerate(raw_rows, start=2):
        if number > last_row:
            raise _too_many_rows(limits)
        yield number, values


def _too_many_rows(limits: FileLimits) -> InvalidInput:
    return InvalidInput(
        "file",
        f"the file holds more than {limits.max_rows:,} rows; split it",
        code=Reason.too_many_rows,
    )


def _is_xlsx(filename: str) -> bool:
    return filename.lower().endswith(".xlsx")


def _screened_row(names: list[str], cells: list[Any]) -> list[Any]:
    """The cells, each replaced by its refusal (`_screened`) where it has one."""
    if _all_clean(cells):
        return cells
    return [_screened(name, value) for name, value in zip(names, cells, strict=True)]


def _trimmed_row(names: list[str], cells: list[Any]) -> list[Any]:
    """`_screened_row`, its text cells trimmed: in one pass over a row of text cells without
    zero-width characters, where trimming is `str.strip`."""
    if _all_clean(cells):
        if _ZERO_WIDTH.search("".join(cells)) is None:
            return [value.strip() for value in cells]
        return [text.trim(value) for value in cells]
    return [
        text.trim(value) if isinstance(value, str) else value
        for value in _screened_row(names, cells)
    ]


def _all_clean(cells: list[Any]) -> bool:
    """Whether no cell can be refused, for a row of text cells (the usual case) in one search
    over them all: trimming only removes characters, so a cell refused once trimmed holds a
    refused character untrimmed too. False for other rows: they are checked cell by cell."""
    try:
        joined = "".join(cells)
    except TypeError:  # a workbook's numbers and dates, empty cells
        return False
    return text.refusal(joined) is None


def _screened(field_name: str, value: Any) -> Any:
    """The cell, or its refusal when its text (trimmed as cell_text trims) may not be taken."""
    if isinstance(value, str) and (refusal := text.refusal(text.trim(value))):
        return RefusedCell(field_name, value, refusal)
    return value


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    # Decoded as read, never as one string: a million-line file stays within memory.
    encoding = "utf-8-sig" if _decodes(content, "utf-8-sig") else "gb18030"
    if not _decodes(content, encoding):  # what Excel on a Chinese Windows saves, or neither
        raise InvalidInput(
            "file",
            "not a readable CSV file: neither UTF-8 nor GB18030",
            code=Reason.file_unreadable,
        )
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(content), encoding=encoding, newline=""))
    try:
        yield from reader
    except csv.Error as exc:  # a field over csv's size limit, say
        raise InvalidInput(
            "file",
            f"not a readable CSV file, line {reader.line_num}: {exc}",
            code=Reason.file_unreadable,
        ) from exc


def _decodes(content: bytes, encoding: str) -> bool:
    """Whether `content` is valid in `encoding`, checked piecewise without keeping the text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(content)
    try:
        for start in range(0, len(view), DECODE_CHUNK):
            decoder.decode(view[start : start + DECODE_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _unreadable_workbook() -> InvalidInput:
    return InvalidInput("file", "not a readable .xlsx workbook", code=Reason.file_unreadable)


def _checked_archive(content: bytes, limits: FileLimits) -> zipfile.ZipFile:
    """The workbook's zip, once its directory shows that no part unpacks past the limits: in
    all, `limits.max_unpacked_bytes`; any part over a megabyte, MAX_RATIO times its packed
    size (Apache POI's rule). Python's zip reader never unpacks more than a part declares."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _unreadable_workbook() from exc
    parts = archive.infolist()
    unpacked = sum(info.file_size for info in parts)
    bomb = next(
        (
            info
            for info in parts
            if info.file_size > MB and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ),
        None,
    )
    if unpacked > limits.max_unpacked_bytes or bomb is not None:
        archive.close()
        why = (
            f"its part {bomb.filename} unpacks to more than {MAX_RATIO} times its size"
            if bomb is not None
            else f"it unpacks to {unpacked // MB:,} MB, over {limits.max_unpacked_bytes // MB:,} MB"
        )
        raise InvalidInput(
            "file", f"the workbook is refused: {why}", code=Reason.unpacked_too_large
        )
    return archive


def _sheets(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if SHEET_PART.fullmatch(info.filename)]


def _row_elements(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """The `<row>` elements of a sheet, counted in its XML as it unpacks (a few hundred MB a
    second), without parsing it. Each piece keeps its last bytes for the next, so that a tag
    cut in two is counted once."""
    count, tail = 0, b""
    with archive.open(info) as part:
        while chunk := part.read(DECODE_CHUNK):
            data = tail + chunk
            cut = max(len(data) - ROW_TAG_MAX, 0)
            # Tags never overlap (each holds one "<"): those starting before the cut.
            count += len(ROW_TAG.findall(data)) - len(ROW_TAG.findall(data, cut))
            tail = data[cut:]
    return count + len(ROW_TAG.findall(tail))


def _xlsx_rows(content: bytes, limits: FileLimits) -> Iterator[tuple[Any, ...]]:
    """The header row, then the data rows cut to the header's width, streamed (openpyxl's
    read-only mode) and never past the row limit: the sheet's declared size is ignored, since a
    workbook may claim a million columns to have every row padded to them."""
    _checked_archive(content, limits).close()
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise _unreadable_workbook() from exc
    try:
        sheet = workbook.active
        if not isinstance(sheet, ReadOnlyWorksheet):
            return
        sheet.reset_dimensions()
        try:
            header = next(sheet.iter_rows(max_row=1, values_only=True), None)
            if header is None:
                return
            width = len(header)
            while width and header[width - 1] in (None, ""):
                width -= 1
            yield header[:width]
            if width:
                last = limits.max_rows + 2  # one past the limit, for read_table to refuse
                yield from sheet.iter_rows(min_row=2, max_row=last, max_col=width, values_only=True)
        except Exception as exc:  # a damaged sheet: openpyxl's or the XML parser's errors
            raise _unreadable_workbook() from exc
    finally:
        workbook.close()


def record_text(value: Any) -> str:
    """A cell of a `read_records` row as text: `cell_text`, without trimming text again."""
    return value if isinstance(value, str) else cell_text(value)


def cell_text(value: Any) -> str:
    """A cell as text: Excel's 13800000001.0 becomes '13800000001'; whitespace and zero-width
    characters around it go. A cell of text no field may hold is its row's error."""
    if value is None:
        return ""
    if isinstance(value, RefusedCell):
        raise value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text.trim(str(value))

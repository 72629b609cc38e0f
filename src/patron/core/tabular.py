"""Reading the CSV and Excel files operators upload: one header row, known column names in
Chinese or English, rows numbered as the operator sees them in their spreadsheet."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from openpyxl import load_workbook
from pydantic_core import PydanticCustomError

from patron.core import text
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason

# The longest sku or external order number a row may carry: the columns' width.
KEY_LENGTH = 64
DECODE_CHUNK = 1 << 20


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


def read_table(
    content: bytes, filename: str, headers: Mapping[str, str], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {field: value}) for each non-empty data row; `headers` maps column titles
    (matched case-insensitively) to field names, and unknown columns are ignored."""
    raw_rows = _xlsx_rows(content) if filename.lower().endswith(".xlsx") else _csv_rows(content)
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
    for number, values in enumerate(raw_rows, start=2):
        row = {f: _screened(f, v) for f, v in zip(fields, values, strict=False) if f is not None}
        if any(v not in (None, "") for v in row.values()):
            yield number, row


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


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise InvalidInput(
            "file", "not a readable .xlsx workbook", code=Reason.file_unreadable
        ) from exc
    try:
        sheet = workbook.active
        if sheet is None:
            return
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


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

"""What the product and order import pages share: reading the uploaded file, and explaining the
importers' refusals in the console's language by their codes."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from patron.console.forms import FormErrors, reason_text
from patron.console.i18n import Translator, has_key
from patron.console.web import settings_of
from patron.core.errors import InvalidInput, PatronError
from patron.core.uploads import PayloadTooLarge, read_capped

SUFFIXES = (".csv", ".xlsx")
# What reading a file that is not a CSV in UTF-8 or GB18030, nor an .xlsx workbook, raises.
UNREADABLE = (ValueError, KeyError, zipfile.BadZipFile, csv.Error)


class UploadRefused(Exception):
    """No file, the wrong kind of file, or too large a one: shown beside the file input."""

    def __init__(self, errors: FormErrors) -> None:
        super().__init__(errors.message)
        self.errors = errors


@dataclass(frozen=True)
class Upload:
    content: bytes
    filename: str


@dataclass(frozen=True)
class ErrorRow:
    row: int
    field: str
    reason: str
    # The importer's own words, which name the offending value.
    raw: str


def read_upload(request: Request, form: FormData, t: Translator) -> Upload:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise UploadRefused(file_error(t("import.no_file"), t))
    if not upload.filename.lower().endswith(SUFFIXES):
        raise UploadRefused(file_error(t("import.bad_type"), t))
    settings = settings_of(request)
    try:
        return Upload(read_capped(upload, settings), upload.filename)
    except PayloadTooLarge as error:
        message = t("import.too_large_short", mb=settings.max_upload_mb)
        raise UploadRefused(file_error(message, t, status=error.status)) from error
    except InvalidInput as error:  # a file name that is not text
        raise UploadRefused(refused_file(error, t)) from error


def file_error(
    message: str, t: Translator, detail: str | None = None, status: int = 422
) -> FormErrors:
    return FormErrors(
        message=t("error.form"), detail=detail, fields={"file": message}, status=status
    )


def refused_file(error: PatronError, t: Translator) -> FormErrors:
    """An importer's refusal of the whole file (`InvalidInput("file", ...)` and the like)."""
    first = next(iter(error.extra.get("errors", [])), {"message": error.detail})
    return file_error(reason_text(first.get("code"), first["message"], t), t, first["message"])


def error_rows(errors: list[dict[str, object]], t: Translator) -> list[ErrorRow]:
    rows = []
    for error in sorted(errors, key=lambda e: _row_number(e.get("row"))):
        field, raw = str(error.get("field", "")), str(error.get("reason", ""))
        key = f"column.{field}"
        label = t(key) if has_key(key) else field
        reason = reason_text(error.get("code"), raw, t)
        rows.append(ErrorRow(_row_number(error.get("row")), label, reason, raw))
    return rows


def _row_number(value: object) -> int:
    return value if isinstance(value, int) else 0


def columns(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """The column titles an importer recognises, by the field they fill."""
    found: dict[str, list[str]] = {}
    for title, name in headers.items():
        found.setdefault(name, []).append(title)
    return found

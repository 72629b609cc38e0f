"""Member import: upload a CSV or Excel file, try it as a dry run, then import it."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from patron.console.forms import NO_ERRORS, FormErrors, reason_text
from patron.console.i18n import Translator, has_key
from patron.console.member_forms import field_errors, member_errors
from patron.console.web import (
    CheckedForm,
    ConsoleActorDep,
    Tx,
    attempt,
    render,
    require_console,
    settings_of,
    t_for,
)
from patron.core.errors import PatronError
from patron.core.uploads import PayloadTooLarge, read_capped
from patron.members import importer
from patron.members import permissions as member_policy
from patron.members.importer import HEADERS
from patron.members.schemas import ImportReport

router = APIRouter(prefix="/members/import")
SUFFIXES = (".csv", ".xlsx")


@dataclass(frozen=True)
class ErrorRow:
    row: int
    field: str
    reason: str
    # The importer's own words, which name the offending value.
    raw: str


@router.get("")
def import_page(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, member_policy.IMPORT)
    return _page(request, None, True, NO_ERRORS)


@router.post("")
def import_run(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> HTMLResponse:
    require_console(actor, member_policy.IMPORT)
    t = t_for(request)
    dry_run = form.get("dry_run") == "on"
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, None, dry_run, field_errors({"file": t("import.no_file")}, t))
    filename = upload.filename
    if not filename.lower().endswith(SUFFIXES):
        return _page(request, None, dry_run, field_errors({"file": t("import.bad_type")}, t))
    settings = settings_of(request)
    try:
        content = read_capped(upload, settings)
    except PayloadTooLarge as error:
        message = t("import.too_large", mb=settings.max_upload_mb)
        return _page(request, None, dry_run, field_errors({"file": message}, t, error.status))
    try:
        # A refusal midway (an unreadable file) undoes what the import wrote before it.
        with attempt(session):
            rows = importer.read_rows(content, filename)
            report = importer.import_members(session, actor, rows, dry_run=dry_run)
    except PatronError as error:
        return _page(request, None, dry_run, member_errors(error, t))
    except (ValueError, KeyError, zipfile.BadZipFile) as error:
        # Not a CSV in UTF-8 or GB18030, nor an .xlsx workbook.
        errors = field_errors({"file": t("import.unreadable")}, t)
        return _page(request, None, dry_run, errors, str(error))
    return _page(request, report, dry_run, NO_ERRORS, filename=filename)


def _page(
    request: Request,
    report: ImportReport | None,
    dry_run: bool,
    errors: FormErrors,
    detail: str | None = None,
    filename: str = "",
) -> HTMLResponse:
    t = t_for(request)
    columns: dict[str, list[str]] = {}
    for header, name in HEADERS.items():
        columns.setdefault(name, []).append(header)
    return render(
        request,
        "members/import.html",
        status=errors.status,
        report=report,
        dry_run=dry_run,
        errors=errors,
        detail=detail,
        filename=filename,
        columns=columns,
        error_rows=_error_rows(report, t) if report else [],
    )


def _error_rows(report: ImportReport, t: Translator) -> list[ErrorRow]:
    rows = []
    for error in sorted(report.errors, key=lambda e: e.row):
        key = f"import.field.{error.field}"
        label = t(key) if has_key(key) else error.field
        reason = reason_text(error.code, error.reason, t)
        rows.append(ErrorRow(error.row, label, reason, error.reason))
    return rows

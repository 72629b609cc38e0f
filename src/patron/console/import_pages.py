"""Member import: upload a CSV or Excel file, try it as a dry run, then import it. The import
runs off the request; its page follows it to its report."""

from __future__ import annotations

from fastapi import APIRouter

from patron.console.forms import reason_text
from patron.console.i18n import Translator, has_key
from patron.console.uploads import ErrorRow, ImportScreen
from patron.console.web import PREFIX
from patron.imports.models import ImportKind
from patron.members import permissions as member_policy
from patron.members.importer import HEADERS
from patron.members.schemas import ImportReport

router = APIRouter(prefix="/members/import")


def _error_rows(report: ImportReport, t: Translator) -> list[ErrorRow]:
    rows = []
    for error in sorted(report.errors, key=lambda e: e.row):
        key = f"import.field.{error.field}"
        label = t(key) if has_key(key) else error.field
        reason = reason_text(error.code, error.reason, t)
        rows.append(ErrorRow(error.row, label, reason, error.reason))
    return rows


ImportScreen(
    kind=ImportKind.members,
    path="",
    url=f"{PREFIX}/members/import",
    permission=member_policy.IMPORT,
    template="members/import.html",
    report=ImportReport,
    headers=HEADERS,
    rows=_error_rows,
).add_to(router)

"""Member import: upload a CSV or Excel file, try it as a dry run, then import it. The import
runs off the request; its page follows it to its report."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, Response

from patron.console.forms import NO_ERRORS, FormErrors, reason_text
from patron.console.i18n import Translator, has_key
from patron.console.uploads import (
    ImportView,
    UploadRefused,
    columns,
    dry_run_of,
    import_view,
    submit,
)
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    Tx,
    redirect,
    render,
    require_console,
    t_for,
)
from patron.imports.models import ImportKind
from patron.members import permissions as member_policy
from patron.members.importer import HEADERS
from patron.members.schemas import ImportReport

router = APIRouter(prefix="/members/import")


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
    request: Request,
    session: Tx,
    background: BackgroundTasks,
    actor: ConsoleActorDep,
    form: CheckedForm,
) -> Response:
    require_console(actor, member_policy.IMPORT)
    try:
        import_id = submit(request, session, background, actor, ImportKind.members, form)
    except UploadRefused as refused:
        return _page(request, None, dry_run_of(form), refused.errors)
    return redirect(f"{PREFIX}/members/import/{import_id}")


@router.get("/{import_id}")
def import_result(
    request: Request, import_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, member_policy.IMPORT)
    job = import_view(session, actor, ImportKind.members, import_id, t_for(request))
    return _page(request, job, job.record.dry_run, job.errors)


def _page(
    request: Request, job: ImportView | None, dry_run: bool, errors: FormErrors
) -> HTMLResponse:
    t = t_for(request)
    report = ImportReport.model_validate(job.record.report) if job and job.record.report else None
    return render(
        request,
        "members/import.html",
        status=errors.status,
        report=report,
        dry_run=dry_run,
        errors=errors,
        columns=columns(HEADERS),
        error_rows=_error_rows(report, t) if report else [],
        **(job.context() if job else {}),
    )


def _error_rows(report: ImportReport, t: Translator) -> list[ErrorRow]:
    rows = []
    for error in sorted(report.errors, key=lambda e: e.row):
        key = f"import.field.{error.field}"
        label = t(key) if has_key(key) else error.field
        reason = reason_text(error.code, error.reason, t)
        rows.append(ErrorRow(error.row, label, reason, error.reason))
    return rows

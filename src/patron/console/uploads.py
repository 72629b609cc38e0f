"""What the member, product and order import pages share: reading the uploaded file, handing it
to the process's import queue (the import runs off the request thread), the import's own page,
which reloads itself while the import runs and then shows its report, and the importers'
refusals in the console's language by their codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from patron.console.forms import NO_ERRORS, FormErrors, reason_text
from patron.console.i18n import Translator, has_key
from patron.console.web import (
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    error_page_on,
    redirect,
    render,
    require_console,
    settings_of,
    t_for,
)
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, PatronError
from patron.core.permissions import Permission
from patron.core.uploads import PayloadTooLarge, read_capped
from patron.imports import runner, service
from patron.imports.models import UNFINISHED, Import, ImportKind, ImportStatus

SUFFIXES = (".csv", ".xlsx")
# How often an import's page reloads while the import runs, in seconds.
REFRESH_SECONDS = 1


class UploadRefused(Exception):
    """No file, the wrong kind of file, too large a one, or too many imports waiting: shown
    beside the file input."""

    def __init__(self, errors: FormErrors) -> None:
        super().__init__(errors.message)
        self.errors = errors


@dataclass(frozen=True)
class ErrorRow:
    row: int
    field: str
    reason: str
    # The importer's own words, which name the offending value.
    raw: str


def dry_run_of(form: FormData) -> bool:
    return form.get("dry_run") == "on"


def submit(
    request: Request,
    session: Session,
    background: BackgroundTasks,
    actor: Actor,
    kind: ImportKind,
    form: FormData,
) -> int:
    """The id of the import the uploaded file is queued as: its record written in the
    request's transaction, the import started once that committed."""
    t = t_for(request)
    uploaded = uploaded_file(request, form)
    if uploaded is None:
        raise UploadRefused(file_error(t("import.no_file"), t))
    filename, content = uploaded
    queue: runner.ImportQueue = request.app.state.imports
    accepted = runner.Upload(kind, content, filename, dry_run_of(form))
    try:
        record = queue.accept(session, accepted, actor)
    except runner.ImportsBusy as busy:
        raise UploadRefused(file_error(t("import.busy"), t, status=busy.status)) from busy
    background.add_task(queue.start, record.id, accepted, actor)
    return record.id


def uploaded_file(request: Request, form: FormData) -> tuple[str, bytes] | None:
    """The name and bytes of the form's CSV or Excel file; None when no file was chosen.
    UploadRefused for another kind of file or too large a one."""
    t = t_for(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    if not upload.filename.lower().endswith(SUFFIXES):
        raise UploadRefused(file_error(t("import.bad_type"), t))
    settings = settings_of(request)
    try:
        return upload.filename, read_capped(upload, settings)
    except PayloadTooLarge as error:
        message = t("import.too_large_short", mb=settings.max_upload_mb)
        raise UploadRefused(file_error(message, t, status=error.status)) from error
    except InvalidInput as error:  # a file name that is not text
        raise UploadRefused(refused_file(error, t)) from error


@dataclass(frozen=True)
class ImportView:
    """An import as its page shows it: while it runs, how far it got; once it ended, the
    report, or why it failed beside the file input."""

    record: Import
    errors: FormErrors

    @property
    def unfinished(self) -> bool:
        return self.record.status in UNFINISHED

    @property
    def interrupted(self) -> bool:
        return self.record.status == ImportStatus.interrupted.value

    @property
    def percent(self) -> float:
        total = self.record.rows_total
        return min(100.0, 100.0 * self.record.rows_done / total) if total else 0.0

    def context(self) -> dict[str, Any]:
        """What an import page's template takes besides its report."""
        return {
            "job": self,
            "filename": self.record.filename,
            "refresh_seconds": REFRESH_SECONDS if self.unfinished else None,
        }


def import_view(
    session: Session, actor: Actor, kind: ImportKind, import_id: int, t: Translator
) -> ImportView:
    """The import of `kind` with this id, if the actor started it (or sees every import)."""
    with error_page_on(service.ImportNotFound):
        record = service.get_import(session, actor, import_id)
    if record.kind != kind.value:
        raise ErrorPage(404)
    problem = record.problem
    return ImportView(record, failed_file(problem, t) if problem else NO_ERRORS)


def file_error(
    message: str, t: Translator, detail: str | None = None, status: int = 422
) -> FormErrors:
    return FormErrors(
        message=t("error.form"), detail=detail, fields={"file": message}, status=status
    )


def refused_file(error: PatronError, t: Translator) -> FormErrors:
    """A file refused before it is queued (a file name that is not text), beside the file input."""
    first = next(iter(error.extra.get("errors", [])), {"message": error.detail})
    message = str(first["message"])
    return file_error(reason_text(first.get("code"), message, t), t, message, status=error.status)


def failed_file(problem: Mapping[str, Any], t: Translator) -> FormErrors:
    """Why an import failed, beside the file input: the importer's refusal of the whole file by
    its code (a missing column, a spreadsheet bomb), or that it broke off. The page itself is
    found (200)."""
    first = next(iter(problem.get("errors") or []), None)
    if first is None:
        return file_error(t("import.failed"), t, str(problem.get("detail")), status=200)
    message = str(first.get("message", ""))
    return file_error(reason_text(first.get("code"), message, t), t, message, status=200)


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


def report_rows(report: Any, t: Translator) -> list[ErrorRow]:
    """The rows of a report whose errors are the importer's dicts (orders, products)."""
    return error_rows(report.errors, t)


@dataclass(frozen=True)
class ImportScreen:
    """A console import of one kind of file: its form, its upload (refusals shown beside the file
    input) and the import's own page, each behind `permission`; the page renders `template` with
    the report, once there is one, read as `report` and its rows by `rows`."""

    kind: ImportKind
    path: str  # under the router it is added to
    url: str  # the same path under the console, for the redirect to the import's page
    permission: Permission
    template: str
    report: type[BaseModel]
    headers: Mapping[str, str]
    required: tuple[str, ...] = ()
    rows: Callable[[Any, Translator], list[ErrorRow]] = report_rows

    def add_to(self, router: APIRouter) -> None:
        @router.get(self.path)
        def import_page(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
            require_console(actor, self.permission)
            return self.page(request, None, True, NO_ERRORS)

        @router.post(self.path)
        def import_run(
            request: Request,
            session: Tx,
            background: BackgroundTasks,
            actor: ConsoleActorDep,
            form: CheckedForm,
        ) -> Response:
            require_console(actor, self.permission)
            try:
                import_id = submit(request, session, background, actor, self.kind, form)
            except UploadRefused as refused:
                return self.page(request, None, dry_run_of(form), refused.errors)
            return redirect(f"{self.url}/{import_id}")

        @router.get(self.path + "/{import_id}")
        def import_result(
            request: Request, import_id: int, session: Tx, actor: ConsoleActorDep
        ) -> HTMLResponse:
            require_console(actor, self.permission)
            job = import_view(session, actor, self.kind, import_id, t_for(request))
            return self.page(request, job, job.record.dry_run, job.errors)

    def page(
        self, request: Request, job: ImportView | None, dry_run: bool, errors: FormErrors
    ) -> HTMLResponse:
        stored = job.record.report if job else None
        report = self.report.model_validate(stored) if stored else None
        return render(
            request,
            self.template,
            status=errors.status,
            report=report,
            dry_run=dry_run,
            errors=errors,
            columns=columns(self.headers),
            required=self.required,
            error_rows=self.rows(report, t_for(request)) if report else [],
            **(job.context() if job else {}),
        )

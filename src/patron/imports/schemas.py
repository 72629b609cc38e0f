from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patron.catalog.schemas import ProductImportReport
from patron.imports.models import ImportKind, ImportStatus
from patron.members.schemas import ImportReport
from patron.orders.schemas import OrderImportReport


class ImportProblem(BaseModel):
    """Why an import failed: the problem document (RFC 9457) its upload would have been
    answered with, e.g. 422 `validation_error` with `errors: [{"field": "file", "code":
    "too_many_rows", ...}]`."""

    status: int
    code: str
    title: str
    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class ImportSummary(BaseModel):
    """An import in a list: where it is, without its report."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: ImportKind
    status: ImportStatus
    dry_run: bool
    filename: str
    rows_done: int
    rows_total: int | None
    actor_type: str
    actor_id: int | None
    actor_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportOut(ImportSummary):
    """An import: `queued`, `running` (`rows_done` of at most `rows_total` data rows), then
    `done` with its `report`, `failed` with its `problem`, or `interrupted` (the process stopped
    between two batches: what they wrote stays, and the same file uploaded again loads the
    rest)."""

    report: ImportReport | OrderImportReport | ProductImportReport | None
    problem: ImportProblem | None

"""Uploads of member, product and order files, answered 202 at once: the import runs off the
request thread and its record (`Location`) shows its progress, then its report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, File, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from patron.catalog import permissions as catalog_policy
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.settings import Settings
from patron.core.uploads import read_capped
from patron.deps import API_PREFIX, ActorDep, OneHopRouter, SessionDep, SettingsDep, require
from patron.imports import permissions, service
from patron.imports.models import ImportKind, ImportStatus
from patron.imports.runner import ImportQueue, ImportsBusy, Upload
from patron.imports.schemas import ImportOut, ImportSummary
from patron.members import permissions as member_policy
from patron.orders import permissions as order_policy

router = OneHopRouter(tags=["imports"])
ACCEPTED = "Accepted: the import is queued; `Location` is its record, to poll until it ends."
# An upload's answers besides those its dependencies imply: 202 with the record's address, or
# 503 when this process has as many imports as it takes.
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **errors(ImportsBusy),
    202: {
        "description": ACCEPTED,
        "headers": {
            "Location": {
                "description": "The import's record: GET it until its status ends.",
                "required": True,
                "schema": {"type": "string", "format": "uri-reference"},
            }
        },
    },
}


@dataclass(frozen=True)
class Accepting:
    """What an upload route hands its file to: the import's record is written in the request's
    transaction, and the import starts once that committed (a background task)."""

    session: Session
    settings: Settings
    queue: ImportQueue
    response: Response
    background: BackgroundTasks

    def __call__(
        self, actor: Actor, kind: ImportKind, file: UploadFile, dry_run: bool
    ) -> ImportOut:
        content = read_capped(file, self.settings)
        upload = Upload(kind, content, file.filename or f"{kind.value}.csv", dry_run)
        record = self.queue.accept(self.session, upload, actor)
        self.background.add_task(self.queue.start, record.id, upload, actor)
        self.response.headers["Location"] = f"{API_PREFIX}/imports/{record.id}"
        return ImportOut.model_validate(record)


def accepting(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    background: BackgroundTasks,
) -> Accepting:
    return Accepting(session, settings, request.app.state.imports, response, background)


AcceptDep = Annotated[Accepting, Depends(accepting)]


@router.post(
    "/imports/members", response_model=ImportOut, status_code=202, responses=UPLOAD_RESPONSES
)
def import_members(
    accept: AcceptDep,
    actor: Annotated[Actor, Depends(require(member_policy.IMPORT))],
    file: Annotated[
        UploadFile, File(description="CSV (UTF-8 or GB18030) or .xlsx with a header row")
    ],
    dry_run: bool = True,
) -> ImportOut:
    return accept(actor, ImportKind.members, file, dry_run)


@router.post(
    "/imports/products", response_model=ImportOut, status_code=202, responses=UPLOAD_RESPONSES
)
def import_products(
    accept: AcceptDep,
    actor: Annotated[Actor, Depends(require(catalog_policy.EDIT))],
    file: Annotated[UploadFile, File(description="CSV or .xlsx; prices in yuan")],
    dry_run: bool = True,
) -> ImportOut:
    return accept(actor, ImportKind.products, file, dry_run)


@router.post(
    "/imports/orders", response_model=ImportOut, status_code=202, responses=UPLOAD_RESPONSES
)
def import_orders(
    accept: AcceptDep,
    actor: Annotated[Actor, Depends(require(order_policy.IMPORT))],
    file: Annotated[UploadFile, File(description="CSV or .xlsx, one row per order line")],
    dry_run: bool = True,
) -> ImportOut:
    return accept(actor, ImportKind.orders, file, dry_run)


@router.get("/imports", response_model=Page[ImportSummary])
def list_imports(
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.READ_ALL))],
    kind: ImportKind | None = None,
    status: ImportStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ImportSummary]:
    page = service.list_imports(session, kind, status, cursor, limit)
    return Page(
        items=[ImportSummary.model_validate(record) for record in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/imports/{import_id}", response_model=ImportOut, responses=errors(service.ImportNotFound)
)
def get_import(import_id: int, session: SessionDep, actor: ActorDep) -> ImportOut:
    """An import's progress and, once it ended, its report (or why it failed). Seen by whoever
    started it, and by hq_admin."""
    return ImportOut.model_validate(service.get_import(session, actor, import_id))

"""Import records: written when a file is accepted, moved along as it runs (each batch writes
its progress in its own transaction), read by the API and the console."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.context import current_request_id
from patron.core.errors import NotFound
from patron.core.pagination import PageResult, paginate
from patron.imports import permissions
from patron.imports.models import UNFINISHED, Import, ImportKind, ImportStatus

# An unfinished import whose record nothing touched for this long belongs to a process that
# is gone: a running import writes its progress with every batch.
STALE_AFTER = timedelta(minutes=10)


class ImportNotFound(NotFound):
    code = "import_not_found"
    title = "Import not found"


def create(
    session: Session, actor: Actor, kind: ImportKind, filename: str, dry_run: bool, owner: str
) -> Import:
    record = Import(
        kind=kind.value,
        status=ImportStatus.queued.value,
        dry_run=dry_run,
        filename=filename[:255],
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        owner=owner,
        request_id=current_request_id(),
    )
    session.add(record)
    session.flush()
    return record


def get_import(session: Session, actor: Actor, import_id: int) -> Import:
    """The import, for whoever started it and for those who see every import; 404 for others."""
    record = session.get(Import, import_id)
    if record is None or not (
        permissions.READ_ALL.allows(actor)
        or (record.actor_type, record.actor_id) == (actor.kind, actor.id)
    ):
        raise ImportNotFound(f"no import {import_id}")
    return record


def list_imports(
    session: Session,
    kind: ImportKind | None,
    status: ImportStatus | None,
    cursor: str | None,
    limit: int,
) -> PageResult[Import]:
    """Every import, newest first (the interrupted ones, say, after a restart)."""
    query = select(Import)
    if kind is not None:
        query = query.where(Import.kind == kind.value)
    if status is not None:
        query = query.where(Import.status == status.value)
    return paginate(session, query, Import.id, cursor, limit)


def start(session: Session, import_id: int, rows_total: int) -> None:
    now = clock.now()
    _set(
        session,
        import_id,
        status=ImportStatus.running.value,
        rows_total=rows_total,
        started_at=now,
        updated_at=now,
    )


def progress(session: Session, import_id: int, rows_done: int) -> None:
    _set(session, import_id, rows_done=rows_done, updated_at=clock.now())


def finish(session: Session, import_id: int, report: dict[str, Any]) -> None:
    _end(session, import_id, ImportStatus.done, report=report, rows_done=report["rows"])


def fail(session: Session, import_id: int, problem: dict[str, Any]) -> None:
    _end(session, import_id, ImportStatus.failed, problem=problem)


def interrupt(session: Session, import_id: int) -> None:
    """Mark interrupted, unless it ended meanwhile."""
    now = clock.now()
    session.execute(
        update(Import)
        .where(Import.id == import_id, Import.status.in_(UNFINISHED))
        .values(status=ImportStatus.interrupted.value, finished_at=now, updated_at=now)
    )


def orphans(session: Session, host: str, pid: int, alive: Callable[[int], bool]) -> list[int]:
    """At start-up, before this process runs any import: the unfinished imports of dead
    processes. On this host, a process is dead when its pid is gone (or is this process's own);
    anywhere, when its import has not moved for STALE_AFTER."""
    stale_before = clock.now() - STALE_AFTER
    dead = []
    for record in session.scalars(select(Import).where(Import.status.in_(UNFINISHED))):
        owner_host, _, owner_pid = record.owner.rpartition(":")
        dead_here = owner_host == host and (
            not owner_pid.isdigit() or int(owner_pid) == pid or not alive(int(owner_pid))
        )
        if dead_here or record.updated_at < stale_before:
            dead.append(record.id)
    return dead


def _end(session: Session, import_id: int, status: ImportStatus, **values: Any) -> None:
    now = clock.now()
    _set(session, import_id, status=status.value, finished_at=now, updated_at=now, **values)


def _set(session: Session, import_id: int, **values: Any) -> None:
    session.execute(update(Import).where(Import.id == import_id).values(**values))

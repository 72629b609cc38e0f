"""Running an import: the file measured against the limits, then loaded by its domain's
importer in batches, its record moved along. The CLI runs one in the foreground; the API and
the console hand theirs to the process's ImportQueue, which runs them off the request threads."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.core.actor import Actor
from patron.core.batches import Batches, Stopped, committed, reading
from patron.core.db import DatabaseBusy
from patron.core.errors import PatronError, ServiceUnavailable
from patron.core.settings import Settings
from patron.core.tabular import FileLimits, measure
from patron.imports import service
from patron.imports.models import Import, ImportKind
from patron.members import importer as member_importer
from patron.orders import importer as order_importer

log = logging.getLogger("patron.imports")
Sessions = Callable[[], Session]
# Imports that may wait in a process's queue beside those running (each holds its file).
WAITING = 8


class ImportsBusy(ServiceUnavailable):
    code = "imports_busy"
    title = "Too many imports waiting"
    retry_after_seconds = 10


@dataclass(frozen=True)
class Upload:
    kind: ImportKind
    content: bytes
    filename: str
    dry_run: bool
    # Order files only: publish `order.completed` (history earns points), the CLI's option.
    publish_events: bool = False


@dataclass(frozen=True)
class Finished:
    record: Import
    # The refusal an import failed with, for a caller that reports it its own way (the CLI).
    error: PatronError | None = None


def owner() -> str:
    """This process, as an import record names it."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def accept(sessions: Sessions, upload: Upload, actor: Actor) -> int:
    """The id of the import's record, queued and committed (the CLI's: no request holds a
    transaction for it)."""
    with committed(sessions) as session:
        return service.create(
            session, actor, upload.kind, upload.filename, upload.dry_run, owner()
        ).id


def run(
    sessions: Sessions,
    import_id: int,
    upload: Upload,
    actor: Actor,
    settings: Settings,
    stop: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Finished:
    """Run an accepted import to its end: done, failed (a refusal of the whole file, or an
    error, logged) or interrupted (`stop` set). `on_progress(rows_done, rows_total)` follows
    each batch."""
    limits = FileLimits.of(settings)
    error: PatronError | None = None
    try:
        rows_total = measure(upload.content, upload.filename, limits)
        with committed(sessions) as session:
            service.start(session, import_id, rows_total)

        def progress(session: Session, rows_done: int) -> None:
            service.progress(session, import_id, rows_done)
            if on_progress is not None:
                on_progress(rows_done, rows_total)

        batches = Batches(sessions, settings.import_batch_size, progress, stop)
        report = _load(batches, actor, upload, limits)
        with committed(sessions) as session:
            service.finish(session, import_id, report.model_dump(mode="json"))
    except Stopped:
        with committed(sessions) as session:
            service.interrupt(session, import_id)
    except PatronError as exc:
        error = exc
        with committed(sessions) as session:
            service.fail(session, import_id, problem(exc))
    except Exception:
        log.exception("import %s failed", import_id)
        with committed(sessions) as session:
            service.fail(session, import_id, INTERNAL_ERROR)
    with reading(sessions) as session:
        finished = session.get(Import, import_id)
        assert finished is not None
        return Finished(finished, error)


INTERNAL_ERROR = {
    "status": 500,
    "code": "internal_error",
    "title": "Internal server error",
    "detail": "the import stopped on an unexpected error; it is in the server's log",
}


def problem(error: PatronError) -> dict[str, object]:
    """The problem document an API answer would carry for `error`."""
    return {
        "status": error.status,
        "code": error.code,
        "title": error.title,
        "detail": error.detail,
        **error.extra,
    }


def _load(batches: Batches, actor: Actor, upload: Upload, limits: FileLimits) -> BaseModel:
    content, filename, dry_run = upload.content, upload.filename, upload.dry_run
    if upload.kind is ImportKind.members:
        rows = member_importer.read_rows(content, filename, limits)
        return member_importer.import_members(batches, actor, rows, dry_run)
    if upload.kind is ImportKind.orders:
        order_rows = order_importer.read_rows(content, filename, limits)
        return order_importer.import_orders(
            batches, actor, order_rows, dry_run, upload.publish_events
        )
    return catalog.import_products(batches, actor, content, filename, dry_run, limits)


def interrupt_orphans(sessions: Sessions) -> list[int]:
    """Mark interrupted what dead processes left unfinished (see `service.orphans`); the write
    lock is taken only when there are some."""
    host, _, pid = owner().rpartition(":")
    with reading(sessions) as session:
        dead = service.orphans(session, host, int(pid), _alive)
    if dead:
        with committed(sessions) as session:
            for import_id in dead:
                service.interrupt(session, import_id)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class ImportQueue:
    """The process's imports, run off the request threads: `settings.import_workers` at a time,
    up to WAITING more in line; with 0 workers, each runs in the request that uploads it, once
    its answer is sent. A request `accept`s an import in its own transaction and `start`s it
    once that committed (a background task), so the import always finds its record."""

    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: dict[int, Future[None]] = {}

    def accept(self, session: Session, upload: Upload, actor: Actor) -> Import:
        """The import's record, queued in the request's transaction; ImportsBusy when this
        process has as many imports as it takes."""
        with self._lock:
            self._pending = {k: f for k, f in self._pending.items() if not f.done()}
            if self.settings.import_workers and len(self._pending) >= (
                self.settings.import_workers + WAITING
            ):
                busy = f"{len(self._pending)} imports are running or waiting here; retry later"
                raise ImportsBusy(busy)
        return service.create(session, actor, upload.kind, upload.filename, upload.dry_run, owner())

    def start(self, import_id: int, upload: Upload, actor: Actor) -> None:
        """Run an accepted import (its record committed), on a worker thread if there are any."""
        workers = self.settings.import_workers
        if workers == 0:
            self._run(import_id, upload, actor)
            return
        context = contextvars.copy_context()  # the request id, for the log and the audit trail
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, thread_name_prefix="patron-import")
            self._pending[import_id] = self._executor.submit(
                context.run, self._run, import_id, upload, actor
            )

    def _run(self, import_id: int, upload: Upload, actor: Actor) -> None:
        try:
            run(self.sessions, import_id, upload, actor, self.settings, self._stop)
        except Exception:  # the record could not be written: the database is gone
            log.exception("import %s could not record its end", import_id)

    def recover(self) -> None:
        """At start-up: imports dead processes left unfinished become interrupted."""
        try:
            interrupted = interrupt_orphans(self.sessions)
        except (SQLAlchemyError, DatabaseBusy):
            log.warning("unfinished imports not checked: the database does not answer")
            return
        if interrupted:
            log.warning("imports interrupted by a process that stopped: %s", interrupted)

    def stop(self) -> None:
        """At shutdown: running imports stop after their current batch, waiting ones do not
        start; both are marked interrupted."""
        self._stop.set()
        with self._lock:
            executor, pending = self._executor, dict(self._pending)
        if executor is None:
            return
        executor.shutdown(wait=True, cancel_futures=True)
        for import_id, future in pending.items():
            if future.cancelled():
                with committed(self.sessions) as session:
                    service.interrupt(session, import_id)

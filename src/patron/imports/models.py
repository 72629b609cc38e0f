"""An uploaded file being imported: its progress while it runs and its report once it ends."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class ImportKind(StrEnum):
    members = "members"
    orders = "orders"
    products = "products"


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    # The process stopped (shut down, or died) before the import finished; the batches before
    # stayed in, and running the file again loads the rest.
    interrupted = "interrupted"


UNFINISHED = (ImportStatus.queued.value, ImportStatus.running.value)


class Import(Base):
    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.queued.value)
    dry_run: Mapped[bool]
    filename: Mapped[str] = mapped_column(String(255))
    rows_done: Mapped[int] = mapped_column(default=0)
    # How many data rows the file holds at most, once it is measured; the report says exactly.
    rows_total: Mapped[int | None]
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why it failed: the problem document the upload would have been answered with.
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    # The process running it ("host:pid"), so that a restarted one knows its dead imports.
    owner: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Written with every batch: an unfinished import whose row stays untouched long is dead.
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

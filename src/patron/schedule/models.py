"""The schedule's run records: one row per run of a job, so two workers handed the same tick run
it once, and the console shows each job's last run and result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base


class JobRun(Base):
    __tablename__ = "job_runs"
    # A scheduled run claims (job, tick) by inserting its row; manual runs leave tick empty.
    __table_args__ = (
        UniqueConstraint("job", "tick"),
        Index("ix_job_runs_job_started", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    tick: Mapped[datetime | None]
    ran_for: Mapped[datetime]  # the `now` the job ran as of
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    summary: Mapped[str] = mapped_column(String(1000), default="")
    error: Mapped[str] = mapped_column(String(1000), default="")

"""The schedule's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from patron.core.errors import NotFound, PatronError

if TYPE_CHECKING:
    from patron.schedule.models import JobRun


class JobNotFound(NotFound):
    code = "job_not_found"
    title = "Job not found"


class JobFailed(PatronError):
    """A job's run raised: its run record says `failed` with the error; the cause is chained."""

    status = 500
    code = "job_failed"
    title = "Job failed"

    def __init__(self, run: JobRun) -> None:
        super().__init__(f"{run.job} failed: {run.error}")
        self.run = run

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patron.core.inputs import Input
from patron.core.moments import Moment
from patron.schedule import registry
from patron.schedule.models import JobRun


class JobRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str
    trigger: str = Field(description="`schedule` (a tick of the schedule) or `manual`.")
    tick: datetime | None = Field(description="The schedule's minute; null for a manual run.")
    ran_for: datetime = Field(description="The moment the job ran as of (its `now`).")
    status: str = Field(description="`running`, `succeeded` or `failed`.")
    started_at: datetime
    finished_at: datetime | None
    summary: str
    error: str


class JobOut(BaseModel):
    name: str
    cadence: str = Field(description="When it runs, in the business time zone.")
    description: str
    last_run: JobRunOut | None

    @classmethod
    def of(cls, job: registry.Job, last: JobRun | None) -> JobOut:
        return cls(
            name=job.name,
            cadence=job.cadence.label,
            description=job.description,
            last_run=JobRunOut.model_validate(last) if last else None,
        )


class JobRunIn(Input):
    now: Moment | None = Field(
        default=None, description="Run as of this moment (default: the current time)."
    )

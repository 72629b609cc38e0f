from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Query, Request

from patron.core import clock
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, require
from patron.schedule import permissions, runner, service
from patron.schedule.errors import JobFailed, JobNotFound
from patron.schedule.schemas import JobOut, JobRunIn, JobRunOut

router = OneHopRouter(tags=["schedule"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Runner = Annotated[Actor, Depends(require(permissions.RUN))]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(session: SessionDep, actor: Viewer) -> list[JobOut]:
    """The scheduled jobs in the order `patron jobs run` runs them, each with its cadence and
    its last run."""
    last = service.last_runs(session)
    return [JobOut.of(job, last.get(job.name)) for job in service.jobs()]


@router.get("/jobs/{job_name}/runs", response_model=Page[JobRunOut], responses=errors(JobNotFound))
def list_runs(
    job_name: str,
    session: SessionDep,
    actor: Viewer,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[JobRunOut]:
    """The job's runs, newest first."""
    page = service.list_runs(session, job_name, cursor, limit)
    return Page(
        items=[JobRunOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/jobs/{job_name}/run",
    response_model=JobRunOut,
    status_code=201,
    responses=errors(JobNotFound),
)
def run_job(
    job_name: str,
    request: Request,
    actor: Runner,
    data: Annotated[JobRunIn | None, Body()] = None,
) -> JobRunOut:
    """Run the job now, by hand (audited), as of `now` or the current time, and answer its run:
    `succeeded` with its summary, or `failed` with the error. Jobs are idempotent for a given
    `now`, so running one again is harmless. The run has transactions of its own."""
    service.get_job(job_name)
    now = data.now if data and data.now else clock.now()
    try:
        run = runner.run_job(job_name, now, actor=actor, sessions=request.app.state.session_factory)
    except JobFailed as failed:
        run = failed.run
    assert run is not None  # a manual run claims no tick: it always runs
    return JobRunOut.model_validate(run)

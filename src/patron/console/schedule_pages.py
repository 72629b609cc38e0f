"""The schedule (定时任务): each job, its cadence in the business time zone, its last run and
result, its recent runs, and a "run now" button for HQ admins."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from patron.console.i18n import Translator
from patron.console.message_ids import N_
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    Tx,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    safe_next,
    t_for,
    text,
)
from patron.core import clock
from patron.schedule import permissions, registry, runner, service
from patron.schedule.errors import JobFailed, JobNotFound
from patron.schedule.models import JobRun

router = APIRouter()
SCHEDULE_URL = f"{PREFIX}/schedule"
PAGE_ROWS = 20
# The jobs of this codebase have words in both languages; a job registered later without them
# shows its name and its registered (English) description.
BUILT_IDS = (
    N_("schedule.status.running"),
    N_("schedule.status.succeeded"),
    N_("schedule.status.failed"),
    N_("schedule.trigger.schedule"),
    N_("schedule.trigger.manual"),
    N_("schedule.job.points"),
    N_("schedule.job.points.description"),
    N_("schedule.job.coupons"),
    N_("schedule.job.coupons.description"),
    N_("schedule.job.tiers"),
    N_("schedule.job.tiers.description"),
    N_("schedule.job.staff"),
    N_("schedule.job.staff.description"),
    N_("schedule.job.outbox"),
    N_("schedule.job.outbox.description"),
    N_("flash.job_ran"),
    N_("flash.error.job_failed"),
)


@dataclass(frozen=True)
class JobRow:
    name: str
    title: str
    description: str
    cadence: str
    last: JobRun | None


def _said(t: Translator, key: str, fallback: str) -> str:
    words = t(key)
    return fallback if words in ("", key) else words


def cadence_text(cadence: registry.Cadence, t: Translator) -> str:
    if cadence.minute is None and cadence.hour is None:
        if cadence.step > 1:
            return t("schedule.cadence.every_minutes", minutes=str(cadence.step))
        return t("schedule.cadence.every_minute")
    if cadence.hour is None:
        return t("schedule.cadence.hourly", minute=f"{cadence.minute or 0:02d}")
    return t("schedule.cadence.daily", time=f"{cadence.hour:02d}:{cadence.minute or 0:02d}")


def job_row(job: registry.Job, last: JobRun | None, t: Translator) -> JobRow:
    return JobRow(
        name=job.name,
        title=_said(t, f"schedule.job.{job.name}", job.name),
        description=_said(t, f"schedule.job.{job.name}.description", job.description),
        cadence=cadence_text(job.cadence, t),
        last=last,
    )


def _rows(session: Session, t: Translator) -> list[JobRow]:
    last = service.last_runs(session)
    return [job_row(job, last.get(job.name), t) for job in service.jobs()]


@router.get("/schedule")
def schedule_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.VIEW)
    return render(
        request,
        "schedule/list.html",
        rows=_rows(session, t_for(request)),
        tz=str(clock.business_tz()),
    )


@router.get("/schedule/{job_name}")
def job_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    job_name: str,
    cursor: str | None = None,
) -> HTMLResponse:
    require_console(actor, permissions.VIEW)
    with error_page_on(JobNotFound):
        job = service.get_job(job_name)
        page = service.list_runs(session, job_name, cursor, PAGE_ROWS)
    last = service.last_runs(session).get(job.name)
    return render(
        request,
        "schedule/job.html",
        row=job_row(job, last, t_for(request)),
        runs=page.items,
        first_url=first_page_url(request),
        next_url=next_page_url(request, page.next_cursor),
        tz=str(clock.business_tz()),
    )


@router.post("/schedule/{job_name}/run")
def run_now(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm, job_name: str
) -> Response:
    """Run the job now, by hand (audited), in transactions of its own: the request's, which on
    SQLite holds the write lock since the sign-in check, ends first."""
    require_console(actor, permissions.RUN)
    with error_page_on(JobNotFound):
        service.get_job(job_name)
    session.commit()
    back = safe_next(text(form, "next") or SCHEDULE_URL)
    try:
        runner.run_job(
            job_name, clock.now(), actor=actor, sessions=request.app.state.session_factory
        )
    except JobFailed:
        return redirect(back, "flash.error.job_failed", job_name)
    return redirect(back, "flash.job_ran", job_name)

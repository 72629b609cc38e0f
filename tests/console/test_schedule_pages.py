"""The schedule page: each job with its cadence and last run, run by hand by an HQ admin only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.actor import Role
from patron.schedule import registry
from patron.schedule.models import JobRun
from tests.schedule.conftest import Counting, counting_job  # noqa: F401


def test_the_jobs_their_cadence_and_a_run_by_hand(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    admin = signed_in(Role.hq_admin)
    page = admin.get("/console/schedule")
    assert page.status_code == 200
    for words in (
        "定时任务",
        "积分到账与过期",
        "每小时第 00 分",
        "每天 00:10",
        "尚未运行",
        "立即运行",
    ):
        assert words in page.text
    ran = admin.post(
        "/console/schedule/coupons/run",
        data={"csrf": admin.headers["x-csrf"], "next": "/console/schedule"},
        follow_redirects=False,
    )
    assert ran.status_code == 303
    assert ran.headers["location"] == "/console/schedule"
    after = admin.get("/console/schedule")
    assert "任务“coupons”已运行" in after.text
    assert "0 expired, 0 expiry notices" in after.text
    [run] = session.scalars(select(JobRun).where(JobRun.job == "coupons")).all()
    assert (run.trigger, run.status) == ("manual", "succeeded")
    history = admin.get("/console/schedule/coupons")
    assert history.status_code == 200
    assert f'data-run-id="{run.id}"' in history.text


def test_in_english(signed_in: Callable[..., TestClient]) -> None:
    page = signed_in(Role.hq_admin, lang="en").get("/console/schedule")
    for words in ("Schedule", "Points release and expiry", "Hourly at :00", "Daily at 03:00"):
        assert words in page.text


def test_a_failed_run_is_told(
    signed_in: Callable[..., TestClient],
    counting_job: Callable[..., Counting],  # noqa: F811
) -> None:
    job = counting_job(registry.daily(4, 0), fail=True)
    admin = signed_in(Role.hq_admin, lang="en")
    page = admin.post(f"/console/schedule/{job.name}/run", data={"csrf": admin.headers["x-csrf"]})
    assert f"Job “{job.name}” failed" in page.text
    assert "RuntimeError: the till printer is on fire" in page.text
    assert "a test&#39;s job" in page.text  # no words of its own: its registered description


def test_hq_reads_only_an_admin_runs(signed_in: Callable[..., TestClient]) -> None:
    marketing = signed_in(Role.hq_marketing)
    page = marketing.get("/console/schedule")
    assert page.status_code == 200
    assert "立即运行" not in page.text
    refused = marketing.post(
        "/console/schedule/points/run", data={"csrf": marketing.headers["x-csrf"]}
    )
    assert refused.status_code == 403
    manager = signed_in(Role.store_manager)
    assert manager.get("/console/schedule").status_code == 403
    assert 'href="/console/schedule"' not in manager.get("/console/").text
    assert 'href="/console/schedule"' in marketing.get("/console/").text


def test_an_unknown_job_is_not_found(signed_in: Callable[..., TestClient]) -> None:
    admin = signed_in(Role.hq_admin)
    assert admin.get("/console/schedule/nope").status_code == 404
    assert (
        admin.post("/console/schedule/nope/run", data={"csrf": admin.headers["x-csrf"]}).status_code
        == 404
    )

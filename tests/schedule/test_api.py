"""GET /api/v1/jobs, GET /api/v1/jobs/{name}/runs, POST /api/v1/jobs/{name}/run."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core.actor import Role
from patron.core.settings import Settings
from patron.schedule import registry
from tests.factories import make_staff, staff_headers
from tests.schedule.conftest import Counting


def headers(session: Session, settings: Settings, role: Role = Role.hq_admin) -> dict[str, str]:
    return staff_headers(make_staff(session, role), settings)


def test_the_jobs_with_their_cadence_and_last_run(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = headers(session, settings)
    listed = client.get("/api/v1/jobs", headers=admin)
    assert listed.status_code == 200
    jobs = {job["name"]: job for job in listed.json()}
    assert list(jobs)[:5] == ["points", "coupons", "tiers", "staff", "outbox"]
    assert jobs["points"]["cadence"] == "hourly"
    assert jobs["tiers"]["cadence"] == "daily 00:10"
    assert jobs["points"]["description"]
    assert jobs["points"]["last_run"] is None

    ran = client.post(
        "/api/v1/jobs/points/run", json={"now": "2027-03-01T10:00:00+08:00"}, headers=admin
    )
    assert ran.status_code == 201, ran.text
    run = ran.json()
    assert (run["job"], run["trigger"], run["status"], run["tick"]) == (
        "points",
        "manual",
        "succeeded",
        None,
    )
    assert run["ran_for"] == "2027-03-01T02:00:00Z"
    assert run["summary"] == "0 lots released, 0 lots expired (0 points), 0 expiry notices"
    last = {j["name"]: j for j in client.get("/api/v1/jobs", headers=admin).json()}["points"]
    assert last["last_run"] == run
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.run_job")).one()
    assert (entry.entity_type, entry.entity_id) == ("job", "points")
    assert entry.after == {"now": "2027-03-01T02:00:00+00:00", "run_id": run["id"]}


def test_runs_page_newest_first(client: TestClient, session: Session, settings: Settings) -> None:
    admin = headers(session, settings)
    made = [client.post("/api/v1/jobs/staff/run", headers=admin).json()["id"] for _ in range(3)]
    first = client.get("/api/v1/jobs/staff/runs?limit=2", headers=admin).json()
    assert [r["id"] for r in first["items"]] == made[::-1][:2]
    rest = client.get(
        f"/api/v1/jobs/staff/runs?limit=2&cursor={first['next_cursor']}", headers=admin
    ).json()
    assert [r["id"] for r in rest["items"]] == made[:1]
    assert rest["next_cursor"] is None


def test_a_failed_run_is_answered_with_its_error(
    client: TestClient,
    session: Session,
    settings: Settings,
    counting_job: Callable[..., Counting],
) -> None:
    job = counting_job(registry.HOURLY, fail=True)
    ran = client.post(f"/api/v1/jobs/{job.name}/run", headers=headers(session, settings))
    assert ran.status_code == 201
    assert ran.json()["status"] == "failed"
    assert ran.json()["error"] == "RuntimeError: the till printer is on fire"


def test_unknown_jobs_are_not_found(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = headers(session, settings)
    for method, path in [("POST", "/api/v1/jobs/nope/run"), ("GET", "/api/v1/jobs/nope/runs")]:
        answer = client.request(method, path, headers=admin)
        assert answer.status_code == 404
        assert answer.json()["code"] == "job_not_found"


def test_hq_reads_only_an_hq_admin_runs(
    client: TestClient, session: Session, settings: Settings
) -> None:
    marketing = headers(session, settings, Role.hq_marketing)
    assert client.get("/api/v1/jobs", headers=marketing).status_code == 200
    assert client.get("/api/v1/jobs/points/runs", headers=marketing).status_code == 200
    assert client.post("/api/v1/jobs/points/run", headers=marketing).status_code == 403
    manager = headers(session, settings, Role.store_manager)
    assert client.get("/api/v1/jobs", headers=manager).status_code == 403


def test_now_needs_an_offset(client: TestClient, session: Session, settings: Settings) -> None:
    ran = client.post(
        "/api/v1/jobs/points/run",
        json={"now": "2027-03-01T10:00:00"},
        headers=headers(session, settings),
    )
    assert ran.status_code == 422

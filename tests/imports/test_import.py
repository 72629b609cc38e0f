"""Uploads answer 202 at once and run as imports with a record: who sees it, how a refused file
ends, what a restart or a shutdown leaves, and that the server answers while one runs."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.app import create_app
from patron.console.web import CSRF_FIELD, SESSION_COOKIE
from patron.core import clock, db, migrate
from patron.core.actor import SYSTEM, Role
from patron.core.security import form_token
from patron.core.settings import Settings
from patron.imports import runner, service
from patron.imports.models import Import, ImportKind
from patron.members.models import Member
from patron.orders.models import Order
from patron.staff import service as staff
from tests import conftest
from tests.core.test_tabular import workbook
from tests.factories import make_staff, make_store, order_body, staff_headers
from tests.uploads import UNFINISHED, report_of, upload, wait_for_import

Sessions = Callable[[], Session]
MEMBERS = "/api/v1/imports/members"
CSV = "手机号,姓名,开卡门店\n13911110001,甲,IMP01\n13911110002,乙,IMP01\n13911110003,丙,IMP01\n"


def test_an_import_is_seen_by_who_started_it_and_by_hq_admin(
    client: TestClient, session: Session, settings: Settings
) -> None:
    store = make_store(session, "IMP01")
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    other = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    accepted = client.post(
        MEMBERS, files={"file": ("m.csv", CSV.encode(), "text/csv")}, headers=manager
    )
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"
    record = wait_for_import(client, accepted, manager)
    assert (record["actor_type"], record["rows_done"], record["finished_at"] is not None) == (
        "staff",
        3,
        True,
    )
    assert report_of(record)["created"] == 3
    location = accepted.headers["Location"]
    assert client.get(location, headers=other).status_code == 404
    assert client.get(location, headers=admin).json() == record
    listed = client.get("/api/v1/imports?kind=members&status=done", headers=admin).json()
    assert [item["id"] for item in listed["items"]] == [record["id"]]
    assert "report" not in listed["items"][0]
    assert client.get("/api/v1/imports", headers=manager).status_code == 403


def test_a_spreadsheet_bomb_fails_with_its_code_and_writes_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    headers = staff_headers(make_staff(session), settings)
    same = b'<row><c t="inlineStr"><is><t>13911110001</t></is></c></row>'
    bomb = workbook([b'<row><c t="inlineStr"><is><t>mobile</t></is></c></row>'] + [same] * 40_000)
    record = upload(client, MEMBERS, bomb, headers, "bomb.xlsx", dry_run=False)
    assert (record["status"], record["rows_total"], record["report"]) == ("failed", None, None)
    problem = record["problem"]
    assert (problem["status"], problem["code"]) == (422, "validation_error")
    assert problem["errors"][0]["code"] == "unpacked_too_large"
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_a_file_past_the_row_limit_fails_before_a_row_is_written(
    make_app: Callable[..., FastAPI], session: Session, settings: Settings
) -> None:
    make_store(session, "IMP01")
    headers = staff_headers(make_staff(session), settings)
    with TestClient(make_app(import_max_rows=2)) as client:
        record = upload(client, MEMBERS, CSV.encode(), headers, dry_run=False)
    assert record["status"] == "failed"
    error = record["problem"]["errors"][0]
    assert (error["field"], error["code"]) == ("file", "too_many_rows")
    assert "more than 2 rows" in error["message"]
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_an_upload_past_the_queue_answers_503_with_retry_after(
    make_app: Callable[..., FastAPI],
    session: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One worker and no waiting place: while an import runs, the next upload is turned away."""
    headers = staff_headers(make_staff(session), settings)
    running, release = threading.Event(), threading.Event()

    def held(*_: object) -> None:  # runs on the worker, away from the test's connection
        running.set()
        release.wait(10)

    monkeypatch.setattr(runner, "WAITING", 0)
    monkeypatch.setattr(runner, "run", held)
    files = {"file": ("m.csv", CSV.encode(), "text/csv")}
    with TestClient(make_app(import_workers=1)) as client:
        try:
            assert client.post(MEMBERS, files=files, headers=headers).status_code == 202
            assert running.wait(10)
            busy = client.post(MEMBERS, files=files, headers=headers)
        finally:
            release.set()
    assert (busy.status_code, busy.json()["code"]) == (503, "imports_busy")
    assert busy.headers["Retry-After"] == "10"


@pytest.mark.parametrize(
    ("page", "filename", "content", "words"),
    [
        ("/console/products/import", "p.csv", b"\xff\xfe\x00garbage\x80", "无法读取该文件"),
        ("/console/orders/import", "o.csv", "门店编码\nSH001\n".encode(), "缺少必需的列"),
        ("/console/members/import", "m.csv", CSV.encode(), "已导入"),
    ],
    ids=["products_unreadable", "orders_columns_missing", "members_done"],
)
def test_a_console_import_ends_on_its_own_page(
    app: FastAPI,
    session: Session,
    settings: Settings,
    page: str,
    filename: str,
    content: bytes,
    words: str,
) -> None:
    make_store(session, "IMP01")
    token = staff.issue_token(make_staff(session, Role.hq_admin), settings).token
    other = staff.issue_token(make_staff(session, Role.hq_marketing), settings).token
    form = {CSRF_FIELD: form_token(settings.secret_key, token)}
    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, token, path="/console")
        sent = client.post(page, data=form, files={"file": (filename, content, "text/csv")})
        assert re.fullmatch(rf"{page}/\d+", sent.url.path), sent.url
        assert (sent.status_code, words in sent.text) == (200, True)
        assert 'http-equiv="refresh"' not in sent.text  # it ended: no more reloading
        client.cookies.set(SESSION_COOKIE, other, path="/console")
        assert client.get(sent.url.path).status_code in (403, 404)  # not theirs


def test_a_running_import_page_reloads_itself(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    user = make_staff(session, Role.hq_admin)
    actor = staff.actor_for(session, user)
    record = service.create(session, actor, ImportKind.orders, "o.csv", False, "elsewhere:1")
    service.start(session, record.id, 4000)
    service.progress(session, record.id, 1000)
    session.flush()
    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, staff.issue_token(user, settings).token, path="/console")
        shown = client.get(f"/console/orders/import/{record.id}")
        wrong_kind = client.get(f"/console/members/import/{record.id}")
    assert shown.status_code == 200
    assert '<meta http-equiv="refresh" content="1">' in shown.text
    assert "已处理 1,000 行，共约 4,000 行" in shown.text
    assert 'name="file"' not in shown.text  # no form while it runs
    assert wrong_kind.status_code == 404


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_at_start_up_the_imports_of_dead_processes_are_interrupted(
    make_app: Callable[..., FastAPI], session: Session, sessions: Sessions
) -> None:
    host = socket.gethostname()[:80]

    def left(owner: str, status: str = "running", idle: timedelta = timedelta()) -> int:
        record = service.create(session, SYSTEM, ImportKind.orders, "o.csv", False, owner)
        session.execute(
            update(Import)
            .where(Import.id == record.id)
            .values(status=status, updated_at=clock.now() - idle)
        )
        return record.id

    dead = left(f"{host}:{dead_pid()}")
    restarted = left(f"{host}:{os.getpid()}", "queued")  # a previous process with our pid
    alive_here = left(f"{host}:{os.getppid()}")
    elsewhere = left("another-host:42")
    gone_elsewhere = left("another-host:43", idle=service.STALE_AFTER + timedelta(minutes=1))
    finished = left(f"{host}:{dead_pid()}", "done")
    session.flush()
    with TestClient(make_app()):  # start-up
        pass
    statuses = {id_: status for id_, status in session.execute(select(Import.id, Import.status))}
    assert statuses == {
        dead: "interrupted",
        restarted: "interrupted",
        alive_here: "running",
        elsewhere: "running",
        gone_elsewhere: "interrupted",
        finished: "done",
    }


def test_a_stopped_import_ends_interrupted_between_batches(
    session: Session, sessions: Sessions, settings: Settings
) -> None:
    make_store(session, "IMP01")
    upload_ = runner.Upload(ImportKind.members, CSV.encode(), "m.csv", dry_run=False)
    import_id = runner.accept(sessions, upload_, SYSTEM)
    stop = threading.Event()
    stop.set()
    finished = runner.run(sessions, import_id, upload_, SYSTEM, settings, stop)
    assert (finished.record.status, finished.record.rows_total) == ("interrupted", 3)
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def test_an_import_that_breaks_fails_as_an_internal_error(
    session: Session, sessions: Sessions, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner.member_importer, "import_members", broken)
    upload_ = runner.Upload(ImportKind.members, CSV.encode(), "m.csv", dry_run=True)
    finished = runner.run(
        sessions, runner.accept(sessions, upload_, SYSTEM), upload_, SYSTEM, settings
    )
    assert finished.record.status == "failed"
    assert finished.record.problem == runner.INTERNAL_ERROR


# --- on a real database, with the import on its thread ------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def real_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, committed for real: the import's thread has its own connections."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'patron.db'}"
    elif conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    else:
        url = conftest._create_postgres_database()
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    if request.param == "postgresql":
        conftest._drop_postgres_database(url)


def order_file(orders: int) -> bytes:
    head = "门店编码,订单号,下单时间,商品编码,商品名称,数量,单价,优惠,实付,支付方式\n"
    lines = (
        f"IMP01,H-{n},2025-06-18 10:00:00,SKU-{n % 50},杯子,1,10,0,10,微信\n"
        f"IMP01,H-{n},2025-06-18 10:00:00,SKU-{n % 50 + 50},碗,2,5,0,10,现金\n"
        for n in range(orders)
    )
    return (head + "".join(lines)).encode()


def test_the_server_answers_while_an_import_runs(real_database: str, tmp_path: Path) -> None:
    """The upload is answered at once and /healthz while the import still runs on its thread:
    an import in the request (as before) would have answered only once it was done."""
    settings = Settings(
        env="test",
        database_url=real_database,
        secret_key=conftest.TEST_SECRET,
        data_dir=tmp_path,
        import_workers=1,
        import_batch_size=500,
    )
    sessions = sessionmaker(db.make_engine(real_database), expire_on_commit=False)
    with sessions.begin() as session:
        store = make_store(session, "IMP01")
        headers = staff_headers(make_staff(session), settings)
    orders = 20_000
    with TestClient(create_app(settings)) as client:
        accepted = client.post(
            "/api/v1/imports/orders",
            params={"dry_run": "false"},
            files={"file": (f"{secrets.token_hex(4)}.csv", order_file(orders), "text/csv")},
            headers=headers,
        )
        assert accepted.status_code == 202
        health = client.get("/healthz")
        till = client.post(
            "/api/v1/orders",
            json=order_body(store, "TILL-1"),
            headers=headers | {"Idempotency-Key": "till-1"},
        )
        meanwhile = client.get(accepted.headers["Location"], headers=headers).json()
        record = wait_for_import(client, accepted, headers, timeout=600)
    assert (health.status_code, till.status_code) == (200, 201)
    assert meanwhile["status"] in UNFINISHED, meanwhile
    assert report_of(record)["created"] == orders
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == orders + 1

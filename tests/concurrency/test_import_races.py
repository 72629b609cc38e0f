"""Order imports on PostgreSQL, as the probe ran them: five imports of one file at once, each
on its own thread and connections, and an import killed with SIGKILL midway. Imports commit in
batches; a batch that loses a race to another import's runs again and finds its orders there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.core import clock, db, migrate
from patron.core.actor import SYSTEM
from patron.core.settings import Settings
from patron.imports import runner
from patron.imports.models import UNFINISHED, Import, ImportKind, ImportStatus
from patron.orders.models import Order, OrderLine, OrderPayment
from patron.points import queries as points_queries
from patron.points.models import PointsEntry
from tests import conftest
from tests.factories import make_member, make_store

Sessions = Callable[[], Session]
HEADER = "门店编码,订单号,下单时间,会员手机号,商品编码,商品名称,数量,单价,优惠,实付,支付方式\n"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if conftest._postgres_skip_reason:
        pytest.skip(conftest._postgres_skip_reason)
    url = conftest._create_postgres_database()
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    conftest._drop_postgres_database(url)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_url, pool_size=20)
    yield engine
    engine.dispose()


def order_file(store: str, orders: int, mobiles: Sequence[str] = ()) -> bytes:
    """Orders of two lines (¥10 each, so ¥20 and 20 points); every other one for a member."""
    when = (clock.now() - timedelta(days=1)).astimezone(clock.business_tz())
    at = when.strftime("%Y-%m-%d %H:%M:%S")
    rows = []
    for n in range(orders):
        mobile = mobiles[n % len(mobiles)] if mobiles and n % 2 == 0 else ""
        rows.append(f"{store},{store}-{n},{at},{mobile},SKU-{n % 40},杯子,1,10,0,10,微信\n")
        rows.append(f"{store},{store}-{n},{at},{mobile},SKU-{n % 40 + 40},碗,2,5,0,10,现金\n")
    return (HEADER + "".join(rows)).encode()


def wait_until_ended(sessions: Sessions, ids: list[int], timeout: float = 300) -> list[Import]:
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            records = list(session.scalars(select(Import).where(Import.id.in_(ids))))
        if all(r.status not in UNFINISHED for r in records):
            return sorted(records, key=lambda r: r.id)
        assert time.monotonic() < deadline, [(r.id, r.status, r.rows_done) for r in records]
        time.sleep(0.1)


def count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_five_imports_of_one_file_at_once_store_each_order_once(
    pg_engine: Engine, tmp_path: Path
) -> None:
    sessions = sessionmaker(pg_engine, expire_on_commit=False)
    with sessions.begin() as session:
        store_id = make_store(session, "RACE1").id
    orders = 1500
    settings = Settings(
        env="test",
        database_url=pg_engine.url.render_as_string(hide_password=False),
        secret_key=conftest.TEST_SECRET,
        data_dir=tmp_path,
        import_workers=5,
        import_batch_size=100,
    )
    queue = runner.ImportQueue(sessions, settings)
    upload = runner.Upload(ImportKind.orders, order_file("RACE1", orders), "o.csv", False)
    ids = []
    for _ in range(5):
        with sessions.begin() as session:
            ids.append(queue.accept(session, upload, SYSTEM).id)
    for import_id in ids:
        queue.start(import_id, upload, SYSTEM)
    records = wait_until_ended(sessions, ids)
    queue.stop()

    assert [r.status for r in records] == [ImportStatus.done.value] * 5, [
        r.problem for r in records
    ]
    reports = [r.report or {} for r in records]
    assert all(r["orders"] == orders and r["errors"] == [] for r in reports), reports
    assert all(r["created"] + r["skipped"] == orders for r in reports), reports
    assert sum(r["created"] for r in reports) == orders
    with sessions() as session:
        assert count(session, Order, Order.store_id == store_id) == orders
        lines = select(OrderLine.id).join(Order).where(Order.store_id == store_id)
        assert len(session.scalars(lines).all()) == 2 * orders


def cli(*args: str) -> list[str]:
    """`patron ARGS` as an operator runs it, in a process of its own."""
    return [sys.executable, "-c", "from patron.cli import app; app()", *args]


def test_an_import_killed_midway_leaves_whole_orders_and_a_rerun_completes_it(
    pg_engine: Engine, tmp_path: Path
) -> None:
    sessions = sessionmaker(pg_engine, expire_on_commit=False)
    mobiles = [f"1370000{n:04d}" for n in range(200)]
    with sessions.begin() as session:
        store = make_store(session, "KILL1")
        store_id = store.id
        for mobile in mobiles:
            make_member(session, store, mobile=mobile)
    orders, member_orders = 3000, 1500
    file = tmp_path / "history.csv"
    file.write_bytes(order_file("KILL1", orders, mobiles))
    env = {
        **os.environ,
        "PATRON_DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
        "PATRON_SECRET_KEY": conftest.TEST_SECRET,
        "PATRON_DATA_DIR": str(tmp_path),
        "PATRON_IMPORT_BATCH_SIZE": "50",
    }
    command = cli("import", "orders", str(file), "--publish-events")
    killed = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ours = Import.filename == file.name
    deadline = time.monotonic() + 120
    while True:  # until a few batches are in
        with sessions() as session:
            done = session.scalar(select(func.max(Import.rows_done)).where(ours)) or 0
        if done >= 300 or killed.poll() is not None:
            break
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the import ended before it could be killed"

    member_order = Order.member_id.is_not(None)
    earn_entries = (
        select(func.count(), func.sum(PointsEntry.points))
        .join(Order, Order.id == PointsEntry.order_id)
        .where(Order.store_id == store_id, PointsEntry.kind == "earn")
    )
    with sessions() as session:
        stored = count(session, Order, Order.store_id == store_id)
        assert 0 < stored < orders
        # Whole orders only: each with its two lines, its payments, and its points if a member's.
        line_counts = session.execute(
            select(Order.id, Order.total, func.count(OrderLine.id), func.sum(OrderLine.paid))
            .outerjoin(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.store_id == store_id)
            .group_by(Order.id, Order.total)
        ).all()
        assert {(n, total == paid) for _, total, n, paid in line_counts} == {(2, True)}
        paid = select(func.sum(OrderPayment.amount)).join(Order).where(Order.store_id == store_id)
        assert session.scalar(paid) == 2000 * stored
        earned, points = session.execute(earn_entries).one()
        assert earned == count(session, Order, Order.store_id == store_id, member_order)
        assert points == 20 * earned
        record = session.scalar(select(Import).where(ours))
        assert record is not None
        assert record.status == ImportStatus.running.value  # what the dead process left
    assert record.id in runner.interrupt_orphans(sessions)  # the next start-up's sweep

    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-800:]
    summary = " ".join(rerun.stdout.split())
    assert f"{orders} orders, {orders - stored} created, {stored} already there" in summary
    with sessions() as session:
        assert count(session, Order, Order.store_id == store_id) == orders
        assert count(session, Order, Order.store_id == store_id, member_order) == member_orders
        assert session.execute(earn_entries).one() == (member_orders, 20 * member_orders)
        assert points_queries.verify(session) == []
        statuses = session.scalars(select(Import.status).where(ours).order_by(Import.id)).all()
        assert statuses == [ImportStatus.interrupted.value, ImportStatus.done.value]

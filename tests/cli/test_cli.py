from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from patron.cli import app
from patron.core import db
from patron.core.events import OutboxEvent
from patron.core.migrate import alembic_config
from patron.core.settings import get_settings
from patron.demo import brand
from patron.demo.referrals import NEWCOMERS
from patron.members.models import Member
from patron.orders.models import Order
from patron.points.models import PointsEntry
from patron.profiles.models import MemberProfile
from patron.reports.models import FactsWatermark, SalesDayFacts
from patron.staff.models import StaffUser
from patron.stores.models import Store

runner = CliRunner()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PATRON_DATABASE_URL", url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    db.configure(db.make_engine(url))
    yield url
    db.get_engine().dispose()
    db._engine = None
    get_settings.cache_clear()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_upgrade_user_and_apikey(cli_database: str) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--members", "0")
    out = invoke(
        "user",
        "create",
        "--username",
        "zhang",
        "--password",
        "Passw0rd!",
        "--role",
        "store_manager",
        "--store",
        "SH001",
        "--store",
        "SH002",
    )
    assert "store_manager zhang" in out
    key_out = invoke("apikey", "create", "--name", "POS 上海", "--store", "SH001")
    assert key_out.strip().splitlines()[-1].startswith("pk_")
    with db.transaction(read_only=True) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "zhang"))
        assert user is not None
        assert len(user.store_ids) == 2


def test_regions_are_created_assigned_listed_and_given_a_manager(cli_database: str) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--members", "0")
    assert "WEST" in invoke("regions", "create", "--code", "WEST", "--name", "华西区")
    out = invoke("regions", "assign", "WEST", "--store", "CD001", "--store", "CD002")
    assert "WEST: CD001, CD002" in out
    # SH001 moves from the demo's EAST; WEST keeps its stores.
    assert "CD001, CD002, SH001" in invoke("regions", "assign", "WEST", "--store", "SH001")
    listed = invoke("regions", "list")
    assert "华西区" in listed
    assert "CD001 CD002 SH001" in listed
    made = invoke(
        "user",
        "create",
        "--username",
        "rm.west",
        "--password",
        "Passw0rd!",
        "--role",
        "regional_manager",
        "--region",
        "WEST",
    )
    assert "regional_manager rm.west" in made
    refused = runner.invoke(
        app,
        [
            "user",
            "create",
            "--username",
            "x.west",
            "--password",
            "Passw0rd!",
            "--role",
            "cashier",
            "--store",
            "CD001",
            "--region",
            "WEST",
        ],
    )
    assert refused.exit_code == 1
    assert "only a regional manager is scoped to regions" in refused.output
    unknown = runner.invoke(app, ["regions", "assign", "NOPE", "--store", "CD001"])
    assert unknown.exit_code == 1
    assert "region_not_found" in unknown.output
    with db.transaction(read_only=True) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "rm.west"))
        assert user is not None
        assert len(user.region_ids) == 1
        assert session.scalar(select(StaffUser).where(StaffUser.username == "x.west")) is None


def test_unknown_store_code_fails_cleanly(cli_database: str) -> None:
    invoke("db", "upgrade")
    result = runner.invoke(app, ["apikey", "create", "--name", "x", "--store", "NOPE"])
    assert result.exit_code == 1
    assert "NOPE" in result.output


def test_demo_loads_a_chain_once(cli_database: str) -> None:
    invoke("db", "upgrade")
    out = invoke("demo", "--if-empty", "--members", "300")
    assert brand.DEMO_PASSWORD in out
    assert "admin" in out
    assert "member page: http://127.0.0.1:8000/m/login as 1" in out
    assert "demo facts: " in out  # the dashboards show the history from the first start
    with db.transaction(read_only=True) as session:
        counted = session.scalar(select(func.sum(SalesDayFacts.sales)))
        assert counted == session.scalar(select(func.sum(Order.total))) > 0
    again = invoke("demo", "--if-empty", "--members", "300")
    assert "already present" in again
    assert "/m/login as 1" in again  # the member to sign in as, every time
    with db.transaction(read_only=True) as session:
        stores = session.scalars(select(Store)).all()
        roles = set(session.scalars(select(StaffUser.role)))
        staff_count = 3 + 4 * len(stores) + len(brand.REGIONS)
        assert session.scalar(select(func.count()).select_from(StaffUser)) == staff_count
        # The demo referrals register two newcomers of their own.
        assert session.scalar(select(func.count()).select_from(Member)) == 300 + NEWCOMERS
    assert len(stores) >= 20
    assert len({s.city for s in stores}) >= 5
    assert {s.type for s in stores} == {"owned", "franchise"}
    assert roles == {
        "hq_admin",
        "hq_marketing",
        "hq_finance",
        "regional_manager",
        "store_manager",
        "cashier",
        "guide",
    }
    assert "region.east" in out


def test_reports_refresh_facts_as_of_now_or_in_full(cli_database: str) -> None:
    invoke("db", "upgrade")
    out = invoke("--now", "2026-03-01T12:00:00+08:00", "reports", "refresh-facts")
    assert "facts: 1 days recomputed" in out
    with db.transaction(read_only=True) as session:
        marks = session.scalars(select(FactsWatermark)).all()
        assert {m.refreshed_at for m in marks} == {datetime(2026, 3, 1, 4, tzinfo=UTC)}
    assert "rebuilt" in invoke("reports", "refresh-facts", "--full")


def test_import_members_dry_run_then_real(cli_database: str, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--members", "0")
    file = tmp_path / "members.csv"
    file.write_text(
        "手机号,姓名,开卡门店\n13800000001,张三,SH001\n1380000,坏,SH001\n", encoding="utf-8"
    )
    dry = runner.invoke(app, ["import", "members", str(file), "--dry-run"])
    assert "dry run: 2 rows, 1 created" in dry.output
    assert "row 3: mobile" in dry.output
    assert dry.exit_code == 1  # a refused row: scripts notice
    real = runner.invoke(app, ["import", "members", str(file)])
    assert "imported: 2 rows, 1 created" in real.output
    assert real.exit_code == 1
    assert "0 created" in runner.invoke(app, ["import", "members", str(file)]).output


def test_demo_points_are_earned_spent_expired_and_pending(cli_database: str) -> None:
    from patron.points import queries as points_queries
    from patron.points.models import LotStatus, PointsEntry, PointsLot

    invoke("db", "upgrade")
    out = invoke("demo", "--members", "400")
    assert "demo points:" in out
    assert "demo mall: items 4" in out
    with db.transaction(read_only=True) as session:
        kinds = set(session.scalars(select(PointsEntry.kind)))
        statuses = set(session.scalars(select(PointsLot.status)))
        assert points_queries.verify(session) == []
    assert {"earn", "burn", "expire"} <= kinds
    assert {LotStatus.available.value, LotStatus.pending.value, LotStatus.expired.value} <= statuses
    assert "consistent" in invoke("points", "verify")


def test_jobs_run_is_idempotent_for_a_given_now(cli_database: str) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--members", "200")
    later = "2027-12-01T00:00:00+08:00"
    first = invoke("--now", later, "jobs", "run")
    second = invoke("--now", later, "jobs", "run")
    third = invoke("jobs", "run", "--now", later)  # the form the issue writes
    assert "lots expired" in first
    for again in (second, third):
        assert "0 lots released, 0 lots expired (0 points), 0 expiry notices" in " ".join(
            again.split()
        )
    assert "jobs at 2027-11-30T16:00:00+00:00" in third
    assert "outbox: 0 delivered events older than 30 days pruned" in " ".join(third.split())


def test_jobs_run_prunes_delivered_outbox_events(cli_database: str) -> None:
    invoke("db", "upgrade")
    old = datetime(2027, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        session.add(
            OutboxEvent(type="order.completed", entity_id="1", payload={}, delivered_at=old)
        )
        # The newest row stays, delivered or not: its id is never given again.
        session.add(OutboxEvent(type="order.completed", entity_id="2", payload={}))
    out = invoke("--now", "2027-03-01T00:00:00+08:00", "jobs", "run")
    assert "outbox: 1 delivered events older than 30 days pruned" in " ".join(out.split())
    with db.transaction() as session:
        assert session.scalars(select(OutboxEvent.entity_id)).all() == ["2"]


def clean_exit(result: Result) -> bool:
    """Ended through typer.Exit with a message, not a traceback."""
    return isinstance(result.exception, SystemExit) and result.exit_code != 0


@pytest.mark.parametrize(
    ("username", "password"), [("ab", "Passw0rd!x"), ("a b c", "Passw0rd!x"), ("zhang", "short")]
)
def test_invalid_staff_input_is_a_message(cli_database: str, username: str, password: str) -> None:
    invoke("db", "upgrade")
    args = ["user", "create", "--username", username, "--password", password, "--role", "cashier"]
    result = runner.invoke(app, args)
    assert clean_exit(result)
    assert "invalid" in result.output
    assert clean_exit(runner.invoke(app, ["apikey", "create", "--name", ""]))


@pytest.mark.parametrize("kind", ["members", "products", "orders"])
def test_an_import_refusing_the_whole_file_is_a_message(
    cli_database: str, tmp_path: Path, kind: str
) -> None:
    invoke("db", "upgrade")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["import", kind, str(empty)])
    assert clean_exit(result)
    assert "validation_error" in result.output


def test_a_database_not_migrated_is_a_message(cli_database: str) -> None:
    result = runner.invoke(app, ["points", "verify"])
    assert clean_exit(result)
    assert "patron db upgrade" in result.output


def test_a_bad_setting_is_a_configuration_error(
    cli_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_TIMEZONE", "Mars/Base")
    get_settings.cache_clear()
    result = runner.invoke(app, ["points", "verify"])
    assert (result.exit_code, "configuration error" in result.output) == (2, True)


def test_db_upgrade_takes_the_revision_and_says_where_the_database_is(cli_database: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert "database at 0003" in invoke("db", "upgrade", "0003")
    assert f"database at {head}" in invoke("db", "upgrade")
    assert f"database at {head}" in invoke("db", "upgrade", "0003")  # never downgrades


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: a fresh process that has loaded nothing else."""
    command = [sys.executable, "-c", "from patron.cli import app; app()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_imports_work_in_a_fresh_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    env = {**os.environ, "PATRON_DATABASE_URL": url, "PATRON_DATA_DIR": str(tmp_path)}
    products = tmp_path / "products.csv"
    products.write_text("sku,name,list_price\nOK-1,好,9.90\n", encoding="utf-8")
    members = tmp_path / "members.csv"
    members.write_text("手机号,姓名,开卡门店\n13800000001,张三,SH001\n", encoding="utf-8")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "门店编码,订单号,下单时间,会员手机号,商品编码,商品名称,品类编码,数量,单价,优惠,实付,支付方式\n"
        "SH001,H-1,2026-11-01 10:00:00,13800000001,OK-1,好,,1,99.00,0,99.00,微信\n",
        encoding="utf-8",
    )
    for args in (
        ("db", "upgrade"),
        ("demo", "--members", "0", "--no-orders"),
        ("import", "products", str(products)),
        ("import", "members", str(members)),
        ("import", "orders", str(orders), "--publish-events"),
    ):
        done = run_cli(env, *args)
        assert done.returncode == 0, done.stderr[-800:]
    engine = db.make_engine(url)
    with Session(engine) as session:  # the order earned its points in that process
        assert session.scalar(select(func.sum(PointsEntry.points))) == 99
    engine.dispose()


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("2029-02-05T00:32:47.590635+08:00", "2029-02-04T16:32:47.590635+00:00"),
        ("2029-02-05T00:32:47+08:00", "2029-02-04T16:32:47+00:00"),
        ("2029-02-05T00:32:47Z", "2029-02-05T00:32:47+00:00"),
        ("2029-02-05 00:32", "2029-02-04T16:32:00+00:00"),  # no offset: the business timezone
        ("2029-02-05", "2029-02-04T16:00:00+00:00"),
    ],
)
def test_now_takes_every_iso_form(cli_database: str, given: str, meant: str) -> None:
    invoke("db", "upgrade")
    assert f"jobs at {meant}" in invoke("--now", given, "jobs", "run")


def test_now_refuses_what_is_not_a_time(cli_database: str) -> None:
    result = runner.invoke(app, ["--now", "yesterday", "jobs", "run"])
    assert result.exit_code == 2
    assert "not an ISO 8601 time" in result.output


def test_profiles_refresh_prints_counts_and_ignores_later_orders(cli_database: str) -> None:
    invoke("db", "upgrade")
    out = invoke("demo", "--members", "300")
    assert f"demo profiles: {300 + NEWCOMERS} members" in out
    with db.transaction(read_only=True) as session:
        first = session.scalar(select(func.min(Order.occurred_at)))
    assert first is not None
    early = (first + timedelta(days=1)).isoformat()
    out = invoke("profiles", "refresh", "--now", early)
    assert f"{300 + NEWCOMERS} members" in out
    assert "important_value" in out
    assert "prospect" in out
    with db.transaction(read_only=True) as session:
        profiles = session.scalars(select(MemberProfile)).all()
        counted = session.scalar(
            select(func.count(func.distinct(Order.member_id))).where(
                Order.occurred_at < first + timedelta(days=1), Order.status != "refunded"
            )
        )
    buyers = [p for p in profiles if p.orders_lifetime]
    assert len(buyers) == counted
    assert all(p.last_purchase_at < first + timedelta(days=1) for p in buyers)


def test_jobs_run_builds_then_folds_the_spend_sums(cli_database: str) -> None:
    invoke("db", "upgrade")
    built = invoke("jobs", "run", "orders.spend", "--now", "2027-12-01T00:00:00+08:00")
    assert "spend sums built for 0 members" in " ".join(built.split())
    folded = invoke("jobs", "run", "orders.spend", "--now", "2027-12-01T00:05:00+08:00")
    assert "spend sums folded for 0 members" in " ".join(folded.split())

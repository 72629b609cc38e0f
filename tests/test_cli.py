from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from patron.cli import app
from patron.core import db
from patron.core.settings import get_settings
from patron.demo import brand
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
    invoke("demo")
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


def test_unknown_store_code_fails_cleanly(cli_database: str) -> None:
    invoke("db", "upgrade")
    result = runner.invoke(app, ["apikey", "create", "--name", "x", "--store", "NOPE"])
    assert result.exit_code == 1
    assert "NOPE" in result.output


def test_demo_loads_a_chain_once(cli_database: str) -> None:
    invoke("db", "upgrade")
    out = invoke("demo", "--if-empty")
    assert brand.DEMO_PASSWORD in out
    assert "admin" in out
    again = invoke("demo", "--if-empty")
    assert "already present" in again
    with db.transaction(read_only=True) as session:
        stores = session.scalars(select(Store)).all()
        roles = set(session.scalars(select(StaffUser.role)))
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 3 + 4 * len(stores)
    assert len(stores) >= 20
    assert len({s.city for s in stores}) >= 5
    assert {s.type for s in stores} == {"owned", "franchise"}
    assert roles == {"hq_admin", "hq_marketing", "hq_finance", "store_manager", "cashier", "guide"}

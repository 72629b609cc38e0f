from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import ANY

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from patron.cli import app
from patron.core import clock, db
from patron.core.actor import SYSTEM
from patron.stored_value import ledger, recharges, reports
from patron.stored_value.models import StoredValueAccount
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.factories import make_member, make_store

CASH = recharges.Payment("cash", "")

pytestmark = pytest.mark.usefixtures("cli_database")


def test_verify_says_consistent_and_names_an_account_off_its_ledger() -> None:
    invoke("db", "upgrade")
    with db.transaction() as session:
        member_id = make_member(session).id
        recharges.recharge(
            session, SYSTEM, member_id, None, recharges.Payment("cash", ""), amount=1000
        )
    assert "consistent" in invoke("stored-value", "verify")
    with db.transaction() as session:
        account = session.get(StoredValueAccount, member_id)
        assert account is not None
        account.principal += 1
    result = CliRunner().invoke(app, ["stored-value", "verify"])
    assert result.exit_code == 1
    assert f"member {member_id}: cached principal/bonus (1001, 0), ledger sums (1000, 0)" in (
        result.output
    )


def test_settlement_and_liability_as_tables_and_files(tmp_path: Path) -> None:
    invoke("db", "upgrade")
    with db.transaction() as session, clock.frozen(datetime(2026, 3, 2, 2, tzinfo=UTC)):
        store = make_store(session)
        member_id = make_member(session, store).id
        recharges.recharge(session, SYSTEM, member_id, store.id, CASH, amount=1000)
        recharges.recharge(session, SYSTEM, member_id, None, CASH, amount=500)
        ledger.spend(session, member_id, 600, store.id, None)
        store_id, code = store.id, store.code
    period = ("--from", "2026-03-02", "--to", "2026-03-02")
    table = invoke("stored-value", "settlement", *period)
    assert code in table
    assert "total" in table
    csv_text = invoke("stored-value", "settlement", *period, "--format", "csv")
    assert list(csv.reader(io.StringIO(csv_text))) == [
        list(reports.SETTLEMENT_COLUMNS),
        ["hq", "", "", "500", "0", "0", "0", "500"],
        [str(store_id), code, ANY, "1000", "0", "600", "0", "400"],
        ["total", "", "", "1500", "0", "600", "0", "900"],
    ]
    entries = invoke("stored-value", "settlement", *period, "--store", "hq", "--format", "csv")
    assert [row[2:4] for row in csv.reader(io.StringIO(entries))][1:] == [["recharge", "500"]]
    path = tmp_path / "liability.xlsx"
    assert "wrote 4 rows" in invoke("stored-value", "liability", "--output", str(path))
    sheet = load_workbook(path).active
    assert sheet is not None
    # the 600 spent leaves 900: the newest recharge (online, 500) first, then the store's
    assert list(sheet.iter_rows(values_only=True)) == [
        reports.LIABILITY_COLUMNS,
        ("hq", None, None, 500, 0),
        (store_id, code, ANY, 400, 0),
        ("unattributed", None, None, 0, 0),
        ("total", None, None, 900, 0),
    ]
    refused = CliRunner().invoke(app, ["stored-value", "settlement", *period, "--store", "x"])
    assert refused.exit_code == 2
    refused = CliRunner().invoke(app, ["stored-value", "liability", "--format", "xlsx"])
    assert refused.exit_code == 2

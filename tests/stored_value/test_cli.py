from __future__ import annotations

import pytest
from typer.testing import CliRunner

from patron.cli import app
from patron.core import db
from patron.core.actor import SYSTEM
from patron.stored_value import recharges
from patron.stored_value.models import StoredValueAccount
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.factories import make_member

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

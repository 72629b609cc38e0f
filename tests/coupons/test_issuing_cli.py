"""`patron coupons issue` and the coupons' part of `patron jobs run`, on a database of their own
(the CLI commits its own transactions)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from patron.cli import app
from patron.core import db
from patron.coupons.models import Coupon
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.factories import issue_coupon, make_coupon_template, make_member


def test_issue_from_a_file_lists_refused_rows_and_exits_1(
    cli_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    invoke("db", "upgrade")
    with db.transaction() as session:
        template = make_coupon_template(session, per_member_limit=1)
        member = make_member(session)
        template_id, member_id = template.id, member.id
    file = tmp_path / "list.csv"
    file.write_text(f"member_id\n{member_id}\n{member_id}\n")
    result = CliRunner().invoke(app, ["coupons", "issue", str(template_id), str(file)])
    assert result.exit_code == 1
    assert f"row 3: {member_id}: limit_reached" in result.output
    assert "issued 1 coupons" in result.output
    with db.transaction(read_only=True) as session:
        sources = session.execute(select(Coupon.source, Coupon.source_ref)).all()
    assert [tuple(s) for s in sources] == [("upload", "list.csv")]


def test_jobs_run_expires_coupons_once(cli_database: str) -> None:  # noqa: F811
    invoke("db", "upgrade")
    with db.transaction() as session:
        template = make_coupon_template(session, valid_days=1)
        member = make_member(session)
        issue_coupon(session, template, member)
    later = "2099-01-01T00:00:00+08:00"
    first = " ".join(invoke("--now", later, "jobs", "run").split())
    second = " ".join(invoke("jobs", "run", "--now", later).split())
    assert "coupons: 1 expired, 0 expiry notices" in first
    assert "coupons: 0 expired, 0 expiry notices" in second

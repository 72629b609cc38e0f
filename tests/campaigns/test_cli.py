"""`patron campaigns list|preview|launch|run` on an SQLite file."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from patron.campaigns import service
from patron.campaigns.models import Campaign
from patron.campaigns.schemas import CampaignIn
from patron.cli import app
from patron.core import db
from patron.core.actor import SYSTEM
from patron.coupons.models import Coupon
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET
from tests.factories import make_coupon_template, make_member


@pytest.fixture(autouse=True)
def _deliveries_in_test_transaction() -> None:
    """The CLI's own database: its tasks run there (the package's fixture is not wanted)."""


@pytest.mark.usefixtures("cli_database")
def test_list_preview_launch_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    invoke("db", "upgrade")
    with db.transaction() as session:
        for n in range(6):
            make_member(session, mobile=f"1391234{n:04d}")
        template = make_coupon_template(session)
        actions = [{"type": "issue_coupon", "template_id": template.id}]
        now = {"name": "现在", "rule": "registered_days >= 0", "actions": actions}
        later = now | {"name": "稍后", "schedule_at": "2030-01-01T10:00:00+08:00"}
        first = service.create(session, SYSTEM, CampaignIn.model_validate(now)).id
        second = service.create(session, SYSTEM, CampaignIn.model_validate(later)).id
    listed = invoke("campaigns", "list")
    assert "现在" in listed
    assert "draft" in listed
    shown = json.loads(invoke("campaigns", "preview", str(first)))
    assert (shown["audience"], shown["expected_cost"]["coupons"]) == (6, shown["treated"])
    assert "running -> done" in invoke("campaigns", "launch", str(first))
    refused = CliRunner().invoke(app, ["campaigns", "launch", str(first)])
    assert refused.exit_code == 1
    assert "already_launched" in refused.output
    assert "scheduled -> scheduled" in invoke("campaigns", "launch", str(second))
    assert invoke("campaigns", "run").strip() == "0 started, 0 running"
    assert "1 started" in invoke("campaigns", "run", "--now", "2030-01-01T10:01")
    with db.transaction(read_only=True) as session:
        statuses = session.scalars(select(Campaign.status).order_by(Campaign.id)).all()
        assert statuses == ["done", "done"]
        treated = sum(c.audience_size - c.control_size for c in session.scalars(select(Campaign)))
        assert session.scalar(select(func.count()).select_from(Coupon)) == treated

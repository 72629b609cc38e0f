"""`patron journeys list|advance` and the demo's journeys, on an SQLite file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from patron.core import db
from patron.core.actor import SYSTEM
from patron.journeys import triggers
from patron.journeys.models import Journey, JourneyEntry, JourneyStepRun
from patron.members import registration
from patron.members.schemas import MemberCreate
from tests.cli.test_cli import cli_database, invoke  # noqa: F401 (a fixture)
from tests.conftest import TEST_SECRET


@pytest.mark.usefixtures("cli_database")
def test_the_demo_journeys_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    # The demo's journeys hold back 10% by a seed each draws at random: the member followed here
    # is drawn outside that control group (1 run in 10 failed otherwise).
    monkeypatch.setattr(triggers, "in_control", lambda seed, member_id, percent: False)
    invoke("db", "upgrade")
    shown = invoke("demo", "--members", "30", "--no-orders")
    assert "demo journeys: 新客礼 0, 生日礼 " in shown
    assert "沉睡唤醒 0, 积分到期提醒 0" in shown
    invoke("demo", "--if-empty", "--members", "0", "--no-orders")
    with db.transaction() as session:
        journeys = session.scalars(select(Journey).order_by(Journey.id)).all()
        assert [(j.name, j.status) for j in journeys] == [
            ("新客礼", "active"),
            ("生日礼", "active"),
            ("沉睡唤醒", "active"),
            ("积分到期提醒", "active"),
        ]
        member = MemberCreate.model_validate({"mobile": "13900000123", "name": "新会员"})
        registration.register_member(session, SYSTEM, member)
    listed = invoke("journeys", "list")
    assert "新客礼" in listed
    assert "沉睡唤醒" in listed
    assert "1 entries advanced" in invoke("journeys", "advance")
    assert "0 entries advanced" in invoke("journeys", "advance", "--dated")
    assert "1 entries advanced" in invoke("journeys", "advance", "--now", "2030-01-01T09:00")
    assert "1 entries advanced" in invoke("journeys", "advance", "--now", "2030-01-01T10:30")
    with db.transaction(read_only=True) as session:
        ended = select(func.count()).select_from(JourneyEntry).where(JourneyEntry.status == "done")
        assert session.scalar(ended) == 1
        runs = select(JourneyStepRun.step_key, JourneyStepRun.outcome).order_by(JourneyStepRun.id)
        trail = session.execute(runs).all()
        assert [tuple(t) for t in trail] == [
            ("gift", "done"),
            ("hello", "skipped:no_consent"),  # registered without SMS consent
            ("wait3", "done"),
            ("still_new", "yes"),  # no purchase yet
            ("nudge_at_ten", "done"),
            ("nudge", "skipped:no_consent"),
        ]

"""The check-in pages without a browser: the member page's form and its CSRF, a second tap,
and the console's settings and report for who may see and change them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.check_ins import program
from patron.console.web import LANG_COOKIE
from patron.core import clock
from patron.core.actor import Role
from patron.core.security import form_token, issue_member_token
from patron.core.settings import Settings
from patron.member_page.web import MEMBER_COOKIE
from tests.check_ins.helpers import at_business, check_in_entries, set_program
from tests.factories import make_member

DAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(at_business(DAY, 23, 59))


def member_client(app: FastAPI, settings: Settings, member_id: int, lang: str = "zh") -> TestClient:
    token = issue_member_token(settings.secret_key, member_id, timedelta(hours=1)).token
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(MEMBER_COOKIE, token, path="/")
    client.cookies.set(LANG_COOKIE, lang, path="/")
    client.headers["x-member-csrf"] = form_token(settings.secret_key, token)
    return client


def test_a_member_checks_in_from_the_page_once_a_day(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    set_program(session, points_per_day=4, streak_bonuses={"2": 6})
    member = make_member(session)
    with member_client(app, settings, member.id) as client:
        page = client.get("/m/check-in")
        assert page.status_code == 200
        assert 'data-testid="check-in-button"' in page.text
        refused = client.post("/m/check-in", data={"csrf": "wrong"}, follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/m/login")
        csrf = client.headers["x-member-csrf"]
        done = client.post("/m/check-in", data={"csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"] == "/m/check-in?done=1"
        again = client.post("/m/check-in", data={"csrf": csrf}, follow_redirects=False)
        assert again.headers["location"] == "/m/check-in"
        shown = client.get("/m/check-in?done=1")
        assert "今日已签到" in shown.text
        assert "获得 4 积分" in shown.text
        assert "明天签到可得 10 积分" in shown.text
        assert 'data-day="2026-03-10" data-checked="1"' in shown.text
        assert client.get("/m/check-in?month=2026-02").status_code == 200
        assert client.get("/m/check-in?month=garbage").status_code == 200
    assert [e.points for e in check_in_entries(session, member.id)] == [4]
    with member_client(app, settings, member.id, "en") as client:
        assert "Checked in today" in client.get("/m/check-in").text


def test_the_member_page_needs_a_member(app: FastAPI) -> None:
    with TestClient(app) as client:
        answer = client.get("/m/check-in", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/m/login")


def test_the_console_settings_are_hqs_to_change(
    signed_in: Callable[..., TestClient], session: Session
) -> None:
    cashier = signed_in(Role.cashier)
    page = cashier.get("/console/check-ins")
    assert page.status_code == 200
    assert "仅总部管理员和总部营销可修改签到规则" in page.text
    form = {"csrf": cashier.headers["x-csrf"], "points_per_day": "9", "cycle_days": "7"}
    assert cashier.post("/console/check-ins", data=form).status_code == 403
    assert cashier.get("/console/check-ins/report").status_code == 403
    admin = signed_in(Role.hq_admin, lang="en")
    form = {
        "csrf": admin.headers["x-csrf"],
        "enabled": "on",
        "points_per_day": "9",
        "cycle_days": "30",
        "bonuses": "10:20, 30：100",
    }
    saved = admin.post("/console/check-ins", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert program.program(session).streak_bonuses == {"10": 20, "30": 100}
    bad = admin.post("/console/check-ins", data=form | {"bonuses": "ten"})
    assert bad.status_code == 422
    assert "Write it as day:points" in bad.text
    assert admin.get("/console/check-ins/report?from=2026-03-01&to=2026-03-10").status_code == 200
    assert admin.get("/console/check-ins/report?from=nope").status_code == 200
    exported = admin.get("/console/check-ins/report/export?format=xlsx&table=streaks")
    assert exported.status_code == 200

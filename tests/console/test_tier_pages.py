"""The console's tier screens through the test client: the ladder designer (the tiers service's
refusals beside their inputs; a cashier cannot edit), the program settings, the distribution
chart's figures, the member page's tier card and the member's tier page (history, growth
entries, a tier set by hand), in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.console.web import CSRF_FIELD
from patron.core import clock
from patron.core.actor import Role
from patron.tiers import ladder, program
from patron.tiers.models import Tier, TierChange
from tests.factories import make_member, make_store
from tests.tiers.helpers import make_ladder, order

Client = Callable[..., TestClient]
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def tier_form(client: TestClient, **fields: str) -> dict[str, str]:
    form = {
        CSRF_FIELD: client.headers["x-csrf"],
        "code": "",
        "name": "",
        "name_en": "",
        "rank": "0",
        "entry_threshold": "0",
        "retention_threshold": "0",
        "discount_percent": "0",
        "points_multiplier": "1",
        "upgrade_points": "",
        "upgrade_coupons": "",
        "birthday_points": "",
        "birthday_coupons": "",
    }
    return form | fields


def codes(session: Session) -> list[str]:
    session.expire_all()
    return [t.code for t in session.scalars(select(Tier).order_by(Tier.rank))]


# --- the ladder -------------------------------------------------------------------------------


def test_marketing_builds_a_ladder_and_the_refusals_show_beside_their_inputs(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_marketing)
    empty = marketing.get("/console/tiers")
    assert empty.status_code == 200
    assert "还没有等级" in texts(empty.text)

    # A first tier above rank 0: the service wants the base tier first.
    refused = marketing.post(
        "/console/tiers/new",
        data=tier_form(marketing, code="gold", name="金卡", rank="2", entry_threshold="5000"),
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "请先建立基础等级" in texts(refused.text)
    assert codes(session) == []

    made = marketing.post(
        "/console/tiers/new",
        data=tier_form(marketing, code="normal", name="普通", name_en="Basic"),
        follow_redirects=False,
    )
    assert made.status_code == 303
    gold = tier_form(
        marketing,
        code="gold",
        name="金卡",
        name_en="Gold",
        rank="2",
        entry_threshold="5,000",
        retention_threshold="4000",
        discount_percent="5",
        points_multiplier="1.5",
        upgrade_points="500",
    )
    assert (
        marketing.post("/console/tiers/new", data=gold, follow_redirects=False).status_code == 303
    )
    # Silver entered above gold: thresholds must rise with rank.
    silver = tier_form(
        marketing,
        code="silver",
        name="银卡",
        rank="1",
        entry_threshold="6000",
        retention_threshold="0",
    )
    refused = marketing.post("/console/tiers/new", data=silver)
    assert refused.status_code == 422
    assert "升级门槛须随级别严格递增" in texts(refused.text)
    silver["entry_threshold"] = "1000"
    silver["retention_threshold"] = "2000"
    refused = marketing.post("/console/tiers/new", data=silver)
    assert "保级门槛不能高于升级门槛" in texts(refused.text)
    silver["retention_threshold"] = "800"
    silver["upgrade_coupons"] = "twelve"
    refused = marketing.post("/console/tiers/new", data=silver)
    assert "模板编号×张数" in texts(refused.text)
    silver["upgrade_coupons"] = "999999×1"
    refused = marketing.post("/console/tiers/new", data=silver)
    assert "找不到该优惠券模板" in texts(refused.text)
    silver["upgrade_coupons"] = ""
    assert (
        marketing.post("/console/tiers/new", data=silver, follow_redirects=False).status_code == 303
    )
    assert codes(session) == ["normal", "silver", "gold"]

    page = texts(marketing.get("/console/tiers").text)
    assert "金卡 Gold 5,000 4,000 5% ×1.5" in page
    assert "500 积分" in page

    saved_gold = session.scalar(select(Tier).where(Tier.code == "gold"))
    assert saved_gold is not None
    assert saved_gold.points_factor == 150
    edit = marketing.get(f"/console/tiers/{saved_gold.id}/edit")
    assert 'value="1.5"' in edit.text
    form = tier_form(marketing, **{k: v for k, v in _values(edit.text).items() if k != CSRF_FIELD})
    form["discount_percent"] = "8"
    done = marketing.post(f"/console/tiers/{saved_gold.id}/edit", data=form, follow_redirects=False)
    assert done.status_code == 303
    session.expire_all()
    assert session.get(Tier, saved_gold.id).discount_percent == 8  # type: ignore[union-attr]
    assert session.get(Tier, saved_gold.id).upgrade_gift == {"points": 500, "coupons": []}  # type: ignore[union-attr]


def _values(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="text" name="(\w+)" value="([^"]*)"', html))


def test_a_cashier_reads_the_ladder_but_cannot_edit_it(signed_in: Client, session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    cashier = signed_in(Role.cashier, [store])
    page = cashier.get("/console/tiers")
    assert page.status_code == 200
    assert "银卡" in page.text
    assert "新建等级" not in page.text
    assert "/console/tiers/new" not in page.text
    assert cashier.get("/console/tiers/new").status_code == 403
    tier_id = ladder.list_tiers(session)[1].id
    assert cashier.get(f"/console/tiers/{tier_id}/edit").status_code == 403
    form = tier_form(cashier, code="vip", name="VIP", rank="9", entry_threshold="90000")
    assert cashier.post("/console/tiers/new", data=form).status_code == 403
    assert len(codes(session)) == 4
    # The program reads, but its form has no save button, and a post is refused.
    settings = cashier.get("/console/tiers/program")
    assert settings.status_code == 200
    assert "只有总部管理员可以修改" in settings.text
    assert cashier.post("/console/tiers/program", data={CSRF_FIELD: "x"}).status_code == 403


# --- the program ------------------------------------------------------------------------------


def test_an_admin_saves_the_program_and_a_bad_number_is_shown(
    signed_in: Client, session: Session
) -> None:
    admin = signed_in(Role.hq_admin, lang="en")
    page = admin.get("/console/tiers/program")
    assert page.status_code == 200
    assert "The last 12 months" in page.text
    assert "5% off (95折)" in admin.get("/console/tiers/new").text
    form = {
        CSRF_FIELD: admin.headers["x-csrf"],
        "metric": "calendar_year",
        "evaluation": "monthly",
        "grace_days": "400",
        "downgrade": "to_earned",
        "growth_per_yuan": "2",
        "action_registration": "10",
        "action_profile_completed": "20",
        "action_check_in": "1",
        "staff_discount": "on",
    }
    refused = admin.post("/console/tiers/program", data=form)
    assert refused.status_code == 422
    assert program.program(session).grace_days == 30
    form["grace_days"] = "15"
    done = admin.post("/console/tiers/program", data=form, follow_redirects=False)
    assert done.status_code == 303
    saved = program.program(session)
    assert (saved.metric, saved.evaluation, saved.grace_days, saved.downgrade) == (
        "calendar_year",
        "monthly",
        15,
        "to_earned",
    )
    assert saved.action_growth == {"registration": 10, "profile_completed": 20, "check_in": 1}
    assert saved.staff_discount is True
    marketing = signed_in(Role.hq_marketing)
    assert marketing.post("/console/tiers/program", data=form).status_code == 403


# --- the member -------------------------------------------------------------------------------


def test_the_member_card_shows_the_upgrade_an_order_brings(
    signed_in: Client, session: Session
) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    cashier = signed_in(Role.cashier, [store])
    before = texts(cashier.get(f"/console/members/{member.id}").text)
    assert "当前等级 普通" in before
    assert "还需 1,000 成长值升至银卡" in before

    order(session, store, member, 120_000, NOW - timedelta(days=1))  # ¥1,200: silver
    after = cashier.get(f"/console/members/{member.id}")
    card = texts(after.text)
    assert "当前等级 银卡" in card
    assert "有效成长值 1,200" in card
    assert "还需 3,800 成长值升至金卡" in card
    assert "复核日期 2027年6月18日" in card

    english = signed_in(Role.hq_admin, lang="en")
    assert "Silver" in texts(english.get(f"/console/members/{member.id}").text)


def test_the_tier_page_pages_history_and_growth_and_an_admin_sets_a_tier(
    signed_in: Client, session: Session
) -> None:
    make_ladder(session)
    store = make_store(session)
    member = make_member(session, store)
    for day in range(25):
        order(session, store, member, 10_000, NOW - timedelta(days=30 - day))
    admin = signed_in(Role.hq_admin)
    page = admin.get(f"/console/members/{member.id}/tier")
    assert page.status_code == 200
    assert page.text.count('data-kind="order"') == 20
    assert "升级" in texts(page.text)  # ¥1,000 in: silver
    next_page = re.search(r'href="([^"]*growth_cursor=[^"]+)"', page.text)
    assert next_page is not None
    second = admin.get(next_page[1].replace("&amp;", "&"))
    assert second.text.count('data-kind="order"') == 5

    refused = admin.post(
        f"/console/members/{member.id}/tier",
        data={CSRF_FIELD: admin.headers["x-csrf"], "tier_code": "diamond", "reason": ""},
    )
    assert refused.status_code == 422
    done = admin.post(
        f"/console/members/{member.id}/tier",
        data={CSRF_FIELD: admin.headers["x-csrf"], "tier_code": "diamond", "reason": "大客户"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = texts(admin.get(f"/console/members/{member.id}/tier").text)
    assert "当前等级 钻石" in shown
    assert "手动调整 大客户" in shown
    change = session.scalars(select(TierChange).order_by(TierChange.id.desc())).first()
    assert change is not None
    assert (change.reason, change.note) == ("manual", "大客户")
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "tiers.set")) is not None

    # Marketing reads the page without the form, and may not post it.
    marketing = signed_in(Role.hq_marketing)
    assert (
        f'action="/console/members/{member.id}/tier"'
        not in marketing.get(f"/console/members/{member.id}/tier").text
    )
    form = {CSRF_FIELD: marketing.headers["x-csrf"], "tier_code": "normal", "reason": "x"}
    assert marketing.post(f"/console/members/{member.id}/tier", data=form).status_code == 403


def test_with_no_ladder_the_member_page_has_no_tier_card(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    page = signed_in(Role.cashier, [store]).get(f"/console/members/{member.id}")
    assert page.status_code == 200
    assert 'data-testid="member-tier"' not in page.text


# --- the distribution -------------------------------------------------------------------------


def test_the_distribution_counts_members_per_tier_and_moves_per_month(
    signed_in: Client, session: Session
) -> None:
    make_ladder(session)
    store = make_store(session)
    members = [make_member(session, store) for _ in range(4)]
    order(session, store, members[0], 600_000, NOW - timedelta(days=2))  # gold
    order(session, store, members[1], 150_000, NOW - timedelta(days=2))  # silver
    page = signed_in(Role.hq_finance).get("/console/tiers/distribution")
    assert page.status_code == 200
    found = re.search(r'id="tier-chart-data">(.*?)</script>', page.text, re.S)
    assert found is not None
    chart = json.loads(found[1])
    assert chart["tiers"] == ["普通", "银卡", "金卡", "钻石"]
    assert chart["members"] == [2, 1, 1, 0]
    upgrades = next(s for s in chart["series"] if s["name"] == "升级")
    assert upgrades["data"][-1] == 2
    assert sum(upgrades["data"]) == 2
    assert chart["months"][-1] == "2026-06"
    assert len(chart["months"]) == 12
    assert "/console/static/vendor/echarts/echarts.min.js" in page.text


def test_a_cashier_sees_no_distribution(signed_in: Client, session: Session) -> None:
    make_ladder(session)
    store = make_store(session)
    cashier = signed_in(Role.cashier, [store])
    assert cashier.get("/console/tiers/distribution").status_code == 403
    assert cashier.get("/console/tiers/stores").status_code == 403
    assert "/console/tiers/stores" not in cashier.get("/console/tiers").text


def test_the_store_view_counts_members_per_tier_per_store_and_moves_per_month(
    signed_in: Client, session: Session
) -> None:
    make_ladder(session)
    north, south = make_store(session), make_store(session)
    with clock.frozen(NOW - timedelta(days=40)):
        order(session, north, make_member(session, north), 600_000, clock.now())  # gold
    order(session, south, make_member(session, south), 150_000, NOW - timedelta(days=2))
    make_member(session, south)
    page = signed_in(Role.hq_marketing).get("/console/tiers/stores")
    assert page.status_code == 200
    table = page.text[page.text.index('data-testid="tier-stores"') :]
    rows = {
        code: texts(row)
        for code, row in re.findall(r'<tr data-store="([^"]*)">(.*?)</tr>', table, re.S)
    }
    assert rows[north.code].split()[-5:] == ["0", "0", "1", "0", "1"]
    assert rows[south.code].split()[-5:] == ["1", "1", "0", "0", "2"]
    moves = texts(page.text[page.text.index('data-testid="tier-store-movements"') :])
    assert "2026-05 升级 普通 → 金卡 1" in moves
    assert "2026-06 升级 普通 → 银卡 1" in moves
    # one store's movements; a store manager's view is their stores' members
    one = signed_in(Role.hq_marketing).get("/console/tiers/stores", params={"store": south.code})
    moves = texts(one.text[one.text.index('data-testid="tier-store-movements"') :])
    assert "普通 → 银卡" in moves
    assert "金卡" not in moves
    manager = signed_in(Role.store_manager, [north], lang="en").get("/console/tiers/stores")
    assert manager.status_code == 200
    assert south.code not in manager.text.split('data-testid="tier-stores"')[1].split("</table>")[0]
    assert "Members per tier per store" in manager.text
    assert "Basic → Gold" not in manager.text  # the English name is the code's title
    assert "Normal → Gold" in texts(manager.text)

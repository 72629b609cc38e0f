"""The console's points pages driven in Debian's chromium against a real server: an earning rule
made through the form, a large adjustment approved by a second HQ user, and the liability."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.orm import Session

from patron.console.i18n import translator
from patron.console.points_forms import attribute_conditions, kept_attributes, offered_attributes
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members import attributes as member_attributes
from patron.members import registration
from patron.members.models import AttributeType
from patron.members.schemas import AttributeCreate, AttributeOut, MemberCreate
from patron.orders import service as orders
from patron.orders.models import OrderChannel, PaymentMethod
from patron.orders.schemas import OrderCreate
from patron.points import adjustments
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points import rules as points_rules
from patron.points.earning import LineFacts, MemberFacts, OrderFacts, compute
from patron.points.models import ExpiryPolicy, PointsRule, RuleEffect
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.conftest import QueryCounter
from tests.factories import PASSWORD, make_member, make_order, make_staff, make_store

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin"
MARKETING = "marketing.zhao"
FINANCE = "finance.qian"
MANAGER = "manager.li"
PASSWORDS = {
    ADMIN: "admin-password-1",
    MARKETING: "marketing-password-1",
    FINANCE: "finance-password-1",
    MANAGER: "manager-password-1",
}
STORE_A = "SH001"
STORE_B = "BJ001"
STORES = {STORE_A: "上海南京西路店", STORE_B: "北京三里屯店"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    data_dir = tmp_path_factory.mktemp("console-points")
    with console_server(
        data_dir,
        STORES,
        [
            StaffLogin(ADMIN, PASSWORDS[ADMIN], Role.hq_admin),
            StaffLogin(MARKETING, PASSWORDS[MARKETING], Role.hq_marketing),
            StaffLogin(FINANCE, PASSWORDS[FINANCE], Role.hq_finance),
            StaffLogin(MANAGER, PASSWORDS[MANAGER], Role.store_manager, (STORE_A,)),
        ],
    ) as running:
        yield running


def log_in(page: Page, username: str = ADMIN) -> None:
    page.context.clear_cookies()
    sign_in(page, username, PASSWORDS[username])


def sidebar(page: Page) -> Locator:
    return page.get_by_role("complementary")


def tabs(page: Page) -> Locator:
    return page.get_by_role("main").get_by_role("navigation", name="积分")


def register(
    server: ConsoleServer, mobile: str, store_id: int, attributes: dict[str, str] | None = None
) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(
            mobile=mobile, name="陈静", store_id=store_id, attributes=attributes or {}
        )
        return registration.register_member(session, SYSTEM, data).id


def buy(server: ConsoleServer, store_id: int, member_id: int, external_id: str, paid: int) -> int:
    """One line of `paid` fen, paid by WeChat, ordered a minute before the clock's now."""
    data = OrderCreate.model_validate(
        {
            "external_id": external_id,
            "store_id": store_id,
            "channel": OrderChannel.pos,
            "member_id": member_id,
            "occurred_at": clock.now() - timedelta(minutes=1),
            "items": [
                {
                    "sku": "SKU-TEA",
                    "name": "龙井茶礼盒",
                    "category_code": "TEA",
                    "quantity": 1,
                    "unit_price": paid,
                    "paid": paid,
                }
            ],
            "payments": [{"method": PaymentMethod.wechat_pay, "amount": paid}],
        }
    )
    with server.sessions.begin() as session:
        return orders.create_order(session, SYSTEM, data).id


def last_saturday_noon() -> datetime:
    """Noon of the latest Saturday before today, in the business time zone."""
    today = clock.today()
    day = today - timedelta(days=(today.isoweekday() - 6) % 7 or 7)
    return datetime.combine(day, time(12), tzinfo=clock.business_tz())


def test_weekend_rule_made_in_the_form_doubles_a_saturday_order(
    page: Page, server: ConsoleServer
) -> None:
    member_id = register(server, "13912345101", server.store(STORE_A))
    log_in(page)
    sidebar(page).get_by_role("link", name="积分", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/points/policy$"))
    tabs(page).get_by_role("link", name="积分规则").click()
    page.get_by_role("link", name="新建积分规则").click()

    page.fill("input[name=name]", "周末双倍")
    page.check(f"input[name=store_ids][value='{server.store(STORE_A)}']")
    page.get_by_label("周六").check()
    page.get_by_label("周日").check()
    expect(page.get_by_label("积分倍数", exact=True).first).to_be_checked()
    # ×1 is no reward: refused beside the multiplier, everything else kept.
    page.fill("input[name=factor]", "1")
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("alert")).to_contain_text("请检查并更正标出的内容")
    expect(page.locator(".effect-option .field-error")).to_have_text("倍数须大于 1")
    expect(page.locator("input[name=name]")).to_have_value("周末双倍")
    expect(page.get_by_label("周六")).to_be_checked()
    expect(page.locator(f"input[name=store_ids][value='{server.store(STORE_A)}']")).to_be_checked()
    page.fill("input[name=factor]", "2")
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/points/rules$"))
    expect(page.get_by_role("status")).to_contain_text("积分规则“周末双倍”已创建")
    row = page.get_by_test_id("rules").locator("tbody tr", has_text="周末双倍")
    expect(row).to_contain_text("积分 ×2")
    expect(row).to_contain_text(f"门店 {STORE_A}")
    expect(row).to_contain_text("每逢周六、周日")
    expect(row).to_contain_text("启用")
    # Switched off and on again from the list, the rest of it unchanged.
    row.get_by_role("button", name="停用").click()
    expect(page.get_by_role("status")).to_contain_text("积分规则“周末双倍”已停用")
    expect(row.locator(".status")).to_have_text("停用")
    row.get_by_role("button", name="启用").click()
    expect(row.locator(".status")).to_have_text("启用")
    with server.sessions() as session:
        (rule,) = [r for r in points_rules.list_rules(session) if r.name == "周末双倍"]
        assert (rule.effect, rule.amount) == (RuleEffect.multiply, 200)
        assert rule.conditions["weekdays"] == [6, 7]
        assert rule.conditions["store_ids"] == [server.store(STORE_A)]

    # A ¥100.00 order in that store on a Saturday earns the base 100 and 100 more.
    saturday = last_saturday_noon()
    with clock.frozen(saturday + timedelta(minutes=1)):
        order_id = buy(server, server.store(STORE_A), member_id, "POS-SAT-1", 10000)
    page.goto(f"/console/members/{member_id}")
    panel = page.get_by_test_id("member-points")
    expect(panel.get_by_test_id("points-available")).to_have_text("200")
    expect(panel.get_by_test_id("points-pending")).to_have_text("0")
    earned = panel.get_by_test_id("points-entries").locator("tbody tr[data-kind='earn']")
    expect(earned).to_contain_text("获得")
    expect(earned).to_contain_text("+200")
    expect(earned).to_contain_text("基础积分 100 + 周末双倍 100")
    expect(earned.get_by_role("link", name="POS-SAT-1")).to_have_attribute(
        "href", f"/console/orders/{order_id}"
    )
    expect(panel.get_by_test_id("points-expiring")).to_contain_text("200")

    panel.get_by_role("link", name="全部积分记录").click()
    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}/points$"))
    expect(page.get_by_test_id("points-available")).to_have_text("200")
    expect(page.get_by_test_id("points-entries").locator("tbody tr")).to_have_count(1)


def test_marketing_rewards_a_member_attribute_chosen_in_the_form(
    page: Page, server: ConsoleServer
) -> None:
    with server.sessions.begin() as session:
        skin = AttributeCreate(
            code="skin_type",
            label="肤质",
            type=AttributeType.single_choice,
            options=["干性", "油性", "混合性"],
        )
        member_attributes.create_attribute(session, SYSTEM, skin)
    oily = register(server, "13912345121", server.store(STORE_B), {"skin_type": "油性"})
    dry = register(server, "13912345122", server.store(STORE_B), {"skin_type": "干性"})
    name = "肤质=油性 加50分"

    log_in(page, MARKETING)
    page.goto("/console/points/rules")
    page.get_by_role("link", name="新建积分规则").click()
    page.fill("input[name=name]", name)
    page.check("input[name=effect][value=add_per_order]")
    page.fill("input[name=per_order]", "50")
    conditions = page.get_by_test_id("rule-attributes")
    skin_select = conditions.get_by_label("肤质")
    expect(skin_select.locator("option")).to_have_text(["不限", "干性", "油性", "混合性"])
    expect(skin_select).to_have_value("")
    skin_select.select_option("油性")
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/points/rules$"))
    expect(page.get_by_role("status")).to_contain_text(f"积分规则“{name}”已创建")
    row = page.get_by_test_id("rules").locator("tbody tr", has_text=name)
    expect(row).to_contain_text("每单加 50 分")
    expect(row).to_contain_text("会员属性 肤质 = 油性")
    with server.sessions() as session:
        (rule,) = [r for r in points_rules.list_rules(session) if r.name == name]
        assert (rule.effect, rule.amount) == (RuleEffect.add_per_order, 50)
        assert rule.conditions["attributes"] == {"skin_type": "油性"}
        rule_id = rule.id

    # Editing the rule shows the condition as saved; saving unchanged keeps it.
    page.goto(f"/console/points/rules/{rule_id}/edit")
    expect(page.get_by_test_id("rule-attributes").get_by_label("肤质")).to_have_value("油性")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text(f"积分规则“{name}”已保存")
    with server.sessions() as session:
        (rule,) = [r for r in points_rules.list_rules(session) if r.id == rule_id]
        assert rule.conditions["attributes"] == {"skin_type": "油性"}

    # The same ¥100.00 order: the oily-skinned member earns 100 and 50 more, the other 100.
    buy(server, server.store(STORE_B), oily, "POS-SKIN-OILY", 10000)
    buy(server, server.store(STORE_B), dry, "POS-SKIN-DRY", 10000)
    log_in(page)
    page.goto(f"/console/members/{oily}")
    panel = page.get_by_test_id("member-points")
    expect(panel.get_by_test_id("points-available")).to_have_text("150")
    earned = panel.get_by_test_id("points-entries").locator("tbody tr[data-kind='earn']")
    expect(earned).to_contain_text(f"基础积分 100 + {name} 50")
    page.goto(f"/console/members/{dry}")
    expect(panel.get_by_test_id("points-available")).to_have_text("100")
    earned = panel.get_by_test_id("points-entries").locator("tbody tr[data-kind='earn']")
    expect(earned).to_contain_text("+100")
    expect(earned).not_to_contain_text(name)
    with server.sessions() as session:
        assert points_queries.balance(session, oily).available == 150
        assert points_queries.balance(session, dry).available == 100


def test_attribute_conditions_from_the_form_match_as_earning_compares() -> None:
    """Not in the browser: what the form reads for each attribute type is what earning compares
    with the member's stored values (a number as a number, a date as YYYY-MM-DD, an option
    found among a multiple choice); personal-data and disabled attributes are not offered."""
    definitions = [
        AttributeOut(
            id=i,
            code=code,
            label=code,
            type=kind,
            options=options,
            required=False,
            is_pii=code == "id_no",
            is_active=code != "old",
        )
        for i, (code, kind, options) in enumerate(
            [
                ("size", AttributeType.number, []),
                ("since", AttributeType.date, []),
                ("note", AttributeType.text, []),
                ("likes", AttributeType.multi_choice, ["茶", "咖啡"]),
                ("id_no", AttributeType.text, []),
                ("old", AttributeType.text, []),
            ],
            start=1,
        )
    ]
    saved = {"old": "x", "id_no": "y"}
    offered = offered_attributes(definitions, saved)
    assert [a.code for a in offered] == ["size", "since", "note", "likes"]
    assert kept_attributes(offered, saved) == saved
    # "Has no value" (null, set through the API) cannot show in one input: kept, not dropped.
    no_note = offered_attributes(definitions, {"note": None})
    assert [a.code for a in no_note] == ["size", "since", "likes"]
    assert kept_attributes(no_note, {"note": None}) == {"note": None}
    t = translator("zh")
    values = {
        "attributes.size": "38",
        "attributes.since": "2024-05-01",
        "attributes.note": " VIP ",
        "attributes.likes": "茶",
    }
    problems: dict[str, str] = {}
    conditions = attribute_conditions(values, offered, problems, t)
    assert problems == {}
    assert conditions == {"size": 38, "since": "2024-05-01", "note": "VIP", "likes": "茶"}
    rule = PointsRule(
        id=1,
        name="r",
        active=True,
        priority=0,
        stackable=True,
        conditions={"attributes": conditions},
        effect=RuleEffect.add_per_order,
        amount=50,
        cap_per_order=None,
        cap_per_member_day=None,
    )
    line = LineFacts(None, "SKU", None, 1, 10000)
    order = OrderFacts(None, 1, 1, "pos", clock.now(), 10000, {"wechat_pay": 10000}, (line,))
    member = {"size": 38.0, "since": "2024-05-01", "note": "VIP", "likes": ["咖啡", "茶"]}

    def bonus(attributes: dict[str, object]) -> int:
        earning = compute(order, clock.today(), MemberFacts(None, attributes), [rule], {})
        return earning.total - earning.base

    assert bonus(member) == 50
    assert bonus(member | {"likes": ["咖啡"]}) == 0
    assert bonus(member | {"size": 39}) == 0
    bad = {"attributes.size": "三十八", "attributes.since": "5/1", "attributes.likes": "酒"}
    attribute_conditions(bad, offered, problems, t)
    assert problems == {
        "attributes.size": "请输入数字",
        "attributes.since": "日期格式不正确",
        "attributes.likes": "请选择有效的选项",
    }


def test_large_adjustment_waits_for_finance_to_approve(page: Page, server: ConsoleServer) -> None:
    member_id = register(server, "13912345102", server.store(STORE_A))
    with server.sessions() as session:
        threshold = points_policy.get_policy(session).approval_threshold
    assert threshold == 5000
    log_in(page, MARKETING)
    page.goto(f"/console/members/{member_id}")
    form = page.get_by_test_id("adjust-form")
    # Not a number, then a number without a reason: refused beside the fields.
    form.locator("input[name=points]").fill("很多")
    form.locator("input[name=reason]").fill("顾客投诉补偿")
    form.get_by_role("button", name="调整积分").click()
    expect(page.locator("[data-testid=adjust-form] .field-error")).to_have_text("请输入整数")
    expect(form.locator("input[name=reason]")).to_have_value("顾客投诉补偿")
    form.locator("input[name=points]").fill("6,000")
    form.get_by_role("button", name="调整积分").click()

    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}$"))
    expect(page.get_by_role("status")).to_contain_text("积分调整 +6,000 已提交，待审批")
    panel = page.get_by_test_id("member-points")
    awaiting = panel.get_by_test_id("points-awaiting")
    expect(awaiting).to_contain_text("待审批")
    expect(awaiting).to_contain_text("+6,000")
    expect(awaiting).to_contain_text("顾客投诉补偿")
    expect(panel.get_by_test_id("points-available")).to_have_text("0")
    # Marketing sees the queue but does not decide.
    page.goto("/console/points/adjustments")
    queued = page.get_by_test_id("adjustments").locator("tbody tr", has_text="顾客投诉补偿")
    expect(queued).to_contain_text(MARKETING)
    expect(queued.get_by_role("button", name="批准")).to_have_count(0)

    log_in(page, FINANCE)
    sidebar(page).get_by_role("link", name="积分", exact=True).click()
    tabs(page).get_by_role("link", name="调整审批").click()
    queued = page.get_by_test_id("adjustments").locator("tbody tr", has_text="顾客投诉补偿")
    expect(queued).to_contain_text("+6,000")
    expect(queued.get_by_role("link", name="陈*")).to_have_attribute(
        "href", f"/console/members/{member_id}"
    )
    queued.get_by_role("button", name="批准").click()
    expect(page.get_by_role("status")).to_contain_text("已批准并入账")
    expect(page.get_by_test_id("adjustments")).not_to_contain_text("顾客投诉补偿")

    page.goto(f"/console/members/{member_id}")
    panel = page.get_by_test_id("member-points")
    expect(panel.get_by_test_id("points-available")).to_have_text("6,000")
    expect(panel.get_by_test_id("points-awaiting")).to_have_count(0)
    adjusted = panel.get_by_test_id("points-entries").locator("tbody tr[data-kind='adjust']")
    expect(adjusted).to_contain_text("+6,000")
    expect(adjusted).to_contain_text("顾客投诉补偿")
    expect(adjusted).to_contain_text(FINANCE)
    expect(page.get_by_test_id("timeline")).to_contain_text("调整 +6,000 分")


def test_an_adjustment_submitted_twice_counts_once(page: Page, server: ConsoleServer) -> None:
    member_id = register(server, "13912345109", server.store(STORE_A))
    log_in(page, MARKETING)
    page.goto(f"/console/members/{member_id}")
    form = page.get_by_test_id("adjust-form")
    form.locator("input[name=points]").fill("300")
    form.locator("input[name=reason]").fill("补录积分")
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector('[data-testid=adjust-form]');
            const send = () => fetch(form.action, {method: 'POST', body: new FormData(form)});
            return (await Promise.all([send(), send()])).map((r) => r.status);
        }"""
    )
    assert statuses == [200, 200]
    page.reload()
    panel = page.get_by_test_id("member-points")
    expect(panel.get_by_test_id("points-available")).to_have_text("300")
    expect(
        panel.get_by_test_id("points-entries").locator("tbody tr[data-kind='adjust']")
    ).to_have_count(1)


def test_nobody_approves_their_own_adjustment(page: Page, server: ConsoleServer) -> None:
    member_id = register(server, "13912345103", server.store(STORE_B))
    log_in(page)
    page.goto(f"/console/members/{member_id}")
    form = page.get_by_test_id("adjust-form")
    form.locator("input[name=points]").fill("-5000")
    form.locator("input[name=reason]").fill("误操作冲正")
    form.get_by_role("button", name="调整积分").click()
    expect(page.get_by_role("status")).to_contain_text("待审批")

    page.goto("/console/points/adjustments")
    queued = page.get_by_test_id("adjustments").locator("tbody tr", has_text="误操作冲正")
    expect(queued).to_contain_text("由您提交")
    queued.get_by_role("button", name="批准").click()
    expect(page.get_by_role("alert")).to_contain_text("不能审批自己提交的调整")
    expect(queued).to_be_visible()
    with server.sessions() as session:
        assert [a.reason for a in adjustments.pending_adjustments(session)].count("误操作冲正") == 1

    # A small deduction applies at once, and more than the member has is refused (on another
    # member: this one's pending 5,000 counts toward the threshold with anything more asked).
    other_id = register(server, "13912345199", server.store(STORE_B))
    page.goto(f"/console/members/{other_id}")
    form = page.get_by_test_id("adjust-form")
    form.locator("input[name=points]").fill("-300")
    form.locator("input[name=reason]").fill("兑换礼品")
    form.get_by_role("button", name="调整积分").click()
    expect(page.locator("[data-testid=adjust-form] .field-error")).to_have_text(
        "可用积分只有 0，不够扣减"
    )
    expect(page.get_by_test_id("member-points").get_by_test_id("points-entries")).to_contain_text(
        "暂无积分记录"
    )


def test_liability_shows_the_total_and_where_it_was_earned(
    page: Page, server: ConsoleServer
) -> None:
    member_id = register(server, "13912345104", server.store(STORE_B))
    buy(server, server.store(STORE_B), member_id, "POS-B-LIAB", 8800)
    with server.sessions() as session:
        report = points_queries.liability(session)
    assert report.points >= 88
    assert report.by_store[server.store(STORE_B)] >= 88

    log_in(page, FINANCE)
    sidebar(page).get_by_role("link", name="积分", exact=True).click()
    tabs(page).get_by_role("link", name="积分负债").click()
    expect(page).to_have_url(re.compile(r"/console/points/liability$"))
    expect(page.get_by_test_id("liability-points")).to_have_text(f"{report.points:,}")
    expect(page.get_by_test_id("liability-cash")).to_have_text(
        translator("zh").yuan(report.cash_value_fen)
    )
    store_row = page.get_by_test_id("liability-stores").locator(
        f"tr[data-key='{server.store(STORE_B)}']"
    )
    expect(store_row).to_contain_text(STORE_B)
    expect(store_row).to_contain_text("北京三里屯店")
    expect(store_row).to_contain_text(f"{report.by_store[server.store(STORE_B)]:,}")
    expect(store_row.locator("svg.bar rect.bar-fill")).to_have_count(1)
    months = page.get_by_test_id("liability-months").locator("tbody tr")
    expect(months).to_have_count(len(report.by_expiry_month))

    # Finance reads the policy but does not change it; English labels follow the switch.
    tabs(page).get_by_role("link", name="积分设置").click()
    expect(page.get_by_text("只有总部管理员可以修改积分设置。")).to_be_visible()
    expect(page.locator("input[name=min_burn]")).to_be_disabled()
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="In plain words")).to_be_visible()
    expect(page.get_by_test_id("policy-summary")).to_contain_text("100 points are worth ¥1.")


def test_admin_changes_the_policy_and_a_store_manager_sees_no_points_pages(
    page: Page, server: ConsoleServer
) -> None:
    log_in(page)
    page.goto("/console/points/policy")
    page.fill("input[name=approval_threshold]", "0")
    page.fill("input[name=pending_days]", "3天")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("label:has(input[name=approval_threshold]) .field-error")).to_have_text(
        "不能小于 1"
    )
    expect(page.locator("label:has(input[name=pending_days]) .field-error")).to_have_text(
        "请输入整数"
    )
    page.fill("input[name=approval_threshold]", "8000")
    page.fill("input[name=pending_days]", "0")
    page.check("input[name=expiry_policy][value=year_end]")
    page.fill("input[name=category_caps]", "TOBACCO 0")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("label:has(input[name=category_caps]) .field-error")).to_contain_text(
        "品类编码=百分比"
    )
    page.fill("input[name=category_caps]", "TOBACCO=0，WINE=20")
    page.fill("input[name=max_points_per_order]", "5,000")
    page.uncheck("input[name=combine_with_coupons]")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("积分设置已保存")
    summary = page.get_by_test_id("policy-summary")
    expect(summary).to_contain_text("单次调整 8,000 积分及以上")
    expect(summary).to_contain_text("次年的 12 月 31 日到期")
    expect(summary).to_contain_text("单笔订单最多使用 5,000 积分")
    expect(summary).to_contain_text("TOBACCO=0, WINE=20")
    expect(summary).to_contain_text("积分抵现不可与优惠券同时使用")
    with server.sessions.begin() as session:
        policy = points_policy.get_policy(session)
        assert (policy.approval_threshold, policy.expiry_policy) == (8000, ExpiryPolicy.year_end)
        assert (policy.max_points_per_order, policy.category_caps) == (
            5000,
            {"TOBACCO": 0, "WINE": 20},
        )
        assert policy.combine_with_coupons is False
        points_policy.update_policy(
            session,
            SYSTEM,
            {
                "approval_threshold": 5000,
                "expiry_policy": "rolling",
                "max_points_per_order": None,
                "category_caps": {},
                "combine_with_coupons": True,
            },
        )

    log_in(page, MANAGER)
    expect(sidebar(page).get_by_role("link", name="积分", exact=True)).to_have_count(0)
    for path in ("policy", "rules", "adjustments", "liability"):
        page.goto(f"/console/points/{path}")
        expect(page.get_by_role("heading", level=2)).to_have_text("没有权限")
    # A store manager still adjusts the points of a member of their store.
    member_id = register(server, "13912345105", server.store(STORE_A))
    page.goto(f"/console/members/{member_id}")
    form = page.get_by_test_id("adjust-form")
    form.locator("input[name=points]").fill("200")
    form.locator("input[name=reason]").fill("开业活动补发")
    form.get_by_role("button", name="调整积分").click()
    expect(page.get_by_role("status")).to_contain_text("积分已调整 +200")
    expect(page.get_by_test_id("points-available")).to_have_text("200")
    entry = page.get_by_test_id("points-entries").locator("tbody tr[data-kind='adjust']")
    expect(entry).to_contain_text(STORE_A)


def test_points_pages_make_no_query_per_row(
    client: TestClient, session: Session, count_queries: QueryCounter
) -> None:
    """Not in the browser: the member page, the ledger, the rules and the approval queue through
    the test client, counting queries as orders, rules and adjustments are added."""
    admin = make_staff(session, Role.hq_admin)
    store = make_store(session)
    member = make_member(session, store)
    login = {"username": admin.username, "password": PASSWORD}
    assert client.post("/console/login", data=login, follow_redirects=False).status_code == 303

    def add(n: int) -> None:
        for i in range(n):
            make_order(session, store, member)
            rule = {
                "name": f"规则{i}",
                "conditions": {"store_ids": [store.id], "weekdays": [6]},
                "effect": "add_per_order",
                "amount": 10,
            }
            points_rules.save_rule(session, SYSTEM, rule)
            adjustments.request_adjustment(session, SYSTEM, member.id, 9000 + i, f"补偿{i}")

    def queries_for(*paths: str) -> list[int]:
        counts = []
        for path in paths:
            count_queries.count = 0
            assert client.get(path).status_code == 200
            counts.append(count_queries.count)
        return counts

    paths = (
        f"/console/members/{member.id}",
        f"/console/members/{member.id}/points",
        "/console/points/rules",
        "/console/points/adjustments",
        "/console/points/liability",
    )
    add(1)
    few = queries_for(*paths)
    add(4)
    assert queries_for(*paths) == few

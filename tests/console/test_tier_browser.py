"""The console's tier screens in Debian's chromium against a real server: HQ marketing builds a
three-tier ladder, an order recorded through the order service upgrades a member, and the
member's tier card shows it; the distribution page draws its charts with the vendored ECharts
under the console's CSP; the per-store view in Chinese and English."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.tiers import ladder
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.zhou"
PASSWORD = "marketing-password-4"
STORE = "SH001"
OTHER_STORE = "BJ001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-tiers"),
        {STORE: "上海南京西路店", OTHER_STORE: "北京国贸店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        yield running


def register(server: ConsoleServer, mobile: str, store: str = STORE) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="王芳", store_id=server.store(store))
        return registration.register_member(session, SYSTEM, data).id


def record_order(server: ConsoleServer, member_id: int, fen: int, store: str = STORE) -> None:
    body = {
        "external_id": f"POS-TIER-{member_id}-{fen}",
        "store_id": server.store(store),
        "channel": "pos",
        "member_id": member_id,
        "occurred_at": clock.now().isoformat(),
        "items": [
            {"sku": "SKU-1", "name": "羊绒围巾", "quantity": 1, "unit_price": fen, "paid": fen}
        ],
        "payments": [{"method": "wechat_pay", "amount": fen}],
    }
    with server.sessions.begin() as session:
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


def add_tier(page: Page, rank: str, code: str, name: str, entry: str, retention: str) -> None:
    page.get_by_role("link", name="新建等级").click()
    form = page.get_by_test_id("tier-form")
    form.locator("input[name=rank]").fill(rank)
    form.locator("input[name=code]").fill(code)
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=entry_threshold]").fill(entry)
    form.locator("input[name=retention_threshold]").fill(retention)
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text(f"等级“{name}”已创建")


def test_a_three_tier_ladder_and_a_member_upgraded_by_an_order(
    page: Page, server: ConsoleServer
) -> None:
    page_errors: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_errors.append(message.text)

    member_id = register(server, "13912348801")
    sign_in(page, MARKETING, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="会员等级").click()
    expect(page.get_by_test_id("tier-ladder")).to_contain_text("还没有等级")

    # Silver before the base tier: the tiers service's refusal, beside the rank.
    page.get_by_role("link", name="新建等级").click()
    form = page.get_by_test_id("tier-form")
    form.locator("input[name=rank]").fill("1")
    form.locator("input[name=code]").fill("silver")
    form.locator("input[name=name]").fill("银卡")
    form.locator("input[name=entry_threshold]").fill("1000")
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_role("alert")).to_contain_text("请检查并更正标出的内容")
    expect(page.locator(".field.has-error")).to_contain_text("请先建立基础等级")
    page.get_by_role("link", name="取消").click()

    add_tier(page, "0", "normal", "普通", "0", "0")
    add_tier(page, "1", "silver", "银卡", "1000", "800")
    add_tier(page, "2", "gold", "金卡", "5000", "4000")
    ladder = page.get_by_test_id("tier-ladder")
    expect(ladder.locator("tbody tr")).to_have_count(3)
    expect(ladder.locator("tr[data-tier=gold]")).to_contain_text("5,000")

    page.goto(f"/console/members/{member_id}")
    card = page.get_by_test_id("member-tier")
    expect(card.get_by_test_id("member-tier-name")).to_have_text("普通")
    expect(card.get_by_test_id("member-tier-progress")).to_contain_text("还需 1,000 成长值升至银卡")

    # ¥5,200 at the till: straight past silver to gold.
    record_order(server, member_id, 520_000)
    page.reload()
    card = page.get_by_test_id("member-tier")
    expect(card.get_by_test_id("member-tier-name")).to_have_text("金卡")
    expect(card.get_by_test_id("member-tier-growth")).to_have_text("5,200")
    expect(card).to_contain_text("已是最高等级")
    card.get_by_role("link", name="等级记录").click()
    expect(page.get_by_test_id("tier-history").locator("tr[data-reason=upgrade]")).to_contain_text(
        "普通 → 金卡"
    )
    expect(page.get_by_test_id("growth-entries").locator("tr[data-kind=order]")).to_contain_text(
        "+5200"
    )

    page.on("console", watch)
    page.goto("/console/tiers/distribution")
    expect(page.get_by_test_id("tier-distribution").locator("tr[data-tier=gold]")).to_contain_text(
        "1"
    )
    # ECharts drew both charts (a canvas each) without a refusal from the CSP.
    expect(page.locator("#tier-members-chart canvas")).to_have_count(1)
    expect(page.locator("#tier-movements-chart canvas")).to_have_count(1)
    assert page_errors == []


def test_the_ladder_in_english(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        if not ladder.ladder(session):  # the ladder the other test built, or a base tier
            base = {"code": "normal", "name": "普通", "rank": 0, "entry_threshold": 0}
            ladder.save_tier(session, SYSTEM, base)
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/tiers")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="New tier").click()
    form = page.get_by_test_id("tier-form")
    form.locator("input[name=rank]").fill("9")
    form.locator("input[name=code]").fill("black")
    form.locator("input[name=name]").fill("黑卡")
    form.locator("input[name=name_en]").fill("Black")
    form.locator("input[name=entry_threshold]").fill("90000")
    form.locator("input[name=retention_threshold]").fill("80000")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Tier “黑卡” created")
    expect(page.get_by_test_id("tier-ladder").locator("tr[data-tier=black]")).to_contain_text(
        "90,000"
    )


def test_the_store_view_in_both_languages(page: Page, server: ConsoleServer) -> None:
    """Members per tier per store, and one store's movements, in Chinese, then in English."""
    with server.sessions.begin() as session:
        if not ladder.ladder(session):  # the ladder the first test built, or this one
            for rank, (code, name, entry) in enumerate(
                (("normal", "普通", 0), ("silver", "银卡", 1000), ("gold", "金卡", 5000))
            ):
                values = {"code": code, "name": name, "rank": rank, "entry_threshold": entry}
                ladder.save_tier(session, SYSTEM, values | {"retention_threshold": entry})
    member_id = register(server, "13912348802", OTHER_STORE)
    record_order(server, member_id, 150_000, OTHER_STORE)  # ¥1,500: silver
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/tiers")
    page.get_by_role("link", name="门店分布").click()
    stores = page.get_by_test_id("tier-stores")
    expect(stores.locator("thead")).to_contain_text("门店")
    beijing = stores.locator(f"tr[data-store={OTHER_STORE}]")
    expect(beijing).to_contain_text("北京国贸店")
    expect(beijing.locator("td[data-tier=silver]")).to_have_text("1")
    expect(page.get_by_role("heading", name=re.compile("每月等级变动"))).to_be_visible()
    page.get_by_role("combobox", name="门店").select_option(OTHER_STORE)
    page.get_by_role("button", name="查看").click()
    expect(page).to_have_url(re.compile(f"store={OTHER_STORE}"))
    moves = page.get_by_test_id("tier-store-movements").locator("tbody tr")
    expect(moves).to_have_count(1)
    expect(moves.first).to_contain_text("升级")
    expect(moves.first).to_contain_text("普通 → 银卡")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Members per tier per store")).to_be_visible()
    expect(page.get_by_test_id("tier-stores").locator("thead")).to_contain_text("Store")
    moves = page.get_by_test_id("tier-store-movements").locator("tbody tr")
    expect(moves.first).to_contain_text("Upgrade")
    expect(page.get_by_role("combobox", name="Store")).to_have_value(OTHER_STORE)
    page.get_by_role("combobox", name="Store").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(
        page.get_by_test_id("tier-stores").locator(
            f"tr[data-store={OTHER_STORE}] td[data-tier=silver]"
        )
    ).to_have_text("1")
    expect(page.get_by_role("link", name="By store")).to_have_attribute("aria-current", "page")

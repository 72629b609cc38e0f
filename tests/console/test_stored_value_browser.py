"""The console's stored-value screens in Debian's chromium against a real server: a 充500送50
package made by HQ, sold at the till to a member found by their scanned code, a spend from the
balance shown in the statement, and the settlement with its drill-down."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from patron.core.actor import SYSTEM, Role
from patron.count_cards import products
from patron.members import codes, registration
from patron.members.schemas import MemberCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.qian"
CASHIER = "cashier.sun"
FINANCE = "finance.li"
PASSWORDS = {
    MARKETING: "marketing-password-3",
    CASHIER: "cashier-password-3",
    FINANCE: "finance-password-3",
}
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-stored-value"),
        {STORE: "上海南京西路店"},
        [
            StaffLogin(MARKETING, PASSWORDS[MARKETING], Role.hq_marketing),
            StaffLogin(CASHIER, PASSWORDS[CASHIER], Role.cashier, (STORE,)),
            StaffLogin(FINANCE, PASSWORDS[FINANCE], Role.hq_finance),
        ],
    ) as running:
        yield running


def log_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    sign_in(page, username, PASSWORDS[username])


def register(server: ConsoleServer, mobile: str) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="林晓", store_id=server.store(STORE))
        return registration.register_member(session, SYSTEM, data).id


def member_code(server: ConsoleServer, member_id: int) -> str:
    with server.sessions.begin() as session:
        return codes.issue_code(session, SYSTEM, member_id).code


def test_a_package_recharge_at_the_till_and_the_settlement(
    page: Page, server: ConsoleServer
) -> None:
    member_id = register(server, "13912347701")
    log_in(page, MARKETING)
    page.get_by_role("complementary").get_by_role("link", name="储值").click()
    page.get_by_role("link", name="充值套餐").click()
    page.get_by_role("link", name="新建套餐").click()
    page.fill("input[name=name]", "充500送50")
    page.fill("input[name=pay]", "500")
    page.fill("input[name=bonus]", "50")
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text("套餐“充500送50”已创建")
    expect(page.get_by_test_id("package-face")).to_have_text("充500送50")

    # The cashier scans the member's code into the till's box.
    log_in(page, CASHIER)
    page.goto("/console/stored-value/till")
    page.fill("input[name=member]", member_code(server, member_id))
    page.get_by_role("button", name="查找会员").click()
    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}/stored-value$"))
    recharge = page.get_by_test_id("sv-recharge")
    real_name = page.get_by_test_id("sv-real-name")
    # A typed amount from the real-name threshold up asks for the real name at once.
    recharge.locator("input[name=amount]").fill("10000")
    expect(real_name).to_be_visible()
    recharge.locator("input[name=amount]").fill("100")
    expect(real_name).to_be_hidden()
    recharge.get_by_label(re.compile("充500送50")).check()
    expect(recharge.locator("input[name=amount]")).to_be_hidden()
    recharge.locator("select[name=method]").select_option("alipay")
    recharge.locator("input[name=reference]").fill("ALI-20260618-01")
    recharge.get_by_role("button", name="确认充值").click()
    expect(page.get_by_role("status")).to_contain_text("已充值，到账 ¥550.00")
    expect(page.get_by_test_id("sv-total")).to_have_text("¥550.00")
    expect(page.get_by_test_id("sv-principal")).to_have_text("¥500.00")
    expect(page.get_by_test_id("sv-bonus")).to_have_text("¥50.00")
    statement = page.get_by_test_id("sv-entries")
    expect(statement.locator("tr[data-kind=recharge]")).to_contain_text("+¥500.00")
    expect(statement.locator("tr[data-kind=bonus]")).to_contain_text("+¥50.00")
    expect(page.get_by_test_id("sv-recharges")).to_contain_text("ALI-20260618-01")

    # A spend at the till without a POS, verified by the member's code: an order paid from
    # stored value, in the statement with its order number.
    spend = page.get_by_test_id("sv-spend")
    spend.locator("input[name=amount]").fill("100")
    spend.locator("input[name=receipt]").fill("R-0618-001")
    spend.locator("input[name=code]").fill(member_code(server, member_id))
    spend.get_by_role("button", name="确认扣款").click()
    expect(page.get_by_role("status")).to_contain_text("已扣款 ¥100.00")
    expect(page.get_by_test_id("sv-total")).to_have_text("¥450.00")
    paid = page.get_by_test_id("sv-entries").locator("tr[data-kind=spend]")
    expect(paid.locator("[data-part=total]")).to_have_text("-¥100.00")
    # Principal and bonus in the ratio they were loaded: ¥9.09 of the ¥100 is bonus.
    expect(paid.locator("[data-part=principal]")).to_have_text("-¥90.91")
    expect(paid.locator("[data-part=bonus]")).to_have_text("-¥9.09")
    expect(paid).to_contain_text("R-0618-001")

    # Finance reads the settlement and opens the store's movements.
    log_in(page, FINANCE)
    page.goto("/console/stored-value/till")
    page.get_by_role("link", name="跨店结算").click()
    row = page.get_by_test_id("sv-settlement").locator(f"tr[data-store={STORE}]")
    expect(row.locator("[data-part=recharged]")).to_have_text("¥500.00")
    expect(row.locator("[data-part=spent]")).to_have_text("¥90.91")
    expect(row.locator("[data-part=net]")).to_have_text("¥409.09")
    row.get_by_role("link", name=STORE).click()
    movements = page.get_by_test_id("sv-movements")
    expect(movements.locator("tr[data-kind=recharge]")).to_contain_text("¥500.00")
    expect(movements.locator("tr[data-kind=spend]")).to_contain_text("R-0618-001")
    expect(movements.get_by_role("link", name=f"#{member_id}")).to_have_count(2)
    expect(page.get_by_test_id("settlement-csv")).to_have_attribute(
        "href", re.compile(rf"store={server.store(STORE)}.*format=csv")
    )


def test_a_count_card_sold_used_and_the_use_revoked(page: Page, server: ConsoleServer) -> None:
    member_id = register(server, "13912347702")
    with server.sessions.begin() as session:
        values = {"name": "洗护3次卡", "service": "头皮护理", "uses": 3, "price": 29_900}
        products.save_product(session, SYSTEM, values)
    log_in(page, CASHIER)
    page.goto(f"/console/members/{member_id}")
    page.get_by_test_id("member-stored-value").get_by_role("link", name="会员次卡").click()
    sale = page.get_by_test_id("card-sale")
    sale.locator("select[name=product_id]").select_option(label="洗护3次卡 · 3 次 ¥299.00")
    sale.locator("select[name=method]").select_option("cash")
    sale.get_by_role("button", name="确认售卡").click()
    expect(page.get_by_role("status")).to_contain_text("已售出“洗护3次卡”")
    card = page.get_by_test_id("member-cards").locator("tr[data-card]")
    expect(card.locator("[data-part=left]")).to_have_text("3 / 3")

    card.get_by_role("button", name="核销一次").click()
    expect(page.get_by_role("status")).to_contain_text("已核销：洗护3次卡 (2)")
    expect(card.locator("[data-part=left]")).to_have_text("2 / 3")
    expect(card.locator("[data-use]")).to_contain_text(STORE)

    card.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("status")).to_contain_text("已撤销“洗护3次卡”的一次使用")
    expect(card.locator("[data-part=left]")).to_have_text("3 / 3")
    expect(card.locator("[data-use]")).to_contain_text("已撤销")


def test_the_till_and_a_card_sale_in_english(page: Page, server: ConsoleServer) -> None:
    member_id = register(server, "13912347703")
    with server.sessions.begin() as session:
        values = {"name": "Wash x3", "service": "Hair care", "uses": 3, "price": 9_900}
        products.save_product(session, SYSTEM, values)
    log_in(page, CASHIER)
    page.goto("/console/stored-value/till")
    page.get_by_role("link", name="English").click()
    page.fill("input[name=member]", member_code(server, member_id))
    page.get_by_role("button", name="Find member").click()
    recharge = page.get_by_test_id("sv-recharge")
    recharge.locator("input[name=amount]").fill("200")
    recharge.locator("select[name=method]").select_option("cash")
    recharge.get_by_role("button", name="Recharge").click()
    expect(page.get_by_role("status")).to_contain_text("Recharged: ¥200.00 loaded")
    expect(page.get_by_test_id("sv-total")).to_have_text("¥200.00")

    page.goto(f"/console/members/{member_id}/count-cards")
    sale = page.get_by_test_id("card-sale")
    sale.locator("select[name=product_id]").select_option(index=1)
    sale.locator("select[name=method]").select_option("cash")
    sale.get_by_role("button", name="Sell").click()
    expect(page.get_by_role("status")).to_contain_text("Sold “Wash x3”")

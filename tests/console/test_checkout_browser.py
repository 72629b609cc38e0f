"""The cashier's screen (收银) in Debian's chromium against a real server, keyboard only as a till
works: the member's code scanned (typed, then Enter, as a wedge scanner does), items by barcode,
the best coupon picked, points and stored value used, the sale committed with Ctrl+Enter, the
receipt; then part of the sale refunded from the order page. In Chinese and in English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from patron.catalog import service as catalog
from patron.catalog.schemas import ProductCreate
from patron.core.actor import SYSTEM, Role
from patron.members import codes, registration
from patron.members.schemas import MemberCreate
from patron.orders.models import Order, OrderLine
from patron.points import grants
from patron.stored_value import recharges
from patron.stored_value.models import StoredValueAccount
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.factories import issue_coupon, make_coupon_template

require_chromium()

pytestmark = pytest.mark.browser

CASHIER = "cashier.zhou"
PASSWORD = "cashier-password-5"
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-checkout"),
        {STORE: "上海南京西路店"},
        [StaffLogin(CASHIER, PASSWORD, Role.cashier, (STORE,))],
    ) as running:
        with running.sessions.begin() as session:
            for sku, name, price in (("6901", "洗发水", 4_990), ("6902", "毛巾", 1_000)):
                catalog.create_product(
                    session, SYSTEM, ProductCreate(sku=sku, name=name, list_price=price)
                )
        yield running


@dataclass(frozen=True)
class Shopper:
    member_id: int
    coupon_code: str


def shopper(server: ConsoleServer, mobile: str) -> Shopper:
    """A member with 1,000 points (¥10), ¥500 of stored value and a 满100减20 coupon."""
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="林晓明", store_id=server.store(STORE))
        member = registration.register_member(session, SYSTEM, data)
        grants.grant_points(
            session, SYSTEM, member.id, 1_000, reason="test", store_id=None, source_ref="test"
        )
        cash = recharges.Payment("cash", "")
        recharges.recharge(session, SYSTEM, member.id, server.store(STORE), cash, amount=50_000)
        coupon = issue_coupon(session, make_coupon_template(session), member)
        return Shopper(member.id, coupon.code)


def member_code(server: ConsoleServer, member_id: int) -> str:
    with server.sessions.begin() as session:
        return codes.issue_code(session, SYSTEM, member_id).code


WORDS = {
    "zh": {
        "nav": "收银",
        "committed": "已收款：¥139.70",
        "cash": "现金",
        "order": "订单详情（退款）",
        "refund": "退款所选数量",
        "refunded": "已退款",
        "partly": "部分退款",
    },
    "en": {
        "nav": "Checkout",
        "committed": "Sale committed: ¥139.70",
        "cash": "Cash",
        "order": "Order (refunds)",
        "refund": "Refund these quantities",
        "refunded": "Refunded",
        "partly": "Partly refunded",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_sale_by_keyboard_with_coupon_points_and_stored_value_then_a_partial_refund(
    page: Page, server: ConsoleServer, lang: str
) -> None:
    words = WORDS[lang]
    who = shopper(server, "1391234770" + ("1" if lang == "zh" else "2"))
    page.context.clear_cookies()
    sign_in(page, CASHIER, PASSWORD)
    if lang == "en":
        page.get_by_role("link", name="English").click()
    page.get_by_role("complementary").get_by_role("link", name=words["nav"]).click()
    expect(page).to_have_url(re.compile(r"/console/checkout$"))

    # The scanner types the member code into the focused box and presses Enter.
    expect(page.get_by_test_id("scan")).to_be_focused()
    page.keyboard.type(member_code(server, who.member_id))
    page.keyboard.press("Enter")
    panel = page.get_by_test_id("till-member")
    expect(panel.locator("[data-part=name]")).to_contain_text("林**")
    expect(panel.locator("[data-part=balance]")).to_have_text("¥500.00")
    expect(panel.locator("[data-part=points]")).to_have_text("1,000")

    # Items by barcode: three of one (quantity typed after Tab), then one of another.
    expect(page.get_by_test_id("new-sku")).to_be_focused()
    page.keyboard.type("6901")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    lines = page.get_by_test_id("till-lines")
    expect(lines.locator("tr[data-sku='6901'] [data-part=list]")).to_have_text("¥149.70")
    expect(page.get_by_test_id("new-sku")).to_be_focused()
    page.keyboard.type("6902")
    page.keyboard.press("Enter")
    expect(lines.locator("tr[data-sku='6902'] [data-part=list]")).to_have_text("¥10.00")
    # The best coupon is taken: ¥159.70 − ¥20.
    coupon = page.get_by_test_id("till-coupons").locator(f"[data-coupon='{who.coupon_code}']")
    expect(coupon.locator("[data-part=discount]")).to_have_text("-¥20.00")
    due = page.get_by_test_id("amount-due")
    expect(due).to_have_text("¥139.70")

    # Points (Alt+P) and stored value (Alt+V): the quote follows each.
    page.keyboard.press("Alt+p")
    expect(page.get_by_test_id("points")).to_be_focused()
    page.keyboard.type("1000")
    page.keyboard.press("Enter")
    expect(due).to_have_text("¥129.70")
    page.keyboard.press("Alt+v")
    expect(page.get_by_test_id("stored-value")).to_be_focused()
    page.keyboard.type("50")
    page.keyboard.press("Enter")
    expect(due).to_have_text("¥79.70")
    totals = page.get_by_test_id("till-totals")
    expect(totals.locator("[data-part=points_discount]")).to_contain_text("-¥10.00")
    expect(totals.locator("[data-part=stored_value]")).to_have_text("-¥50.00")

    # The rest in cash, committed from the keyboard: the receipt.
    page.keyboard.press("Alt+y")
    expect(page.locator("select[name=method]")).to_be_focused()
    expect(page.locator("select[name=method] option:checked")).to_have_text(words["cash"])
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(re.compile(r"/console/checkout/receipts/"))
    expect(page.get_by_role("status")).to_contain_text(words["committed"])
    receipt = page.get_by_test_id("receipt")
    expect(receipt.locator("[data-part=coupon]")).to_have_text("-¥20.00")
    expect(receipt.locator("[data-part=saved]")).to_have_text("¥20.00")
    expect(receipt.locator("[data-part=points]")).to_have_text("¥10.00")
    expect(receipt.locator("[data-part=stored_value]")).to_have_text("¥50.00")
    expect(receipt.locator("[data-part=external]")).to_have_text("¥79.70")
    expect(receipt.locator("[data-part=earned_points]")).to_have_text(re.compile(r"^\+\d"))
    expect(receipt.locator("[data-part=balance]")).to_have_text("¥450.00")
    # The points paid were burned: the balance is what the sale earned.
    earned = receipt.locator("[data-part=earned_points]").inner_text().removeprefix("+")
    expect(receipt.locator("[data-part=points_balance]")).to_have_text(earned)

    # One of the three refunded from the order page.
    page.get_by_test_id("receipt-order").click()
    refund = page.get_by_test_id("refund-form")
    refund.locator("tr[data-sku='6901'] input.qty-input").fill("1")
    refund.get_by_role("button", name=words["refund"], exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(words["refunded"])
    row = page.get_by_test_id("order-lines").locator("tr[data-sku='6901']")
    expect(row.get_by_test_id("refunded-quantity")).to_have_text("1")
    expect(page.get_by_test_id("order-status")).to_have_text(words["partly"])
    # The line gives back exactly its third of the stored value it was paid with.
    with server.sessions.begin() as session:
        line = session.scalars(
            select(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.member_id == who.member_id, OrderLine.sku == "6901")
        ).one()
        account = session.get(StoredValueAccount, who.member_id)
        assert account is not None
        assert line.stored_value > 0
        assert account.principal + account.bonus == 45_000 + line.stored_value // 3


def test_a_scanner_faster_than_the_screen_loses_nothing(page: Page, server: ConsoleServer) -> None:
    page.context.clear_cookies()
    sign_in(page, CASHIER, PASSWORD)
    page.goto("/console/checkout")
    page.keyboard.press("Alt+s")
    # Three barcodes, each with Enter, without waiting for the screen between them.
    for barcode in ("6902", "6902", "6901"):
        page.keyboard.type(barcode)
        page.keyboard.press("Enter")
    lines = page.get_by_test_id("till-lines")
    expect(lines.locator("tr[data-sku='6902'] [data-part=qty]")).to_have_value("2")
    expect(lines.locator("tr[data-sku='6901'] [data-part=qty]")).to_have_value("1")
    expect(page.get_by_test_id("amount-due")).to_have_text("¥69.90")
    expect(page.get_by_test_id("new-sku")).to_be_focused()
    expect(page.get_by_test_id("new-sku")).to_have_value("")

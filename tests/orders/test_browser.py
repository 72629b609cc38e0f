"""The console's order and catalog pages driven in Debian's chromium against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock, ttlcache
from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.models import Member
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.models import OrderChannel, PaymentMethod, Refund
from patron.orders.schemas import OrderCreate, RefundCreate, RefundItemIn
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.conftest import QueryCounter
from tests.factories import PASSWORD, make_member, make_order, make_staff, make_store

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"
MANAGER = "manager.li"
MANAGER_PASSWORD = "manager-password-1"
STORE_A = "SH001"
STORE_B = "BJ001"
STORES = {STORE_A: "上海南京西路店", STORE_B: "北京三里屯店"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    data_dir = tmp_path_factory.mktemp("console-orders")
    with console_server(
        data_dir,
        STORES,
        [
            StaffLogin(ADMIN, ADMIN_PASSWORD, Role.hq_admin),
            StaffLogin(MANAGER, MANAGER_PASSWORD, Role.store_manager, (STORE_A,)),
        ],
    ) as running:
        yield running


def log_in(page: Page, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    sign_in(page, username, password)


def sidebar(page: Page) -> Locator:
    return page.get_by_role("complementary")


def place_order(
    server: ConsoleServer, store_id: int, external_id: str, member_id: int | None = None
) -> int:
    """An order of ¥120.00: 2 × 洗发水 (¥49.90, ¥9.80 off) and 3 × 毛巾 (¥10.00)."""
    data = OrderCreate.model_validate(
        {
            "external_id": external_id,
            "store_id": store_id,
            "channel": OrderChannel.pos,
            "member_id": member_id,
            "occurred_at": clock.now() - timedelta(minutes=1),
            "items": [
                {
                    "sku": "SKU-1",
                    "name": "洗发水",
                    "category_code": "CARE",
                    "quantity": 2,
                    "unit_price": 4990,
                    "discount": 980,
                    "paid": 9000,
                },
                {"sku": "SKU-2", "name": "毛巾", "quantity": 3, "unit_price": 1000, "paid": 3000},
            ],
            "payments": [{"method": PaymentMethod.wechat_pay, "amount": 12000}],
        }
    )
    with server.sessions.begin() as session:
        return orders.create_order(session, SYSTEM, data).id


def line_id(server: ConsoleServer, order_id: int, sku: str) -> int:
    with server.sessions() as session:
        return next(ln.id for ln in orders.lines_of(session, order_id) if ln.sku == sku)


def refund_count(server: ConsoleServer, order_id: int) -> int:
    with server.sessions() as session:
        query = select(func.count()).select_from(Refund).where(Refund.order_id == order_id)
        return session.scalar(query) or 0


def test_refund_part_of_an_order_then_everything(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile="13912345001", name="王小明", store_id=server.store(STORE_A))
        member_id = registration.register_member(session, SYSTEM, data).id
    order_id = place_order(server, server.store(STORE_A), "POS-A-1", member_id)
    log_in(page)
    expect(page.get_by_test_id("sales-today")).to_contain_text("¥")

    sidebar(page).get_by_role("link", name="订单", exact=True).click()
    row = page.locator("tbody tr", has_text="POS-A-1")
    expect(row).to_contain_text("¥120.00")
    expect(row).to_contain_text("已完成")
    expect(row.get_by_role("link", name="王**")).to_have_attribute(
        "href", f"/console/members/{member_id}"
    )
    row.get_by_role("link", name="POS-A-1").click()

    expect(page).to_have_url(re.compile(rf"/console/orders/{order_id}$"))
    expect(page.get_by_test_id("order-refundable")).to_have_text("¥120.00")
    expect(page.get_by_test_id("order-lines")).to_contain_text("¥49.90")
    expect(page.get_by_test_id("refunds")).to_contain_text("暂无退款")

    # Refund one of the two bottles of shampoo: half of what the line paid.
    page.get_by_label("SKU-1 的退款数量").fill("1")
    page.fill("input[name=reason]", "顾客退货")
    page.get_by_role("button", name="退款所选数量").click()
    expect(page).to_have_url(re.compile(rf"/console/orders/{order_id}$"))
    expect(page.get_by_role("status")).to_contain_text("已退款 ¥45.00")
    expect(page.get_by_test_id("order-status")).to_have_text("部分退款")
    expect(page.get_by_test_id("order-refundable")).to_have_text("¥75.00")
    expect(page.get_by_test_id("order-refunded")).to_have_text("¥45.00")
    refunds = page.get_by_test_id("refunds").locator("tbody tr")
    expect(refunds).to_have_count(1)
    expect(refunds.first).to_contain_text("¥45.00")
    expect(refunds.first).to_contain_text("顾客退货")
    expect(refunds.first).to_contain_text("SKU-1")
    expect(refunds.first).to_contain_text(ADMIN)
    shampoo = page.get_by_test_id("order-lines").locator("tr[data-sku='SKU-1']")
    expect(shampoo.get_by_test_id("refunded-quantity")).to_have_text("1")

    page.get_by_role("button", name="全部退款").click()
    expect(page.get_by_role("status")).to_contain_text("已退款 ¥75.00")
    expect(page.get_by_test_id("order-status")).to_have_text("已退款")
    expect(page.get_by_test_id("order-refundable")).to_have_text("¥0.00")
    expect(refunds).to_have_count(2)
    expect(page.get_by_test_id("refund-form")).to_have_count(0)
    expect(page.get_by_text("该订单已全部退款。")).to_be_visible()

    # The member's page lists the order and tells the story in its timeline.
    page.get_by_test_id("order-member").get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}$"))
    recent = page.get_by_test_id("member-orders")
    expect(recent.locator("tbody tr", has_text="POS-A-1")).to_contain_text("已退款")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(f"消费 ¥120.00 @ {STORE_A}")
    expect(timeline).to_contain_text("退款 ¥45.00")
    timeline.get_by_role("link", name="退款 ¥75.00").click()
    expect(page).to_have_url(re.compile(rf"/console/orders/{order_id}$"))
    recent_link = f"/console/orders?member={member_id}"
    page.goto(recent_link)
    expect(page.locator("tbody tr")).to_have_count(1)


def test_refund_that_no_longer_fits_keeps_the_input(page: Page, server: ConsoleServer) -> None:
    order_id = place_order(server, server.store(STORE_A), "POS-A-2")
    log_in(page)
    page.goto(f"/console/orders/{order_id}")
    page.get_by_label("SKU-1 的退款数量").fill("2")
    page.fill("input[name=reason]", "整单退货")
    # Meanwhile the till refunds one bottle.
    shampoo = line_id(server, order_id, "SKU-1")
    with server.sessions.begin() as session:
        refund = RefundCreate(items=[RefundItemIn(line_id=shampoo, quantity=1)])
        orders.refund_order(session, SYSTEM, order_id, refund)
    page.get_by_role("button", name="退款所选数量").click()

    expect(page.get_by_role("alert")).to_contain_text("退款超出订单剩余可退数量")
    expect(page.locator(".field-error")).to_have_text("最多可退 1 件")
    expect(page.get_by_label("SKU-1 的退款数量")).to_have_value("2")
    expect(page.locator("input[name=reason]")).to_have_value("整单退货")
    expect(page.get_by_test_id("order-refundable")).to_have_text("¥75.00")
    assert refund_count(server, order_id) == 1


def test_a_refund_form_sent_twice_refunds_once(page: Page, server: ConsoleServer) -> None:
    order_id = place_order(server, server.store(STORE_A), "POS-A-3")
    shampoo = line_id(server, order_id, "SKU-1")
    log_in(page)
    page.goto(f"/console/orders/{order_id}")
    form = page.get_by_test_id("refund-form")
    fields = {
        "csrf": form.locator("input[name=csrf]").input_value(),
        "refund_key": form.locator("input[name=refund_key]").input_value(),
        f"qty.{shampoo}": "1",
        "reason": "",
        "action": "items",
    }
    url = f"/console/orders/{order_id}/refunds"
    first = page.request.post(url, form=fields)
    assert "已退款 ¥45.00" in first.text()
    second = page.request.post(url, form=fields)
    assert "重复提交未再次退款" in second.text()
    assert refund_count(server, order_id) == 1


def test_create_category_and_product_and_find_it(page: Page) -> None:
    log_in(page)
    sidebar(page).get_by_role("link", name="商品", exact=True).click()
    page.get_by_role("navigation", name="商品目录").get_by_role("link", name="品类").click()
    page.fill("input[name=code]", "BEAUTY")
    page.fill("input[name=name]", "美妆个护")
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text("美妆个护")
    page.fill("input[name=code]", "HAIR")
    page.fill("input[name=name]", "洗护发")
    page.select_option("select[name=parent_id]", label="美妆个护 (BEAUTY)")
    page.get_by_role("button", name="创建").click()
    hair = page.locator("tr[data-code='HAIR']")
    expect(hair).to_have_attribute("data-depth", "1")
    expect(hair).to_contain_text("BEAUTY")

    page.goto("/console/products")
    page.get_by_role("link", name="新建商品").click()
    page.fill("input[name=sku]", "SKU-HAIR-1")
    page.fill("input[name=name]", "无硅油洗发水 500ml")
    page.select_option("select[name=category_id]", label="\u3000洗护发 (HAIR)")
    page.fill("input[name=list_price]", "abc")
    page.fill("input[name=member_price]", "49.9")
    page.get_by_role("button", name="创建").click()
    # A price that is not one is refused beside its field, the other inputs kept.
    expect(page.locator(".field-error")).to_have_text("请输入金额（元），最多两位小数")
    expect(page.locator("input[name=name]")).to_have_value("无硅油洗发水 500ml")
    page.fill("input[name=list_price]", "59.90")
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/products$"))
    expect(page.get_by_role("status")).to_contain_text("无硅油洗发水 500ml")
    row = page.locator("tbody tr", has_text="SKU-HAIR-1")
    expect(row).to_contain_text("¥59.90")
    expect(row).to_contain_text("¥49.90")
    expect(row).to_contain_text("洗护发")
    expect(row).to_contain_text("在售")

    # The parent category finds the product in its child.
    page.select_option("select[name=category]", label="美妆个护 (BEAUTY)")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator("tbody tr", has_text="SKU-HAIR-1")).to_be_visible()

    row = page.locator("tbody tr", has_text="SKU-HAIR-1")
    row.get_by_role("link", name="编辑").click()
    expect(page.locator("input[name=list_price]")).to_have_value("59.90")
    page.fill("input[name=member_price]", "")
    page.select_option("select[name=status]", "inactive")
    page.get_by_role("button", name="保存").click()
    row = page.locator("tbody tr", has_text="SKU-HAIR-1")
    expect(row).to_contain_text("停售")
    expect(row.locator("td").nth(4)).to_have_text("—")

    # The same SKU again is refused, with the input kept.
    page.goto("/console/products/new")
    page.fill("input[name=sku]", "SKU-HAIR-1")
    page.fill("input[name=name]", "重复的商品")
    page.get_by_role("button", name="创建").click()
    expect(page.locator(".field-error")).to_have_text("该编码已被使用")
    expect(page.locator("input[name=name]")).to_have_value("重复的商品")


def test_store_manager_cannot_open_another_stores_order(page: Page, server: ConsoleServer) -> None:
    own = place_order(server, server.store(STORE_A), "POS-A-9")
    other = place_order(server, server.store(STORE_B), "POS-B-9")
    log_in(page, MANAGER, MANAGER_PASSWORD)

    page.goto(f"/console/orders/{other}")
    expect(page.get_by_role("heading", level=2)).to_have_text("页面不存在")
    expect(page.locator("body")).not_to_contain_text("POS-B-9")

    page.goto("/console/orders")
    expect(page.locator("tbody tr", has_text="POS-A-9")).to_be_visible()
    expect(page.locator("tbody")).not_to_contain_text("POS-B-9")
    page.goto(f"/console/orders/{own}")
    expect(page.get_by_role("button", name="全部退款")).to_be_visible()
    # Catalog is read only for a store manager.
    page.goto("/console/products")
    expect(page.get_by_role("link", name="新建商品")).to_have_count(0)
    page.goto("/console/orders/import")
    expect(page.get_by_role("heading", level=2)).to_have_text("没有权限")


def test_order_import_dry_run_then_real_run(page: Page) -> None:
    csv = (
        "门店编码,订单号,下单时间,商品编码,商品名称,数量,单价,优惠,实付,支付方式\n"
        f"{STORE_A},IMP-1,2025-06-18 10:00:00,SKU-9,杯子,2,10,0,20,微信\n"
        f"{STORE_A},IMP-1,2025-06-18 10:00:00,SKU-8,碗,1,5,0,5,现金\n"
        f"{STORE_A},IMP-2,2025-06-18 11:00:00,SKU-9,杯子,1,10,0,99,现金\n"
    ).encode()
    upload = {"name": "orders.csv", "mimeType": "text/csv", "buffer": csv}
    log_in(page)
    page.goto("/console/orders")
    page.get_by_role("link", name="导入订单").first.click()
    expect(page.get_by_label("试运行（只校验，不写入）")).to_be_checked()
    page.set_input_files("input[name=file]", files=[upload])
    page.get_by_role("button", name="上传").click()
    expect(page).to_have_url(re.compile(r"/console/orders/import/\d+$"))
    expect(page.get_by_test_id("import-report")).to_contain_text("试运行，未写入")
    expect(page.get_by_test_id("report-rows")).to_have_text("3")
    expect(page.get_by_test_id("report-created")).to_have_text("1")
    expect(page.get_by_test_id("report-lines")).to_have_text("2")
    error_row = page.get_by_test_id("import-errors").locator("tbody tr")
    expect(error_row).to_have_count(1)
    expect(error_row).to_contain_text("实付须等于 数量 × 单价 − 优惠")

    page.get_by_label("试运行（只校验，不写入）").uncheck()
    page.set_input_files("input[name=file]", files=[upload])
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_test_id("import-report")).to_contain_text("已导入")
    page.goto("/console/orders")
    row = page.locator("tbody tr", has_text="IMP-1")
    expect(row).to_contain_text("¥25.00")
    expect(row).to_contain_text("2025年6月18日 10:00")


def test_order_pages_make_no_query_per_row(
    client: TestClient,
    session: Session,
    count_queries: QueryCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not in the browser: the order list, an order and a member page through the test client,
    counting queries as orders, members and refunds are added. The per-process caches are kept
    from expiring (their 5 seconds can pass between two pages on a busy machine)."""
    monkeypatch.setattr(ttlcache, "seconds", lambda: 1000.0)
    admin = make_staff(session, Role.hq_admin)
    store = make_store(session)
    member = make_member(session, store)
    login = {"username": admin.username, "password": PASSWORD}
    assert client.post("/console/login", data=login, follow_redirects=False).status_code == 303

    def place(buyer: Member, refunds: int) -> int:
        order = make_order(session, store, buyer)
        for line in orders.lines_of(session, order.id)[:refunds]:
            item = RefundItemIn(line_id=line.id, quantity=1)
            orders.refund_order(session, SYSTEM, order.id, RefundCreate(items=[item]))
        return order.id

    def queries_for(*paths: str) -> list[int]:
        counts = []
        for path in paths:
            count_queries.count = 0
            assert client.get(path).status_code == 200
            counts.append(count_queries.count)
        return counts

    first = place(member, 1)
    few = queries_for(
        "/console/orders", f"/console/orders/{first}", f"/console/members/{member.id}"
    )
    for _ in range(4):
        last = place(member, 2)
        place(make_member(session, store), 0)
    many = queries_for(
        "/console/orders", f"/console/orders/{last}", f"/console/members/{member.id}"
    )
    assert many == few

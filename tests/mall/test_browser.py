"""The mall in Debian's chromium against a real server: HQ creates an item in the console
(Chinese), a cashier hands over a pick-up (English); a member redeems on /m/mall at a phone's
viewport (360×740), in Chinese with a pick-up store and in English with a delivery address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from patron.core.actor import SYSTEM, Role
from patron.core.security import issue_member_token
from patron.mall import items, redemption
from patron.mall.models import MallRedemption
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.points import grants
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.mall"
CASHIER = "cashier.mall"
PASSWORDS = {MARKETING: "marketing-password-9", CASHIER: "cashier-password-9"}
STORE = "SH001"
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-mall"),
        {STORE: "上海南京西路店"},
        [
            StaffLogin(MARKETING, PASSWORDS[MARKETING], Role.hq_marketing),
            StaffLogin(CASHIER, PASSWORDS[CASHIER], Role.cashier, (STORE,)),
        ],
    ) as running:
        yield running


def log_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    sign_in(page, username, PASSWORDS[username])


def member_with_points(server: ConsoleServer, mobile: str, points: int) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="林晓", store_id=server.store(STORE))
        member_id = registration.register_member(session, SYSTEM, data).id
        grants.grant_points(
            session, SYSTEM, member_id, points, reason="test", store_id=None, source_ref="t:1"
        )
        return member_id


def test_hq_creates_an_item_and_a_cashier_hands_it_over(page: Page, server: ConsoleServer) -> None:
    log_in(page, MARKETING)
    page.get_by_role("complementary").get_by_role("link", name="积分商城").click()
    page.get_by_role("link", name="新建商品").click()
    page.select_option("select[name=kind]", "product")
    page.fill("input[name=name]", "保温杯")
    page.fill("input[name=name_en]", "Thermos")
    page.fill("input[name=points_price]", "500")
    page.fill("input[name=stock]", "10")
    page.fill("input[name=per_member_limit]", "1")
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text("已创建商城商品 保温杯")
    expect(page.get_by_test_id("mall-items")).to_contain_text("保温杯")

    member_id = member_with_points(server, "13912348801", 1000)
    with server.sessions.begin() as session:
        item_id = items.list_items(session, None, 1).items[0].id
        made = redemption.redeem(
            session,
            SYSTEM,
            member_id,
            item_id,
            1,
            redemption.Delivery("pickup", server.store(STORE)),
        ).id

    log_in(page, CASHIER)
    page.goto("/console/mall/redemptions")
    page.get_by_role("link", name="English").click()
    row = page.locator(f"tr[data-redemption='{made}']")
    expect(row).to_contain_text("Waiting")
    row.get_by_role("button", name="Hand over").click()
    expect(page.get_by_role("status")).to_contain_text(f"Redemption #{made} handed over")
    expect(page.locator(f"tr[data-redemption='{made}']")).to_contain_text("Handed over")


@pytest.fixture
def phone(browser: Browser, server: ConsoleServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport=PHONE, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def as_member(page: Page, server: ConsoleServer, member_id: int, lang: str) -> None:
    token = issue_member_token(server.secret_key, member_id, timedelta(hours=1)).token
    page.context.add_cookies(
        [
            {"name": "patron_member", "value": token, "url": server.url},
            {"name": "lang", "value": lang, "url": server.url},
        ]
    )


def items_for_members(server: ConsoleServer) -> tuple[int, int]:
    with server.sessions.begin() as session:
        pickup = items.save_item(
            session,
            SYSTEM,
            {
                "kind": "product",
                "name": "雨伞",
                "name_en": "Umbrella",
                "points_price": 300,
                "fulfilment": ["pickup"],
            },
        ).id
        parcel = items.save_item(
            session,
            SYSTEM,
            {
                "kind": "product",
                "name": "毛毯",
                "name_en": "Blanket",
                "points_price": 400,
                "fulfilment": ["delivery"],
            },
        ).id
        items.save_item(
            session,
            SYSTEM,
            {
                "kind": "product",
                "name": "咖啡机",
                "name_en": "Coffee machine",
                "points_price": 90000,
                "fulfilment": ["delivery"],
            },
        )
        return pickup, parcel


def test_a_member_redeems_on_the_phone_in_chinese_and_in_english(
    phone: Page, server: ConsoleServer
) -> None:
    pickup, parcel = items_for_members(server)
    zh = member_with_points(server, "13912348802", 1000)
    as_member(phone, server, zh, "zh")
    phone.goto("/m/mall")
    expect(phone.get_by_test_id("mall-points")).to_contain_text("1,000")
    card = phone.locator(f"a[data-item='{pickup}']")
    expect(card).to_have_class(re.compile("affordable"))
    expect(phone.locator("a.mall-card", has_text="咖啡机")).to_have_class(re.compile("out"))
    card.click()
    phone.select_option("select[name=store_id]", str(server.store(STORE)))
    phone.get_by_role("button", name=re.compile("立即兑换")).click()
    expect(phone.get_by_test_id("mall-done")).to_have_text("兑换成功！")
    expect(phone.get_by_test_id("mall-redemptions")).to_contain_text("雨伞")
    expect(phone.get_by_test_id("mall-redemptions")).to_contain_text("待领取")
    # The tabs stay on screen at the phone's width.
    expect(phone.get_by_role("navigation").get_by_role("link", name="积分商城")).to_be_visible()

    phone.context.clear_cookies()
    en = member_with_points(server, "13912348803", 1000)
    as_member(phone, server, en, "en")
    phone.goto(f"/m/mall/{parcel}")
    phone.get_by_role("button", name="Redeem for 400 points").click()
    expect(phone.get_by_test_id("mall-error")).to_be_visible()
    phone.fill("input[name=recipient_name]", "Zhang San")
    phone.fill("input[name=recipient_mobile]", "13800000000")
    phone.fill("input[name=address]", "1 Nanjing West Road, Shanghai")
    phone.get_by_role("button", name="Redeem for 400 points").click()
    expect(phone.get_by_test_id("mall-done")).to_have_text("Redeemed!")
    expect(phone.get_by_test_id("mall-redemptions")).to_contain_text("Blanket")
    expect(phone.get_by_test_id("mall-redemptions")).to_contain_text("Delivery")
    with server.sessions() as session:
        found = session.query(MallRedemption).filter_by(member_id=en).one()
        assert found.address == "1 Nanjing West Road, Shanghai"

"""The member page's profile card (会员画像) in Debian's chromium against a real server: a
member with orders in two stores, refreshed, shows lifecycle, RFM class, spend, preferred stores
and categories, in Chinese and in English; a member no refresh has seen shows live facts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.profiles import service as profiles
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.lin"
PASSWORD = "marketing-password-7"
STORE, OTHER_STORE = "SH001", "BJ001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-profiles"),
        {STORE: "上海南京西路店", OTHER_STORE: "北京国贸店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        yield running


def member_with_orders(server: ConsoleServer, mobile: str, refresh: bool = True) -> int:
    now = clock.now()
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="王芳", store_id=server.store(STORE))
        member_id = registration.register_member(session, SYSTEM, data).id
        for days, store, fen in ((40, STORE, 30_000), (10, STORE, 12_000), (5, OTHER_STORE, 8_000)):
            body = {
                "external_id": f"POS-P-{member_id}-{days}",
                "store_id": server.store(store),
                "channel": "pos",
                "member_id": member_id,
                "occurred_at": (now - timedelta(days=days)).isoformat(),
                "items": [
                    {
                        "sku": "SKU-MILK",
                        "name": "婴儿奶粉",
                        "category_code": "MATERNAL",
                        "quantity": 1,
                        "unit_price": fen,
                        "paid": fen,
                    }
                ],
                "payments": [{"method": "wechat_pay", "amount": fen}],
            }
            orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
        if refresh:
            profiles.refresh(session, now)
    return member_id


def test_the_profile_card_in_chinese_and_english(page: Page, server: ConsoleServer) -> None:
    member_id = member_with_orders(server, "13912347701")
    sign_in(page, MARKETING, PASSWORD)
    page.goto(f"/console/members/{member_id}")
    card = page.get_by_test_id("member-portrait")
    expect(card).to_contain_text("会员画像")
    expect(card.get_by_test_id("portrait-lifecycle")).to_have_text("活跃")
    expect(card.get_by_test_id("portrait-rfm")).to_have_text("一般挽留")  # the only one scored
    expect(card.get_by_test_id("portrait-orders")).to_have_text("3 / 3")
    expect(card.get_by_test_id("portrait-monetary")).to_contain_text("500.00")
    expect(card).to_contain_text(STORE)
    expect(card).to_contain_text(OTHER_STORE)
    expect(card).to_contain_text("画像计算于")

    page.get_by_role("link", name="English").click()
    card = page.get_by_test_id("member-portrait")
    expect(card).to_contain_text("Customer profile")
    expect(card.get_by_test_id("portrait-lifecycle")).to_have_text("Active")
    expect(card.get_by_test_id("portrait-rfm")).to_have_text("General win-back")
    expect(card).to_contain_text("Preferred stores")
    expect(card).to_contain_text("Profile computed")


def test_a_member_not_refreshed_yet_shows_live_facts(page: Page, server: ConsoleServer) -> None:
    member_id = member_with_orders(server, "13912347702", refresh=False)
    sign_in(page, MARKETING, PASSWORD)
    page.goto(f"/console/members/{member_id}")
    card = page.get_by_test_id("member-portrait")
    expect(card.get_by_test_id("portrait-orders")).to_have_text("3 / 3")
    expect(card).to_contain_text("画像尚未计算")

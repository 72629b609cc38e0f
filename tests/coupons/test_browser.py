"""The console's coupon screens in Debian's chromium against a real server: a 满100减20 designed
with the live preview, activated, issued to a member by pasting their mobile, and seen on the
member's page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from patron.core.actor import SYSTEM, Role
from patron.coupons.models import CouponTemplate
from patron.members import registration
from patron.members.schemas import MemberCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.zhou"
CASHIER = "cashier.wu"
PASSWORDS = {MARKETING: "marketing-password-2", CASHIER: "cashier-password-2"}
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-coupons"),
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


def register(server: ConsoleServer, mobile: str) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="林晓", store_id=server.store(STORE))
        return registration.register_member(session, SYSTEM, data).id


def preview(page: Page) -> Locator:
    return page.get_by_test_id("coupon-preview")


def test_a_cash_off_coupon_designed_issued_by_mobile_and_seen_on_the_member(
    page: Page, server: ConsoleServer
) -> None:
    mobile = "13912346601"
    member_id = register(server, mobile)
    log_in(page, MARKETING)
    page.get_by_role("complementary").get_by_role("link", name="优惠券").click()
    expect(page).to_have_url(re.compile(r"/console/coupons$"))
    page.get_by_role("link", name="新建优惠券").click()

    # The preview follows the form as it is typed.
    page.fill("input[name=name]", "满100减20")
    expect(preview(page).locator("[data-part=name]")).to_have_text("满100减20")
    page.fill("input[name=threshold]", "100")
    page.fill("input[name=amount]", "20")
    expect(preview(page).locator("[data-part=value]")).to_have_text("¥20")
    expect(preview(page).locator("[data-part=kind]")).to_have_text("满减券")
    expect(preview(page).locator("[data-part=conditions]")).to_have_text("满100可用")
    page.fill("input[name=valid_days]", "30")
    expect(preview(page).locator("[data-part=validity]")).to_have_text("领取后 30 天内有效")
    page.fill("input[name=store_codes]", STORE)
    expect(preview(page).locator("[data-part=scope]")).to_have_text(f"限门店 {STORE}")

    # Another type shows its own inputs and its own value; fixed dates theirs.
    page.get_by_label("折扣券").check()
    expect(page.locator("input[name=amount]")).to_be_hidden()
    page.fill("input[name=percent_off]", "15")
    expect(preview(page).locator("[data-part=value]")).to_have_text("8.5折")
    page.get_by_label("满减券").check()
    expect(page.locator("input[name=percent_off]")).to_be_hidden()
    expect(preview(page).locator("[data-part=value]")).to_have_text("¥20")
    page.get_by_label("固定日期").check()
    expect(page.locator("input[name=valid_days]")).to_be_hidden()
    expect(page.locator("input[name=valid_until]")).to_be_visible()
    page.get_by_label("领取后若干天").check()
    expect(page.locator("input[name=valid_until]")).to_be_hidden()

    page.get_by_role("button", name="保存草稿").click()
    expect(page).to_have_url(re.compile(r"/console/coupons/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("优惠券“满100减20”已保存为草稿")
    card = page.get_by_test_id("coupon-card")
    expect(card.locator("[data-part=value]")).to_have_text("¥20")
    expect(card.locator("[data-part=conditions]")).to_have_text("满100可用")
    expect(card.locator("[data-part=validity]")).to_have_text("领取后 30 天内有效")
    expect(page.get_by_role("button", name="发放")).to_have_count(0)

    page.get_by_test_id("template-moves").get_by_role("button", name="启用").click()
    expect(page.get_by_role("status")).to_contain_text("优惠券“满100减20”已启用")
    page.get_by_role("link", name="发放").click()
    page.fill("textarea[name=recipients]", f"{mobile}\n13900000000\n")
    page.get_by_role("button", name="发放优惠券").click()
    result = page.get_by_test_id("issue-result")
    expect(result.get_by_test_id("issued-count")).to_have_text("1")
    expect(result.get_by_test_id("issue-refused")).to_contain_text("13900000000")
    expect(result.get_by_test_id("issue-refused")).to_contain_text("没有这个会员")

    page.goto(f"/console/members/{member_id}")
    held = page.get_by_test_id("member-coupons").get_by_test_id("coupon-card")
    expect(held).to_have_count(1)
    expect(held.locator("[data-part=name]")).to_have_text("满100减20")
    expect(held.locator("[data-part=value]")).to_have_text("¥20")
    expect(held.locator("[data-part=conditions]")).to_have_text("满100可用")
    expect(held.locator(".status")).to_have_text("可用")
    with server.sessions() as session:
        (template,) = session.query(CouponTemplate).filter_by(name="满100减20").all()
        assert (template.threshold, template.amount, template.issued_count) == (10000, 2000, 1)
        assert template.scope["store_ids"] == [server.store(STORE)]


def test_the_preview_speaks_english_and_a_cashier_cannot_design(
    page: Page, server: ConsoleServer
) -> None:
    log_in(page, MARKETING)
    page.goto("/console/coupons/new")
    page.get_by_role("link", name="English").click()
    page.get_by_label("Percent-off").check()
    page.fill("input[name=percent_off]", "20")
    page.fill("input[name=max_discount]", "50")
    expect(preview(page).locator("[data-part=value]")).to_have_text("20% off")
    expect(preview(page).locator("[data-part=conditions] span")).to_have_text(
        ["No minimum spend", "up to ¥50 off"]
    )

    log_in(page, CASHIER)
    page.goto("/console/coupons/new")
    expect(page.get_by_role("heading", level=2)).to_have_text("没有权限")


def card_texts(card: Locator) -> dict[str, list[str]]:
    """What a card says, part by part (each condition and scope phrase apart)."""
    parts = {
        name: [card.locator(f"[data-part={name}]").inner_text()]
        for name in ("value", "kind", "name", "validity")
    }
    for name in ("conditions", "scope"):
        parts[name] = card.locator(f"[data-part={name}] span").all_inner_texts()
    return parts


@pytest.mark.parametrize(
    ("kind", "inputs"),
    [
        ("折扣券", {"percent_off": "12", "max_discount": "30.5", "threshold": "199"}),
        (
            "兑换券",
            {"gift_sku": "MASK-01", "threshold": "0", "exclude_skus": "GIFT-CARD, GC-2"},
        ),
        ("运费券", {"amount": "8", "skus": "SKU-1\nSKU-2"}),
        ("代金券", {"amount": "1,000.50", "valid_days": "1"}),
        ("满减券", {"amount": "20", "valid_from": "2026-12-01", "valid_until": "2027-01-15"}),
    ],
)
def test_the_preview_is_the_card_the_server_draws(
    page: Page, server: ConsoleServer, kind: str, inputs: dict[str, str]
) -> None:
    """The designer's script and coupon_view.py say the same: the preview before saving is the
    card on the saved template's page."""
    log_in(page, MARKETING)
    page.goto("/console/coupons/new")
    page.fill("input[name=name]", f"预览一致 {kind}")
    page.get_by_label(kind, exact=True).check()
    if "valid_until" in inputs:
        page.get_by_label("固定日期").check()
    for name, value in inputs.items():
        page.fill(f"[name={name}]", value)
    page.check("input[name=exclude_channels][value=delivery]")
    previewed = card_texts(preview(page))
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_role("status")).to_contain_text("已保存为草稿")
    assert card_texts(page.get_by_test_id("coupon-card")) == previewed

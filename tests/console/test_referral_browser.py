"""Referrals in Debian's chromium against a real server: HQ marketing sets the program and reads
the report in Chinese and English; a member opens /m/invite on a phone (360x740) in both
languages, sees their code, its QR symbol and the friends they invited, and copies the link."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from patron.console.web import LANG_COOKIE
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.security import issue_member_token
from patron.member_page.web import MEMBER_COOKIE
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.referrals import rewards, service
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.lin"
PASSWORD = "marketing-password-7"
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-referrals"),
        {STORE: "上海南京西路店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        yield running


def register(server: ConsoleServer, mobile: str) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="李娜", store_id=server.store(STORE))
        return registration.register_member(session, SYSTEM, data).id


def invite_and_buy(server: ConsoleServer, referrer_id: int, mobile: str, buy: bool) -> None:
    invitee_id = register(server, mobile)
    with server.sessions.begin() as session:
        service.record_invite(session, invitee_id, service.code_of(session, referrer_id))
    if not buy:
        return
    body = {
        "external_id": f"POS-REF-{invitee_id}",
        "store_id": server.store(STORE),
        "channel": "pos",
        "member_id": invitee_id,
        "occurred_at": clock.now().isoformat(),
        "items": [
            {"sku": "SKU-1", "name": "围巾", "quantity": 1, "unit_price": 9900, "paid": 9900}
        ],
        "payments": [{"method": "wechat_pay", "amount": 9900}],
    }
    with server.sessions.begin() as session:
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
        rewards.run(session, clock.now())


_runs = itertools.count(10)


@pytest.fixture
def referrer(server: ConsoleServer) -> int:
    """A referrer with two friends, one rewarded, one awaiting a first order: made in each test
    (the PII key is set anew for each)."""
    run = next(_runs)
    member_id = register(server, f"139123{run:02d}700")
    invite_and_buy(server, member_id, f"139123{run:02d}701", buy=True)
    invite_and_buy(server, member_id, f"139123{run:02d}702", buy=False)
    return member_id


def test_hq_sets_the_program_and_reads_the_report_in_chinese(
    page: Page, server: ConsoleServer, referrer: int
) -> None:
    sign_in(page, MARKETING, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="推荐有礼").click()
    expect(page).to_have_url(re.compile(r"/console/referrals$"))
    report = page.get_by_test_id("referral-report")
    expect(report.get_by_test_id("figure-invites")).to_have_text("2")
    expect(report.get_by_test_id("figure-rewarded")).to_have_text("1")
    expect(report.get_by_test_id("figure-points")).to_have_text("300")
    expect(report.get_by_test_id("top-referrers")).to_contain_text("139****0700")
    form = page.get_by_test_id("referral-program-form")
    form.locator("input[name=referrer_points]").fill("")
    form.locator("input[name=referrer_points]").fill("800")
    form.locator("input[name=monthly_cap]").fill("-1")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("alert")).to_contain_text("请检查并更正标出的内容")
    form = page.get_by_test_id("referral-program-form")
    form.locator("input[name=monthly_cap]").fill("5")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("推荐有礼设置已保存")
    expect(
        page.get_by_test_id("referral-program-form").locator("input[name=referrer_points]")
    ).to_have_value("800")


def test_the_report_in_english(page: Page, server: ConsoleServer, referrer: int) -> None:
    page.context.add_cookies([{"name": LANG_COOKIE, "value": "en", "url": server.url}])
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/referrals")
    expect(page.get_by_role("heading", name="Referral report")).to_be_visible()
    expect(page.get_by_test_id("figure-pending")).to_have_text("2")  # this test's and the last's
    with page.expect_download() as download:
        page.get_by_test_id("referral-csv").click()
    assert download.value.suggested_filename.startswith("referrals-")


@pytest.mark.parametrize(
    ("lang", "title", "copied", "pending"),
    [
        ("zh", "邀请有礼", "已复制", "待首单"),
        ("en", "Invite friends", "Copied", "Awaiting first order"),
    ],
)
def test_the_invite_page_on_a_phone(
    browser: Browser,
    server: ConsoleServer,
    referrer: int,
    lang: str,
    title: str,
    copied: str,
    pending: str,
) -> None:
    token = issue_member_token(server.secret_key, referrer, timedelta(hours=1)).token
    context = browser.new_context(
        base_url=server.url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    context.set_default_timeout(10_000)
    try:
        context.add_cookies(
            [
                {"name": MEMBER_COOKIE, "value": token, "url": server.url},
                {"name": LANG_COOKIE, "value": lang, "url": server.url},
            ]
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto("/m/invite")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        code = page.get_by_test_id("invite-code")
        expect(code).to_have_text(re.compile(r"^[2-9A-HJKMNP-Z]{6}$"))
        expect(page.get_by_test_id("invite-link")).to_have_value(
            re.compile(r"/m/login\?invite=[2-9A-Z]{6}$")
        )
        expect(page.get_by_test_id("invite-qr").locator("svg")).to_be_visible()
        friends = page.get_by_test_id("invitees")
        expect(friends.locator("li")).to_have_count(2)
        expect(friends).to_contain_text("702")
        expect(friends).to_contain_text(pending)
        expect(friends).to_contain_text(re.compile(r"\+\d+"))
        page.get_by_role(
            "button", name="Copy invite link" if lang == "en" else "复制邀请链接"
        ).click()
        expect(page.get_by_role("status")).to_contain_text(copied)
        # Nothing wider than the phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360
        expect(page.locator("nav.m-tabs a.active")).to_have_attribute("href", "/m/invite")
        assert errors == []
    finally:
        context.close()

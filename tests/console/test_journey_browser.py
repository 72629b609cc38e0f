"""The journeys screens in Debian's chromium against a real server: HQ marketing builds a welcome
journey (新客礼: member registered → issue a coupon → exit) from the editor's step buttons,
activates it, a new member registers at the console's form, the journeys advance, and the flow view counts the
member's entry and the coupon step; in Chinese and in English. The report's charts are drawn
by the vendored ECharts under the console's CSP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.journeys import jobs
from patron.members import registration
from patron.members.schemas import MemberCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in
from tests.factories import make_coupon_template

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.journeys"
PASSWORD = "marketing-password-7"
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-journeys"),
        {STORE: "上海南京西路店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        yield running


@pytest.fixture(scope="module")
def coupon(server: ConsoleServer) -> str:
    with server.sessions.begin() as session:
        return make_coupon_template(session, name="新客礼 满100减20").name


def advance(server: ConsoleServer) -> None:
    """The journeys' minute job: entries that are due walk their steps."""
    with server.sessions.begin() as session:
        jobs.advance(session, clock.now())


def register_and_advance(server: ConsoleServer, mobile: str) -> None:
    """A member registers through the service (the journeys' trigger enters them)."""
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="新会员", store_id=server.store(STORE))
        registration.register_member(session, SYSTEM, data)
    advance(server)


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", watch)
    return errors


def test_a_welcome_journey_fires_for_a_new_member(
    page: Page, server: ConsoleServer, coupon: str
) -> None:
    page_errors = watch_errors(page)
    sign_in(page, MARKETING, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="营销旅程").click()
    expect(page.get_by_test_id("journey-list")).to_contain_text("还没有旅程")
    page.get_by_role("link", name="新建旅程").click()

    form = page.get_by_test_id("journey-form")
    form.locator("input[name=name]").fill("新客礼")
    expect(form.locator("select[name=trigger_event]")).to_have_value("member.registered")
    # Settings the chosen trigger does not take are hidden.
    expect(form.locator("input[name=trigger_days]")).to_be_hidden()
    form.locator("input[name=control_percent]").fill("0")
    form.get_by_role("button", name="发券", exact=True).click()
    step = page.get_by_test_id("journey-step")
    expect(step).to_have_count(1)
    expect(step).to_contain_text("s1")
    # The add button re-rendered the form with what was typed.
    expect(form.locator("input[name=name]")).to_have_value("新客礼")
    form.get_by_role("button", name="结束", exact=True).click()
    expect(step).to_have_count(2)
    form.locator("select[name=steps-0-template_id]").select_option(label=coupon)
    form.get_by_role("button", name="创建").click()

    expect(page.get_by_role("status")).to_contain_text("旅程“新客礼”已创建")
    expect(page.get_by_test_id("journey-status")).to_have_text("草稿")
    flow = page.get_by_test_id("journey-flow")
    expect(flow.locator('[data-step="s1"]')).to_contain_text(coupon)
    expect(flow.locator('[data-step="s1"]')).to_contain_text("尚未执行")
    expect(flow.locator("path.flow-arrow")).to_have_count(2)

    page.get_by_role("button", name="启用").click()
    expect(page.get_by_role("status")).to_contain_text("旅程“新客礼”已启用")
    expect(page.get_by_test_id("journey-status")).to_have_text("运行中")

    journey_url = page.url
    # A new member registers at the console's own form; then the journeys' minute job runs.
    page.goto("/console/members/new")
    page.fill("input[name=mobile]", "139 1234 8801")
    page.fill("input[name=name]", "新会员")
    page.select_option("select[name=store_id]", label=f"{STORE} · 上海南京西路店")
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("已登记")
    advance(server)
    page.goto(journey_url)
    flow = page.get_by_test_id("journey-flow")
    expect(flow.locator('[data-step="_start"]')).to_contain_text("已进入 1")
    expect(flow.locator('[data-step="s1"] [data-testid=flow-counts]')).to_have_text("完成 1")
    expect(flow.locator('[data-step="s2"] [data-testid=flow-counts]')).to_have_text("完成 1")
    expect(page.get_by_test_id("journey-entry-count")).to_have_text("1")
    expect(page.get_by_test_id("treated-members")).to_have_text("1")
    expect(page.get_by_test_id("treated-cost")).to_contain_text("券 1")
    expect(page.get_by_test_id("treated-redemptions")).to_have_text("0")
    expect(page.get_by_test_id("export-csv")).to_have_text("导出报告 CSV")
    expect(page.get_by_test_id("journey-versions")).to_have_count(0)  # one version
    entries = page.get_by_test_id("journey-entries").locator("tbody tr")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text("已走完")
    expect(page.locator("#journey-groups-chart canvas")).to_have_count(1)
    expect(page.locator("#journey-uplift-chart canvas")).to_have_count(1)

    page.get_by_role("complementary").get_by_role("link", name="营销旅程").click()
    row = page.get_by_test_id("journey-list").locator("tbody tr", has_text="新客礼")
    expect(row.get_by_test_id("journey-entries")).to_have_text("1")
    expect(row).to_contain_text("运行中")
    assert page_errors == []


def test_the_same_in_english(page: Page, server: ConsoleServer, coupon: str) -> None:
    page_errors = watch_errors(page)
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/journeys")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="New journey").click()
    form = page.get_by_test_id("journey-form")
    form.locator("input[name=name]").fill("Welcome gift")
    form.locator("input[name=control_percent]").fill("0")
    form.get_by_role("button", name="Issue coupon", exact=True).click()
    expect(page.get_by_test_id("journey-step")).to_have_count(1)
    # The browser holds the form back until a coupon is chosen.
    form.get_by_role("button", name="Create").click()
    select = form.locator("select[name=steps-0-template_id]")
    expect(select).to_have_attribute("required", "")
    select.select_option(label=coupon)
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Journey “Welcome gift” created")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_test_id("journey-status")).to_have_text("Active")

    register_and_advance(server, "13912348802")
    page.reload()
    flow = page.get_by_test_id("journey-flow")
    expect(flow.locator('[data-step="_start"]')).to_contain_text("1 entered")
    expect(flow.locator('[data-step="s1"]')).to_contain_text("Issue coupon")
    expect(flow.locator('[data-step="s1"] [data-testid=flow-counts]')).to_have_text("Done 1")
    expect(page.get_by_test_id("treated-redemptions")).to_have_text("0")
    with page.expect_download() as sheet:
        page.get_by_role("link", name="Report as Excel").click()
    assert sheet.value.suggested_filename.endswith(".xlsx")

    # A change with a member inside is version 2; the picker shows version 1's flow.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_test_id("journey-form").locator("input[name=control_percent]").fill("5")
    page.get_by_role("button", name="Save", exact=True).last.click()
    versions = page.get_by_test_id("journey-versions")
    expect(versions.get_by_role("link", name="v2")).to_have_attribute("aria-current", "page")
    versions.get_by_role("link", name="v1").click()
    expect(page.get_by_test_id("journey-older-version")).to_contain_text("Version 1")
    expect(flow.locator('[data-step="s1"] [data-testid=flow-counts]')).to_have_text("Done 1")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Journey “Welcome gift” paused")
    expect(page.get_by_test_id("journey-status")).to_have_text("Paused")
    assert page_errors == []

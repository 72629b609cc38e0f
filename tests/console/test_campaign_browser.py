"""The campaigns screens in Debian's chromium against a real server: HQ marketing walks the wizard
(a saved segment with its live count, a coupon, the control share, now, the review with the
expected cost) and creates and launches a campaign in Chinese; in English a rule audience with
points is saved as a draft and launched from its page; a finished campaign's report draws its
uplift chart (the vendored ECharts, under the console's CSP) and exports as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from patron.campaigns import launch
from patron.campaigns.models import Campaign
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.coupons import templates
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.segments import service as segments
from patron.segments.schemas import SegmentIn
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.campaigns"
PASSWORD = "marketing-password-8"
STORE = "SH001"
OTHER_STORE = "BJ001"
SEGMENT = "上海会员"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-campaigns"),
        {STORE: "上海南京西路店", OTHER_STORE: "北京国贸店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        with running.sessions.begin() as session:
            templates.create_template(
                session,
                SYSTEM,
                {
                    "name": "满100减20",
                    "type": "cash_off",
                    "status": "active",
                    "threshold": 10000,
                    "amount": 2000,
                    "valid_days": 30,
                },
            )
        yield running


def register(server: ConsoleServer, count: int, prefix: str, store: str = STORE) -> None:
    with server.sessions.begin() as session:
        for n in range(count):
            data = MemberCreate(
                mobile=f"{prefix}{n:03d}", name="王芳", store_id=server.store(store)
            )
            registration.register_member(session, SYSTEM, data)


def _watch(page: Page) -> list[str]:
    errors: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", watch)
    return errors


def _finish(server: ConsoleServer) -> None:
    """Treat whatever launch queued (the test server's queue may not have run it yet)."""
    with server.sessions.begin() as session:
        running = [c.id for c in session.query(Campaign).filter(Campaign.status == "running")]
    for campaign_id in running:
        launch.run(campaign_id, server.sessions)


def test_create_and_launch_a_campaign(page: Page, server: ConsoleServer) -> None:
    page_errors = _watch(page)
    register(server, 20, "13912348")
    with server.sessions.begin() as session:
        segments.create(
            session, SYSTEM, SegmentIn(name=SEGMENT, rule=f'store = "{STORE}"'), clock.now()
        )
    sign_in(page, MARKETING, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="营销活动").click()
    expect(page.get_by_test_id("campaign-list")).to_contain_text("还没有营销活动")
    page.get_by_role("link", name="新建活动").click()

    form = page.get_by_test_id("campaign-form")
    form.locator("input[name=name]").fill("沉睡唤醒 · 三月")
    form.locator("select[name=segment_id]").select_option(label=SEGMENT)
    expect(page.get_by_test_id("campaign-audience-count")).to_have_text("当前匹配 20 位会员")
    form.get_by_role("button", name="下一步").click()
    form.get_by_label("发放优惠券").check()
    form.locator("select[name=coupon_template_id]").select_option(label="满100减20")
    form.get_by_role("button", name="下一步").click()
    expect(form.locator("input[name=control_percent]")).to_have_value("10")
    form.get_by_role("button", name="下一步").click()
    expect(form.get_by_label("立即发布")).to_be_checked()
    form.get_by_role("button", name="下一步").click()
    review = page.get_by_test_id("campaign-review")
    expect(review.get_by_test_id("review-audience")).to_have_text("20")
    expect(review.get_by_test_id("review-cost")).to_contain_text("券")
    form.get_by_role("button", name="创建并发布").click()

    expect(page.get_by_role("status")).to_contain_text("活动“沉睡唤醒 · 三月”已发布")
    expect(page.get_by_test_id("campaign-audience")).to_have_text("20")
    _finish(server)
    page.reload()
    expect(page.get_by_test_id("campaign-status")).to_have_text("已完成")
    outcomes = page.get_by_test_id("campaign-outcomes")
    expect(outcomes.locator("tr[data-outcome=done]")).to_contain_text("发放优惠券")
    expect(page.get_by_test_id("report-treated-members")).not_to_have_text("0")
    expect(page.locator("#campaign-uplift-chart canvas")).to_have_count(1)
    page.get_by_role("complementary").get_by_role("link", name="营销活动").click()
    expect(page.get_by_test_id("campaign-list")).to_contain_text("沉睡唤醒 · 三月")
    assert page_errors == []


def test_save_a_draft_and_launch_it_in_english(page: Page, server: ConsoleServer) -> None:
    page_errors = _watch(page)
    register(server, 5, "13912349", OTHER_STORE)
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/campaigns")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="New campaign").click()
    form = page.get_by_test_id("campaign-form")
    form.locator("input[name=name]").fill("Beijing points")
    form.get_by_label("A rule").check()
    form.locator("textarea[name=rule]").fill(f'store = "{OTHER_STORE}"')
    expect(page.get_by_test_id("campaign-audience-count")).to_have_text("5 members match now")
    form.get_by_role("button", name="Next").click()
    form.get_by_label("Grant points").check()
    form.locator("input[name=points]").fill("200")
    form.locator("input[name=points_reason]").fill("spring")
    for _ in range(3):
        form.get_by_role("button", name="Next").click()
    review = page.get_by_test_id("campaign-review")
    expect(review.get_by_test_id("review-audience")).to_have_text("5")
    expect(review.get_by_test_id("review-cost")).to_contain_text("points")
    form.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign “Beijing points” created")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("status")).to_contain_text("Campaign “Beijing points” launched")
    expect(page.get_by_test_id("campaign-audience")).to_have_text("5")
    assert page_errors == []


def test_a_refused_campaign_shows_why(page: Page, server: ConsoleServer) -> None:
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/campaigns/new")
    form = page.get_by_test_id("campaign-form")
    form.locator("input[name=name]").fill("Nothing to do")
    for _ in range(4):
        form.get_by_role("button", name="下一步").click()
    form.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_test_id("campaign-form")).to_be_visible()


def test_the_report_draws_its_chart_and_exports(page: Page, server: ConsoleServer) -> None:
    page_errors = _watch(page)
    with server.sessions.begin() as session:
        campaign = Campaign(
            name="已结束的活动",
            rule="registered_days >= 0",
            actions=[{"type": "grant_points", "points": 10, "reason": "x"}],
            seed=1,
            status="done",
            launched_at=clock.now() - timedelta(days=30),
            audience_size=0,
            control_size=0,
        )
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    sign_in(page, MARKETING, PASSWORD)
    page.goto(f"/console/campaigns/{campaign_id}")
    expect(page.get_by_test_id("campaign-status")).to_have_text("已完成")
    expect(page.locator("#campaign-groups-chart canvas")).to_have_count(1)
    expect(page.locator("#campaign-uplift-chart canvas")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    path = download_info.value.path()
    assert path is not None
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["figure", "treated", "control"]
    assert page_errors == []

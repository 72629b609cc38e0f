"""The schedule page in Debian's chromium against a real server: an HQ admin opens it from the
navigation, runs the points job by hand and sees its result; the job's page lists the run. A run
by hand in English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from patron.core.actor import Role
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin.qian"
PASSWORD = "admin-password-7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-schedule"),
        {"SH001": "上海南京西路店"},
        [StaffLogin(ADMIN, PASSWORD, Role.hq_admin)],
    ) as running:
        yield running


def test_an_admin_runs_a_job_by_hand(page: Page, server: ConsoleServer) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="定时任务").click()
    points = page.locator("tr[data-job=points]")
    expect(points).to_contain_text("每小时第 00 分")
    expect(points).to_contain_text("尚未运行")

    points.get_by_role("button", name="立即运行").click()
    expect(page.get_by_role("status")).to_contain_text("任务“points”已运行")
    points = page.locator("tr[data-job=points]")
    expect(points.locator("[data-status]")).to_have_text("成功")
    expect(points).to_contain_text("手动")
    expect(points).to_contain_text("0 lots released")

    points.get_by_role("link", name="积分到账与过期").click()
    expect(page.locator("tr[data-run-id]")).to_have_count(1)
    page.get_by_role("button", name="立即运行").click()
    expect(page.get_by_role("status")).to_contain_text("任务“points”已运行")
    expect(page.locator("tr[data-run-id]")).to_have_count(2)


def test_a_job_run_by_hand_in_english(page: Page, server: ConsoleServer) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("link", name="English").click()
    page.get_by_role("complementary").get_by_role("link", name="Schedule").click()
    coupons = page.locator("tr[data-job=coupons]")
    expect(coupons).to_contain_text("Daily at 00:05")
    expect(coupons).to_contain_text("Not run yet")

    coupons.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("Job “coupons” ran")
    coupons = page.locator("tr[data-job=coupons]")
    expect(coupons.locator("[data-status]")).to_have_text("Succeeded")
    expect(coupons).to_contain_text("By hand")

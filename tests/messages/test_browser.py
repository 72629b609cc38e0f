"""The message screens in Debian's chromium against a real server: HQ sets the SMS channel to
the log provider, sends a test message and finds it in the delivery log; a key typed for Alibaba
Cloud is never shown again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from patron.core.actor import Role
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin.messages"
PASSWORD = "admin-password-7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-messages"),
        {"SH001": "上海南京西路店"},
        [StaffLogin(ADMIN, PASSWORD, Role.hq_admin)],
    ) as running:
        yield running


def test_log_provider_test_send_shows_in_the_log(page: Page, server: ConsoleServer) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("link", name="消息").first.click()
    page.get_by_role("link", name="发送渠道").click()
    page.locator("tr", has_text="短信").get_by_role("link", name="编辑").click()
    page.locator("select[name=provider]").select_option("log")
    page.get_by_role("button", name="切换服务商").click()
    form = page.get_by_test_id("channel-form")
    form.locator("input[name=enabled]").check()
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("渠道设置已保存")

    test = page.get_by_test_id("test-form")
    test.locator("input[name=recipient]").fill("13800001234")
    test.get_by_role("button", name="发送测试").click()
    expect(page.get_by_role("status")).to_contain_text("测试消息已发送")
    log = page.get_by_test_id("message-log")
    expect(log).to_contain_text("138****1234")
    expect(log.locator("[data-status=sent]").first).to_be_visible()
    expect(log).not_to_contain_text("13800001234")


def test_a_secret_key_is_never_shown_again(page: Page, server: ConsoleServer) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.goto("/console/messages/channels/sms")
    page.locator("select[name=provider]").select_option("aliyun")
    page.get_by_role("button", name="切换服务商").click()
    form = page.get_by_test_id("channel-form")
    form.locator("input[name='config.access_key_id']").fill("LTAI-browser")
    form.locator("input[name='config.access_key_secret']").fill("browser-secret-98765")
    form.locator("input[name=enabled]").uncheck()
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("渠道设置已保存")
    secret = page.locator("input[name='config.access_key_secret']")
    expect(secret).to_have_attribute("placeholder", "****8765")
    expect(secret).to_have_value("")
    assert "browser-secret" not in page.content()


def test_a_test_send_in_english(page: Page, server: ConsoleServer) -> None:
    sign_in(page, ADMIN, PASSWORD)
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="Messages").first.click()
    page.get_by_role("link", name="Channels").click()
    page.locator("tr", has_text="SMS").get_by_role("link", name="Edit").click()
    page.locator("select[name=provider]").select_option("log")
    page.get_by_role("button", name="Switch provider").click()
    form = page.get_by_test_id("channel-form")
    form.locator("input[name=enabled]").check()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Channel settings saved")

    test = page.get_by_test_id("test-form")
    test.locator("input[name=recipient]").fill("13900005678")
    test.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test message sent")
    log = page.get_by_test_id("message-log")
    expect(log).to_contain_text("139****5678")
    expect(log).not_to_contain_text("13900005678")

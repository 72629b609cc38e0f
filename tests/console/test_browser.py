"""The staff console driven in Debian's chromium against a real server and a file database."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from patron.core.actor import SYSTEM, Role
from patron.staff import service as staff
from patron.stores import service as stores
from patron.stores.models import StoreType
from patron.stores.schemas import StoreCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    data_dir = tmp_path_factory.mktemp("console")
    with console_server(
        data_dir, {}, [StaffLogin(ADMIN, ADMIN_PASSWORD, Role.hq_admin)]
    ) as running:
        yield running


def log_in(page: Page, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    sign_in(page, username, password)


def sidebar(page: Page) -> Locator:
    return page.get_by_role("complementary")


def test_create_store_and_find_it_in_the_list(page: Page) -> None:
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text(ADMIN)

    sidebar(page).get_by_role("link", name="门店", exact=True).click()
    page.get_by_role("link", name="新建门店").click()
    page.fill("input[name=code]", "SH001")
    page.fill("input[name=name]", "上海南京西路店")
    page.select_option("select[name=type]", "franchise")
    page.fill("input[name=city]", "上海")
    page.fill("input[name=phone]", "021-5555 0101")
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/stores$"))
    expect(page.get_by_role("status")).to_contain_text("上海南京西路店")
    row = page.locator("tbody tr", has_text="SH001")
    expect(row).to_contain_text("上海南京西路店")
    expect(row).to_contain_text("加盟")
    expect(row).to_contain_text("营业中")

    # The same code again is refused in the form, with the input kept.
    page.get_by_role("link", name="新建门店").click()
    page.fill("input[name=code]", "SH001")
    page.fill("input[name=name]", "重复的门店")
    page.get_by_role("button", name="创建").click()
    expect(page.locator(".field-error")).to_have_text("该门店编码已存在")
    expect(page.locator("input[name=name]")).to_have_value("重复的门店")

    page.goto("/console/stores?q=sh00")
    expect(page.locator("tbody tr", has_text="SH001")).to_be_visible()


def test_create_staff_user_and_reset_their_password(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        store = StoreCreate(code="BJ001", name="北京三里屯店", type=StoreType.owned)
        stores.create_store(session, SYSTEM, store)
    log_in(page)

    page.goto("/console/staff/new")
    page.fill("input[name=username]", "li.na")
    page.fill("input[name=display_name]", "李娜")
    page.fill("input[name=password]", "first-password")
    page.select_option("select[name=role]", "cashier")
    page.get_by_label("BJ001").check()
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/staff$"))
    row = page.locator("tbody tr", has_text="li.na")
    expect(row).to_contain_text("收银员")
    expect(row).to_contain_text("BJ001")

    row.get_by_role("link", name="编辑").click()
    page.fill("input[name=password]", "second-password")
    page.fill("input[name=password_confirm]", "second-password")
    page.get_by_role("button", name="重置密码").click()
    expect(page.get_by_role("status")).to_contain_text("li.na")

    page.context.clear_cookies()
    log_in(page, "li.na", "second-password")
    expect(sidebar(page).get_by_role("link", name="员工", exact=True)).to_have_count(0)


def test_language_switch_shows_english_labels(page: Page) -> None:
    page.goto("/console/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    log_in(page)
    sidebar(page).get_by_role("link", name="Stores", exact=True).click()
    expect(page.get_by_role("columnheader", name="Store code")).to_be_visible()

    page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("columnheader", name="门店编码")).to_be_visible()


def test_wrong_password_is_shown_and_counted(page: Page, server: ConsoleServer) -> None:
    page.goto("/console/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")

    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    expect(page.locator("input[name=username]")).to_have_value(ADMIN)
    with server.sessions() as session:
        admin = staff.find_by_username(session, ADMIN)
        assert admin is not None
        assert admin.failed_logins == 1


def test_signing_out_ends_the_session_even_for_a_copied_cookie(page: Page) -> None:
    log_in(page)
    copied = page.context.cookies()
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/console/login"))

    page.context.add_cookies(copied)  # as if someone had kept the cookie
    page.goto("/console/stores")
    expect(page).to_have_url(re.compile(r"/console/login"))

"""The regions screens in Debian's chromium against a real server: an HQ admin groups stores into
a region under the stores menu and moves a store between regions, in Chinese; in English, a
regional manager sees their region and its stores only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from patron.core.actor import SYSTEM, Role
from patron.staff import service as staff
from patron.staff.schemas import StaffCreate
from patron.stores import regions
from patron.stores.schemas import RegionCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin.regions"
PASSWORD = "regions-password-1"
REGIONAL = "rm.south"
STORES = {"SH001": "上海南京西路店", "HZ001": "杭州湖滨店", "GZ001": "广州天河城店"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-regions"),
        STORES,
        [StaffLogin(ADMIN, PASSWORD, Role.hq_admin)],
    ) as running:
        yield running


def test_an_admin_groups_stores_into_regions_in_chinese(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        regions.create_region(
            session,
            SYSTEM,
            RegionCreate(code="SOUTH", name="华南区", store_ids=[server.store("GZ001")]),
        )
    sign_in(page, ADMIN, PASSWORD)
    sidebar = page.get_by_role("complementary")
    sidebar.get_by_role("link", name="门店", exact=True).click()
    sidebar.get_by_role("link", name="区域", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("区域")
    page.get_by_role("link", name="新建区域").click()

    page.fill("input[name=code]", "EAST")
    page.fill("input[name=name]", "华东区")
    page.get_by_label("SH001").check()
    page.get_by_label("HZ001").check()
    page.get_by_role("button", name="创建").click()

    expect(page).to_have_url(re.compile(r"/console/regions$"))
    expect(page.get_by_role("status")).to_contain_text("华东区")
    row = page.locator("tbody tr", has_text="EAST")
    expect(row).to_contain_text("SH001")
    expect(row).to_contain_text("HZ001")
    expect(row).to_contain_text("2 家门店")

    # GZ001 moves from 华南区, which the form says; HZ001 leaves.
    row.get_by_role("link", name="编辑").click()
    expect(page.locator("label.check", has_text="GZ001")).to_contain_text("现属华南区")
    page.get_by_label("HZ001").uncheck()
    page.get_by_label("GZ001").check()
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url(re.compile(r"/console/regions$"))
    east = page.locator("tbody tr", has_text="EAST")
    expect(east).to_contain_text("GZ001")
    expect(east).not_to_contain_text("HZ001")
    expect(page.locator("tbody tr", has_text="SOUTH")).to_contain_text("0 家门店")

    # A code already taken is refused beside its field, the input kept.
    page.get_by_role("link", name="新建区域").click()
    page.fill("input[name=code]", "EAST")
    page.fill("input[name=name]", "重复的区域")
    page.get_by_role("button", name="创建").click()
    expect(page.locator(".field-error")).to_have_text("该区域编码已存在")
    expect(page.locator("input[name=name]")).to_have_value("重复的区域")


def test_a_regional_manager_sees_their_region_in_english(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        north = regions.create_region(
            session,
            SYSTEM,
            RegionCreate(code="NORTH", name="North", store_ids=[server.store("HZ001")]),
        )
        staff.create_staff(
            session,
            SYSTEM,
            StaffCreate(
                username=REGIONAL,
                password=PASSWORD,
                role=Role.regional_manager,
                region_ids=[north.id],
            ),
        )
    page.goto("/console/login")
    page.get_by_role("link", name="English").click()
    sign_in(page, REGIONAL, PASSWORD)
    sidebar = page.get_by_role("complementary")
    expect(sidebar).to_contain_text("Regional manager")
    expect(sidebar.get_by_role("link", name="Checkout")).to_have_count(0)

    sidebar.get_by_role("link", name="Stores", exact=True).click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("HZ001")

    sidebar.get_by_role("link", name="Regions", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Regions")
    expect(page.locator("tbody tr")).to_have_count(1)
    row = page.locator("tbody tr", has_text="NORTH")
    expect(row).to_contain_text("Stores: 1")
    expect(row.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("link", name="New region")).to_have_count(0)

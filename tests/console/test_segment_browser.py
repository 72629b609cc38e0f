"""The segments screens in Debian's chromium against a real server: HQ marketing builds a segment
from the menus and by typing (a live count, and a refusal marked where it is), saves it, pages
its members and exports them as CSV, then as .xlsx in English; the RFM and lifecycle charts are
drawn by the vendored ECharts under the console's CSP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook
from playwright.sync_api import ConsoleMessage, Page, expect

from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.schemas import MemberCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.segments"
PASSWORD = "marketing-password-7"
STORE = "SH001"
OTHER_STORE = "BJ001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-segments"),
        {STORE: "上海南京西路店", OTHER_STORE: "北京国贸店"},
        [StaffLogin(MARKETING, PASSWORD, Role.hq_marketing)],
    ) as running:
        yield running


def register(server: ConsoleServer, mobile: str, store: str = STORE) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="王芳", store_id=server.store(store))
        return registration.register_member(session, SYSTEM, data).id


def test_build_a_segment_and_export_it(page: Page, server: ConsoleServer) -> None:
    page_errors: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_errors.append(message.text)

    page.on("console", watch)
    mine = [register(server, f"1391234770{n}") for n in range(3)]
    register(server, "13912347710", OTHER_STORE)
    sign_in(page, MARKETING, PASSWORD)
    page.get_by_role("complementary").get_by_role("link", name="人群").click()
    expect(page.get_by_test_id("segment-list")).to_contain_text("还没有人群")
    expect(page.locator("#segment-rfm-chart canvas")).to_have_count(1)
    expect(page.locator("#segment-lifecycle-chart canvas")).to_have_count(1)

    page.get_by_role("link", name="新建人群").click()
    form = page.get_by_test_id("segment-form")
    form.locator("input[name=name]").fill("上海门店会员")
    form.get_by_role("combobox", name="字段").select_option("store")
    form.get_by_role("combobox", name="运算符").select_option(" = ")
    rule = form.locator("textarea[name=rule]")
    expect(rule).to_have_value("store = ")
    # Incomplete: the refusal where it is, with what could come there.
    error = page.get_by_test_id("rule-error")
    expect(error).to_contain_text("第 1 行第 9 列")
    expect(error).to_contain_text("此处可以是： a string")
    expect(page.get_by_test_id("rule-echo")).to_be_visible()
    rule.press("End")
    rule.press_sequentially(f'"{STORE}"')
    expect(page.get_by_test_id("segment-live-count")).to_have_text("当前匹配 3 位会员")
    expect(error).to_be_hidden()
    form.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text("人群“上海门店会员”已创建")
    expect(page.get_by_test_id("segment-member-count")).to_have_text("3")
    rows = page.get_by_test_id("segment-members").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("139****")

    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    path = download.path()
    assert path is not None
    lines = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert lines[0][:3] == ["member_id", "name", "mobile"]
    assert sorted(int(r[0]) for r in lines[1:]) == sorted(mine)
    assert all("****" in r[2] for r in lines[1:])

    page.get_by_role("complementary").get_by_role("link", name="人群").click()
    listed = page.get_by_test_id("segment-list")
    expect(listed).to_contain_text("上海门店会员")
    expect(listed.get_by_test_id("segment-count")).to_have_text("3")
    expect(listed.locator("svg.spark")).to_have_count(1)
    assert page_errors == []


def test_build_and_export_in_english(page: Page, server: ConsoleServer) -> None:
    register(server, "13912347720", OTHER_STORE)
    sign_in(page, MARKETING, PASSWORD)
    page.goto("/console/segments")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="New segment").click()
    form = page.get_by_test_id("segment-form")
    form.locator("input[name=name]").fill("Beijing members")
    form.get_by_role("combobox", name="Functions").select_option("spent(days=90) >= 50000")
    rule = form.locator("textarea[name=rule]")
    expect(rule).to_have_value("spent(days=90) >= 50000")
    expect(page.get_by_test_id("segment-live-count")).to_have_text("0 members match now")
    rule.fill(f'store = "{OTHER_STORE}" andd')
    error = page.get_by_test_id("rule-error")
    expect(error).to_contain_text("Line 1, column")
    expect(error).to_contain_text("Expected here:")
    expect(page.get_by_test_id("rule-echo").locator("mark")).to_have_text("a")
    rule.fill(f'store = "{OTHER_STORE}"')
    expect(page.get_by_test_id("segment-live-count")).to_contain_text("members match now")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Segment “Beijing members” created")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-xlsx").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = download.path()
    assert path is not None
    sheet = load_workbook(io.BytesIO(path.read_bytes())).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("member_id", "name", "mobile")
    assert len(values) >= 2
    assert all("*" in str(row[2]) for row in values[1:])

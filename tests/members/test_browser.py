"""The console's member pages driven in Debian's chromium against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from patron.core.actor import SYSTEM, Role
from patron.members import attributes, registration
from patron.members.models import (
    AttributeType,
    Member,
)
from patron.members.schemas import AttributeCreate, AttributeUpdate, MemberCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"
CASHIER = "cashier.wang"
CASHIER_PASSWORD = "cashier-password-1"
STORE_CODE = "SH001"
STORE_NAME = "上海南京西路店"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    data_dir = tmp_path_factory.mktemp("console-members")
    with console_server(
        data_dir,
        {STORE_CODE: STORE_NAME},
        [
            StaffLogin(ADMIN, ADMIN_PASSWORD, Role.hq_admin),
            StaffLogin(CASHIER, CASHIER_PASSWORD, Role.cashier, (STORE_CODE,)),
        ],
    ) as running:
        yield running


def log_in(page: Page, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> None:
    sign_in(page, username, password)


def sidebar(page: Page) -> Locator:
    return page.get_by_role("complementary")


def search(page: Page, text: str) -> None:
    page.fill("input[name=q]", text)
    page.get_by_role("button", name="搜索").click()


def test_register_find_and_show_member_code(page: Page) -> None:
    log_in(page)
    sidebar(page).get_by_role("link", name="会员", exact=True).click()
    page.get_by_role("link", name="登记会员").click()
    page.fill("input[name=mobile]", "139 1234 0001")
    page.fill("input[name=name]", "王小明")
    page.select_option("select[name=gender]", "male")
    page.fill("input[name=birthday]", "1990-05-12")
    page.select_option("select[name=store_id]", label=f"{STORE_CODE} · {STORE_NAME}")
    page.get_by_label("短信").check()
    page.get_by_role("button", name="登记", exact=True).click()

    expect(page).to_have_url(re.compile(r"/console/members/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("已登记")

    # The same mobile again is refused beside the field, with a link to the member who has it.
    page.goto("/console/members/new")
    page.fill("input[name=mobile]", "13912340001")
    page.fill("input[name=name]", "重复")
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.locator(".field-error")).to_have_text("该手机号已登记为会员")
    expect(page.locator("input[name=name]")).to_have_value("重复")
    expect(page.get_by_test_id("existing-member")).to_be_visible()

    sidebar(page).get_by_role("link", name="会员", exact=True).click()
    search(page, "13912340001")
    row = page.locator("tbody tr", has_text="139****0001")
    expect(row).to_contain_text("王**")
    expect(row).to_contain_text(STORE_CODE)
    expect(row).to_contain_text("门店")
    row.get_by_role("link", name="王**").click()

    # HQ admins see the profile in full; the timeline starts with the registration.
    expect(page.get_by_test_id("mobile")).to_have_text("13912340001")
    expect(page.get_by_role("heading", level=1)).to_contain_text("王小明")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(f"在 {STORE_CODE} 注册入会（门店）")
    expect(timeline).to_contain_text("同意通过短信接收营销信息")

    expect(page.locator("svg.qr-svg")).to_have_count(0)
    page.get_by_role("button", name="显示会员码").click()
    code = page.get_by_test_id("member-code")
    expect(code.locator("svg")).to_be_visible()
    expect(code.locator(".qr-digits")).to_have_text(re.compile(r"^\d{18}$"))
    expect(code).to_contain_text("有效期至")


def test_import_dry_run_then_real_run(page: Page) -> None:
    csv = (
        "手机号,姓名,性别,开卡门店,卡号\n"
        f"13700000001,李四,女,{STORE_CODE},K0001\n"
        f"12345,坏行,男,{STORE_CODE},\n"
    ).encode()
    upload = {"name": "members.csv", "mimeType": "text/csv", "buffer": csv}
    log_in(page)
    page.goto("/console/members")
    page.get_by_role("link", name="导入会员").click()
    expect(page.get_by_label("试运行（只校验，不写入）")).to_be_checked()

    page.set_input_files("input[name=file]", files=[upload])
    page.get_by_role("button", name="上传").click()
    # The import runs off the request; its own page follows it to the report.
    expect(page).to_have_url(re.compile(r"/console/members/import/\d+$"))
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("试运行，未写入")
    expect(page.get_by_test_id("report-rows")).to_have_text("2")
    expect(page.get_by_test_id("report-created")).to_have_text("1")
    expect(page.get_by_test_id("report-errors")).to_have_text("1")
    error_row = page.get_by_test_id("import-errors").locator("tbody tr")
    expect(error_row).to_have_count(1)
    expect(error_row.locator("td").first).to_have_text("3")
    expect(error_row).to_contain_text("手机号")

    # Nothing was written by the dry run.
    page.goto("/console/members?q=13700000001")
    expect(page.locator("tbody")).to_contain_text("没有符合条件的会员")

    page.goto("/console/members/import")
    page.get_by_label("试运行（只校验，不写入）").uncheck()
    page.set_input_files("input[name=file]", files=[upload])
    page.get_by_role("button", name="上传").click()
    expect(report).to_contain_text("已导入")
    expect(page.get_by_test_id("report-created")).to_have_text("1")

    page.goto("/console/members")
    search(page, "13700000001")
    row = page.locator("tbody tr", has_text="137****0001")
    expect(row).to_contain_text("李*")
    expect(row).to_contain_text("导入")
    # The card number from the file finds the member too.
    search(page, "K0001")
    expect(page.locator("tbody tr", has_text="137****0001")).to_be_visible()


def test_a_long_import_shows_its_progress_then_its_report(page: Page) -> None:
    rows = "".join(f"1360{n:07d},会员{n},{STORE_CODE}\n" for n in range(20_000))
    csv = ("手机号,姓名,开卡门店\n" + rows).encode()
    log_in(page)
    page.goto("/console/members/import")
    page.get_by_label("试运行（只校验，不写入）").uncheck()
    page.set_input_files(
        "input[name=file]", files=[{"name": "many.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    page.get_by_role("button", name="上传").click()
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_contain_text("many.csv")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(1)
    # The page reloads itself until the import is done, however long that takes here.
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("已导入", timeout=180_000)
    expect(page.get_by_test_id("report-created")).to_have_text("20000")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)


def test_cashier_sees_the_member_masked(page: Page, server: ConsoleServer) -> None:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile="13812345678", name="赵小红", store_id=server.store(STORE_CODE))
        member = registration.register_member(session, SYSTEM, data)
        member_id = member.id
    log_in(page, CASHIER, CASHIER_PASSWORD)
    expect(sidebar(page).get_by_role("link", name="会员属性")).to_have_count(0)

    sidebar(page).get_by_role("link", name="会员", exact=True).click()
    search(page, "13812345678")
    row = page.locator("tbody tr", has_text="138****5678")
    expect(row).to_contain_text("赵**")
    row.get_by_role("link", name="查看").click()

    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}$"))
    expect(page.get_by_test_id("mobile")).to_have_text("138****5678")
    expect(page.get_by_text("根据您的角色，个人信息已脱敏显示。")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("13812345678")
    expect(page.locator("body")).not_to_contain_text("赵小红")
    # HQ admin controls are not there for a cashier.
    expect(page.get_by_role("button", name="导出个人信息（PIPL）")).to_have_count(0)


def test_admin_edits_an_attribute_and_registering_then_needs_it(
    page: Page, server: ConsoleServer
) -> None:
    with server.sessions.begin() as session:
        hair = AttributeCreate(
            code="hair_type",
            label="发质",
            type=AttributeType.single_choice,
            options=["油性", "干性"],
        )
        attribute_id = attributes.create_attribute(session, SYSTEM, hair).id
    try:
        log_in(page)
        sidebar(page).get_by_role("link", name="会员属性").click()
        row = page.locator("tbody tr", has_text="hair_type")
        expect(row).to_contain_text("发质")
        row.get_by_role("link", name="编辑").click()
        expect(page).to_have_url(re.compile(rf"/console/members/attributes/{attribute_id}/edit$"))

        # The code, the type and personal data are shown, not offered for change.
        fixed = page.get_by_test_id("attribute-fixed")
        expect(fixed).to_contain_text("hair_type")
        expect(fixed).to_contain_text("单选")
        form = page.get_by_test_id("attribute-form")
        expect(form.locator("input[name=code], [name=type], [name=is_pii]")).to_have_count(0)
        expect(page.locator("input[name=label]")).to_have_value("发质")
        expect(page.locator("input[name=options]")).to_have_value("油性, 干性")

        # A repeated option is refused beside the field, what was typed kept.
        page.fill("input[name=label]", "头发类型")
        page.fill("input[name=options]", "油性，干性，油性")
        page.get_by_role("button", name="保存").click()
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.locator(".field-error")).to_have_text("选项有重复")
        expect(page.locator("input[name=label]")).to_have_value("头发类型")

        page.fill("input[name=options]", "油性，干性，中性")
        page.get_by_label("必填").check()
        page.get_by_role("button", name="保存").click()
        expect(page).to_have_url(re.compile(r"/console/members/attributes$"))
        expect(page.get_by_role("status")).to_contain_text("属性“头发类型”已保存")
        row = page.locator("tbody tr", has_text="hair_type")
        expect(row).to_contain_text("头发类型")
        expect(row.locator(".chip")).to_have_text(["油性", "干性", "中性"])
        expect(row.locator("td").nth(4)).to_have_text("是")

        # The register form now asks for it, and refuses to save without it.
        page.goto("/console/members/new")
        field = page.locator("label.field", has_text="头发类型")
        expect(field.locator(".req")).to_be_visible()
        expect(field.locator("option")).to_have_text(["—", "油性", "干性", "中性"])
        page.fill("input[name=mobile]", "13912340077")
        page.fill("input[name=name]", "孙丽")
        page.select_option("select[name=store_id]", label=f"{STORE_CODE} · {STORE_NAME}")
        page.get_by_role("button", name="登记", exact=True).click()
        expect(page.get_by_role("alert")).to_be_visible()
        expect(field.locator(".field-error")).to_have_text("必填")
        expect(page.locator("input[name=name]")).to_have_value("孙丽")
        page.goto("/console/members?q=13912340077")
        expect(page.locator("tbody")).to_contain_text("没有符合条件的会员")

        page.goto("/console/members/new")
        page.fill("input[name=mobile]", "13912340077")
        page.fill("input[name=name]", "孙丽")
        page.select_option("select[name=store_id]", label=f"{STORE_CODE} · {STORE_NAME}")
        field.locator("select").select_option("中性")
        page.get_by_role("button", name="登记", exact=True).click()
        expect(page).to_have_url(re.compile(r"/console/members/\d+$"))
        member_id = int(page.url.rsplit("/", 1)[1])
        with server.sessions() as session:
            assert attributes.attributes_of(session, member_id)["hair_type"][1] == "中性"
    finally:
        # The other tests register members without it.
        with server.sessions.begin() as session:
            attributes.update_attribute(
                session, SYSTEM, attribute_id, AttributeUpdate(required=False, is_active=False)
            )


def test_an_import_page_follows_its_import_in_english(page: Page) -> None:
    rows = "".join(f"1350{n:07d},Member {n},{STORE_CODE}\n" for n in range(2_000))
    csv = ("mobile,name,store\n" + rows).encode()
    page.goto("/console/login")
    page.get_by_role("link", name="English").click()
    log_in(page)
    page.goto("/console/members/import")
    page.get_by_label("Dry run (check only, write nothing)").uncheck()
    page.set_input_files(
        "input[name=file]", files=[{"name": "en.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/console/members/import/\d+$"))
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("Imported", timeout=120_000)
    expect(page.get_by_test_id("report-created")).to_have_text("2000")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_edit_form_sets_and_clears_no_marketing(
    page: Page, server: ConsoleServer, lang: str
) -> None:
    mobile = "13912340081" if lang == "zh" else "13912340082"
    with server.sessions.begin() as session:
        member_id = registration.register_member(
            session, SYSTEM, MemberCreate(mobile=mobile, name="周洁")
        ).id
    label, save = ("不接受营销", "保存") if lang == "zh" else ("No marketing", "Save")
    page.goto("/console/login")
    if lang == "en":
        page.get_by_role("link", name="English").click()
    log_in(page)
    page.goto(f"/console/members/{member_id}/edit")
    box = page.get_by_label(label)
    expect(box).not_to_be_checked()
    box.check()
    page.get_by_role("button", name=save, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}$"))
    with server.sessions() as session:
        assert session.get(Member, member_id).no_marketing  # type: ignore[union-attr]
    page.goto(f"/console/members/{member_id}/edit")
    expect(page.get_by_label(label)).to_be_checked()
    page.get_by_label(label).uncheck()
    page.get_by_role("button", name=save, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/console/members/{member_id}$"))
    with server.sessions() as session:
        assert not session.get(Member, member_id).no_marketing  # type: ignore[union-attr]

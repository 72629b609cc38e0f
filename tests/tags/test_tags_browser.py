"""Tags in Debian's chromium against a real server, in Chinese and in English: HQ marketing creates
a tag from the Tags screen and tags members by pasting them; on the member page a store manager
adds a tag by name and removes it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from patron.core.actor import SYSTEM, Role
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.tags import service as tags
from patron.tags.schemas import TagCreate
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.li"
MANAGER = "manager.zhao"
PASSWORD = "tags-password-16"
STORE = "SH001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("console-tags"),
        {STORE: "上海南京西路店"},
        [
            StaffLogin(MARKETING, PASSWORD, Role.hq_marketing),
            StaffLogin(MANAGER, PASSWORD, Role.store_manager, (STORE,)),
        ],
    ) as running:
        yield running


def register(server: ConsoleServer, mobile: str) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="李娜", store_id=server.store(STORE))
        return registration.register_member(session, SYSTEM, data).id


@pytest.mark.parametrize(
    ("lang", "nav", "create", "tag_them", "tagged", "not_found", "tag_name"),
    [
        ("zh", "标签", "创建", "打标签", "已打上", "未找到会员", "母婴"),
        ("en", "Tags", "Create", "Tag them", "Tagged", "Member not found", "Baby"),
    ],
)
def test_a_tag_is_created_and_members_tagged_by_pasting(
    page: Page,
    server: ConsoleServer,
    lang: str,
    nav: str,
    create: str,
    tag_them: str,
    tagged: str,
    not_found: str,
    tag_name: str,
) -> None:
    suffix = "1" if lang == "zh" else "2"
    first = register(server, f"1391234100{suffix}")
    second_mobile = f"1391234200{suffix}"
    register(server, second_mobile)
    sign_in(page, MARKETING, PASSWORD)
    if lang == "en":
        page.get_by_role("link", name="English").click()
    page.get_by_role("complementary").get_by_role("link", name=nav, exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/tags$"))
    form = page.get_by_test_id("tag-form")
    form.locator("input[name=name]").fill(tag_name)
    form.get_by_role("button", name=create).click()
    expect(page).to_have_url(re.compile(r"/console/tags/\d+$"))
    expect(page.get_by_role("status")).to_contain_text(tag_name)

    page.locator("textarea[name=members]").fill(f"{first}\n{second_mobile}\n13000000000\n")
    page.get_by_role("button", name=tag_them, exact=True).click()
    result = page.get_by_test_id("bulk-result")
    expect(result.get_by_test_id("count-added")).to_have_text("2")
    expect(result).to_contain_text(tagged)
    expect(page.get_by_test_id("bulk-lines")).to_contain_text(not_found)
    expect(page.get_by_test_id("tag-count")).to_have_text("2")
    expect(page.get_by_test_id("tag-members")).to_contain_text(f"#{first}")

    page.goto("/console/tags")
    expect(page.get_by_test_id("tag-list")).to_contain_text(tag_name)


@pytest.mark.parametrize(
    ("lang", "add", "added", "removed"),
    [
        ("zh", "打标签", "已打上标签“投诉”", "已取下标签“投诉”"),
        ("en", "Add tag", "Tagged “投诉”", "Removed the tag “投诉”"),
    ],
)
def test_a_member_is_tagged_on_the_member_page(
    page: Page, server: ConsoleServer, lang: str, add: str, added: str, removed: str
) -> None:
    member_id = register(server, f"1391234300{1 if lang == 'zh' else 2}")
    if lang == "en":
        with server.sessions.begin() as session:
            if tags.find_tag(session, "投诉") is None:
                tags.create_tag(session, SYSTEM, TagCreate(name="投诉"))
    sign_in(page, MARKETING if lang == "zh" else MANAGER, PASSWORD)
    if lang == "en":
        page.get_by_role("link", name="English").click()
    page.goto(f"/console/members/{member_id}")
    panel = page.get_by_test_id("member-tags")
    # HQ marketing may name a tag that does not exist yet (it is created); a store manager
    # names one that exists.
    panel.locator("input[name=tag]").fill("投诉")
    panel.get_by_role("button", name=add).click()
    expect(page.get_by_role("status")).to_have_text(added)
    chip = page.get_by_test_id("member-tags").locator("li.chip", has_text="投诉")
    expect(chip).to_be_visible()
    chip.locator("button.chip-remove").click()
    expect(page.get_by_role("status")).to_have_text(removed)
    expect(page.get_by_test_id("member-tags").locator("li.chip")).to_have_count(0)

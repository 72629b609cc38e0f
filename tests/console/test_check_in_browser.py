"""Daily check-in in Debian's chromium against a real server: HQ marketing sets the program and
reads the report in the console (Chinese, then English); a member checks in on /m/check-in at
a phone's viewport (360×740), in Chinese and in English, and sees the day's reward and the
calendar marked."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import sessionmaker

from patron.app import create_app
from patron.check_ins import program, service
from patron.console.web import LANG_COOKIE
from patron.core import clock, db, migrate
from patron.core.actor import SYSTEM, Role, member_actor
from patron.core.security import issue_member_token
from patron.core.settings import Settings
from patron.member_page.web import MEMBER_COOKIE
from patron.members import registration
from patron.members.schemas import MemberCreate
from patron.staff import service as staff_service
from patron.staff.schemas import StaffCreate
from tests.browser import ConsoleServer, fresh_page, require_chromium, serving
from tests.browser import log_in as sign_in

require_chromium()

pytestmark = pytest.mark.browser

MARKETING = "marketing.chen"
PASSWORD = "marketing-password-7"
SECRET = secrets.token_urlsafe(36)
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """As tests.browser.console_server, with a secret known here: the member cookie is a
    member token signed with it (the sign-in flow is another page's)."""
    data_dir: Path = tmp_path_factory.mktemp("console-check-ins")
    url = f"sqlite:///{data_dir / 'patron.db'}"
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        staff_service.create_staff(
            session,
            SYSTEM,
            StaffCreate(
                username=MARKETING, password=PASSWORD, role=Role.hq_marketing, all_stores=True
            ),
        )
    settings = Settings(database_url=url, secret_key=SECRET, env="test", data_dir=data_dir)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(db, "_engine", engine)
            patch.setattr(db, "_session_factory", sessions)
            with serving(create_app(settings)) as base_url:
                yield ConsoleServer(base_url, sessions, {})
    finally:
        engine.dispose()


def register(server: ConsoleServer, mobile: str) -> int:
    with server.sessions.begin() as session:
        data = MemberCreate(mobile=mobile, name="李娜")
        return registration.register_member(session, SYSTEM, data).id


def set_program(server: ConsoleServer, **values: object) -> None:
    with server.sessions.begin() as session:
        program.save_program(session, SYSTEM, vars(program.Program()) | values)


@pytest.fixture
def phone(browser: Browser, server: ConsoleServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport=PHONE, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def as_member(page: Page, server: ConsoleServer, member_id: int, lang: str) -> None:
    token = issue_member_token(SECRET, member_id, timedelta(hours=1)).token
    page.context.add_cookies(
        [
            {"name": MEMBER_COOKIE, "value": token, "url": server.url},
            {"name": LANG_COOKIE, "value": lang, "url": server.url},
        ]
    )


def test_hq_sets_the_program_and_reads_the_report(browser: Browser, server: ConsoleServer) -> None:
    member_id = register(server, "13912340001")
    with fresh_page(browser, server.url) as page:
        sign_in(page, MARKETING, PASSWORD)
        page.get_by_role("complementary").get_by_role("link", name="签到").click()
        form = page.get_by_test_id("check-in-program-form")
        expect(form.locator("input[name=points_per_day]")).to_have_value("5")
        form.locator("input[name=points_per_day]").fill("8")
        form.locator("select[name=cycle_days]").select_option("7")
        form.locator("input[name=bonuses]").fill("3:10, 9:50")
        form.get_by_role("button", name="保存").click()
        expect(page.get_by_role("alert")).to_contain_text("请检查并更正标出的内容")
        expect(page.locator(".field.has-error")).to_contain_text("奖励天数须为连签周期内的某一天")
        form = page.get_by_test_id("check-in-program-form")
        form.locator("input[name=bonuses]").fill("3:10，7:50")
        form.get_by_role("button", name="保存").click()
        expect(page.get_by_role("status")).to_contain_text("签到规则已保存")
        expect(form.locator("input[name=bonuses]")).to_have_value("3:10, 7:50")

        with server.sessions.begin() as session:
            service.check_in(session, member_actor(member_id), member_id)
        page.get_by_role("link", name="签到报表").click()
        totals = page.get_by_test_id("check-in-totals")
        expect(totals.locator("[data-stat=check_ins]")).to_have_text("1")
        expect(totals.locator("[data-stat=points]")).to_have_text("8")
        today = clock.today().isoformat()
        expect(
            page.get_by_test_id("check-in-days").locator(f"tr[data-day='{today}']")
        ).to_contain_text("8")
        expect(
            page.get_by_test_id("check-in-streaks").locator("tr[data-streak='1']")
        ).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").first.click()
        assert download.value.suggested_filename.startswith("check-ins-days-")

        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("link", name="Check-in report")).to_be_visible()
        expect(page.get_by_test_id("check-in-days").locator("thead")).to_contain_text(
            "Points given"
        )
        page.get_by_role("link", name="Check-in settings").click()
        expect(page.get_by_text("Streak bonuses").first).to_be_visible()
        page.get_by_test_id("check-in-program-form").get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Check-in settings saved")


@pytest.mark.parametrize(
    ("lang", "button", "done", "got"),
    [
        ("zh", "签到", "今日已签到", "获得 6 积分"),
        ("en", "Check in", "Checked in today", "You got 6 points"),
    ],
)
def test_a_member_checks_in_on_the_phone(
    phone: Page, server: ConsoleServer, lang: str, button: str, done: str, got: str
) -> None:
    set_program(server, points_per_day=6, cycle_days=7, streak_bonuses={"2": 4})
    member_id = register(server, "13912349001" if lang == "zh" else "13912349002")
    as_member(phone, server, member_id, lang)
    phone.goto("/m/check-in")
    expect(phone.get_by_test_id("check-in-streak")).to_have_text("0")
    tap = phone.get_by_test_id("check-in-button")
    expect(tap).to_contain_text(button)
    expect(tap).to_contain_text("6")
    tap.click()
    expect(phone).to_have_url(re.compile(r"/m/check-in\?done=1$"))
    reward = phone.get_by_test_id("check-in-reward")
    expect(reward).to_contain_text(done)
    expect(reward).to_contain_text(got)
    expect(phone.get_by_test_id("check-in-streak")).to_have_text("1")
    # Tomorrow: day 2 of the streak, 6 + 4.
    expect(phone.get_by_test_id("check-in-next")).to_contain_text("10")
    today = clock.today().isoformat()
    expect(phone.locator(f"td[data-day='{today}']")).to_have_attribute("data-checked", "1")
    expect(phone.get_by_test_id("check-in-button")).to_have_count(0)
    # The page fits the phone: nothing wider than the viewport.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    # The previous month has none of it.
    phone.get_by_role("link", name=re.compile("上个月|Previous month")).click()
    expect(phone.locator("td[data-checked]")).to_have_count(0)

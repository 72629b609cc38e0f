"""The member page in Debian's chromium at a phone's size (360x740), in Chinese and English: a
member signs in with the code read from the development SMS provider's log line, sees the
member code change a minute later (the server's clock and the page's timers moved together)
without a reload, and sees their balances; a new mobile registers with consent unticked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from patron.console.i18n import translator
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.members import consents, registration
from patron.members.schemas import MemberCreate
from patron.messages import channels
from patron.messages.kinds import Channel
from patron.points import queries as points_queries
from patron.stored_value import recharges
from tests.browser import ConsoleServer, StaffLogin, console_server, require_chromium
from tests.member_page.conftest import SmsLog

require_chromium()

pytestmark = pytest.mark.browser

STORE = "SH001"
NOW = datetime.now(UTC).replace(second=5, microsecond=0)
WORDS = {
    "zh": {"send": "获取验证码", "sign_in": "登录", "join": "注册并登录", "lang": "简体中文"},
    "en": {
        "send": "Send code",
        "sign_in": "Sign in",
        "join": "Join and sign in",
        "lang": "English",
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    with console_server(
        tmp_path_factory.mktemp("member-page"),
        {STORE: "上海南京西路店"},
        [StaffLogin("admin.member", "admin-password-9", Role.hq_admin)],
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _sms_to_the_log(server: ConsoleServer) -> None:
    """The SMS channel's settings are encrypted with the PII key each test sets anew."""
    with server.sessions.begin() as session:
        channels.put(session, SYSTEM, Channel.sms, "log", True, {})


@pytest.fixture
def phone(browser: Browser, server: ConsoleServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 740})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def choose_language(page: Page, lang: str) -> None:
    page.goto("/m/login")
    if lang != "zh":
        page.get_by_role("link", name=WORDS[lang]["lang"]).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")


def ask_for_code(page: Page, sms_log: SmsLog, mobile: str, lang: str) -> str:
    page.fill("input[name=mobile]", mobile)
    page.get_by_role("button", name=WORDS[lang]["send"]).click()
    expect(page.locator("input[name=code]")).to_be_visible()
    return sms_log.last_code()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_member_signs_in_and_the_code_refreshes_itself(
    phone: Page, server: ConsoleServer, sms_log: SmsLog, lang: str
) -> None:
    clock.set_now(NOW)
    mobile = "13955550001" if lang == "zh" else "13955550002"
    with server.sessions.begin() as session:
        member_id = registration.register_member(
            session, SYSTEM, MemberCreate(mobile=mobile, name="林晓", store_id=server.store(STORE))
        ).id
        cash = recharges.Payment("cash", "")
        recharges.recharge(session, SYSTEM, member_id, server.store(STORE), cash, amount=12_345)
    with server.sessions.begin() as session:
        points = points_queries.balance(session, member_id)
    phone.clock.install(time=NOW)
    choose_language(phone, lang)
    code = ask_for_code(phone, sms_log, mobile, lang)
    phone.fill("input[name=code]", code)
    phone.get_by_role("button", name=WORDS[lang]["sign_in"], exact=True).click()
    expect(phone).to_have_url(re.compile(r"/m/$"))
    shown = phone.get_by_test_id("member-code")
    expect(shown).to_have_text(re.compile(rf"^{member_id:010d}\d{{8}}$"))
    expect(phone.get_by_test_id("member-qr").locator("svg")).to_be_visible()
    first = shown.inner_text()
    # A minute later, on the server and in the page: the script fetches the new code.
    clock.set_now(NOW + timedelta(seconds=60))
    phone.clock.run_for(60_000)
    expect(shown).not_to_have_text(first)
    expect(shown).to_have_text(re.compile(rf"^{member_id:010d}\d{{8}}$"))
    assert phone.url.endswith("/m/")
    t = translator(lang)
    expect(phone.get_by_test_id("sv-principal")).to_have_text(t.yuan(12_345))
    expect(phone.get_by_test_id("sv-bonus")).to_have_text(t.yuan(0))
    expect(phone.get_by_test_id("points-available")).to_have_text(t.num(points.available))
    # The page fits a phone: nothing wider than the screen.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    # Paying with stored value shows the same member code.
    phone.get_by_role("link", name=t("m.pay.title")).click()
    expect(phone.get_by_test_id("member-code")).to_have_text(shown_code_pattern(member_id))
    expect(phone.get_by_test_id("sv-total")).to_have_text(t.yuan(12_345))


def shown_code_pattern(member_id: int) -> re.Pattern[str]:
    return re.compile(rf"^{member_id:010d}\d{{8}}$")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_new_mobile_registers_with_consent_asked(
    phone: Page, server: ConsoleServer, sms_log: SmsLog, lang: str
) -> None:
    clock.set_now(NOW)
    mobile = "13955550011" if lang == "zh" else "13955550012"
    phone.goto("/m/login?invite=FRIEND8")
    choose_language(phone, lang)
    phone.goto("/m/login?invite=FRIEND8")
    code = ask_for_code(phone, sms_log, mobile, lang)
    phone.fill("input[name=code]", code)
    phone.get_by_role("button", name=WORDS[lang]["sign_in"], exact=True).click()
    boxes = phone.locator("input[type=checkbox]")
    expect(boxes).to_have_count(3)
    for i in range(3):
        expect(boxes.nth(i)).not_to_be_checked()
    expect(phone.locator("input[name=invite]")).to_have_value("FRIEND8")
    phone.fill("input[name=name]", "陈静")
    phone.locator("input[name=consent_sms]").check()
    phone.get_by_role("button", name=WORDS[lang]["join"]).click()
    expect(phone).to_have_url(re.compile(r"/m/$"))
    expect(phone.get_by_test_id("member-code")).to_be_visible()
    with server.sessions.begin() as session:
        from patron.members.registry import find_by_mobile

        member = find_by_mobile(session, "+86" + mobile)
        assert member is not None
        assert member.channel == "online"
        held = {c.channel: (c.granted, c.source) for c in consents.consents_of(session, member.id)}
    assert held["sms"] == (True, "member_page")
    assert held["email"] == (False, "member_page")

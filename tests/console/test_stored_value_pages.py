"""The console's stored-value screens through the test client: packages (HQ edits, the till
reads), the till's lookup by member code or mobile, recharges with the prepaid-card rules said
in the form, the cooling-off and account refunds, the statement; who may do what, both
languages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.settings import get_settings
from patron.members import codes
from patron.orders.models import Order, OrderLine
from patron.stored_value import packages, recharges
from patron.stored_value.models import (
    Recharge,
    RechargePackage,
    StoredValueAccount,
    StoredValueEntry,
)
from tests.factories import make_member, make_store

Client = Callable[..., TestClient]
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_FIELD: client.headers["x-csrf"]}


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def form_key(html: str) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', html)
    assert found, "the page has no form key"
    return found[1]


def make_package(session: Session, pay: int = 50_000, bonus: int = 5_000) -> RechargePackage:
    values = {"name": f"充{pay // 100}送{bonus // 100}", "pay": pay, "bonus": bonus}
    return packages.save_package(session, SYSTEM, values)


def account(session: Session, member_id: int) -> tuple[int, int]:
    session.expire_all()
    held = session.get(StoredValueAccount, member_id)
    return (held.principal, held.bonus) if held else (0, 0)


def recharge_form(client: TestClient, member_id: int, **fields: str) -> dict[str, str]:
    page = client.get(f"/console/members/{member_id}/stored-value")
    assert page.status_code == 200
    form = {
        **csrf(client),
        "form_key": form_key(page.text),
        "store_id": "",
        "package_id": "",
        "amount": "",
        "method": "wechat_pay",
        "reference": "WX-0001",
        "real_name": "",
        "id_number": "",
    }
    form.update(fields)
    return form


# --- packages -----------------------------------------------------------------------------------


def test_marketing_creates_edits_and_takes_a_package_off_sale(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_marketing)
    assert marketing.get("/console/stored-value/packages/new").status_code == 200
    form = {
        **csrf(marketing),
        "name": "充500送50",
        "pay": "500",
        "bonus": "50",
        "valid_from": "2026-06-01",
        "valid_until": "2026-06-30",
        "per_member_limit": "2",
        "status": "active",
    }
    saved = marketing.post("/console/stored-value/packages/new", data=form, follow_redirects=False)
    assert saved.status_code == 303
    (package,) = session.scalars(select(RechargePackage))
    assert (package.pay, package.bonus, package.per_member_limit) == (50_000, 5_000, 2)
    # The last day sells all day: the window ends at the next day's start in Shanghai.
    assert package.valid_until == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    listing = texts(marketing.get("/console/stored-value/packages").text)
    assert "充500送50" in listing
    assert "¥500.00 → ¥550.00" in listing

    edit = marketing.get(f"/console/stored-value/packages/{package.id}/edit")
    assert 'value="2026-06-30"' in edit.text
    form |= {"bonus": "80", "name": "充500送80"}
    marketing.post(f"/console/stored-value/packages/{package.id}/edit", data=form)
    session.expire_all()
    assert (package.name, package.bonus) == ("充500送80", 8_000)

    off = marketing.post(
        f"/console/stored-value/packages/{package.id}/status",
        data={**csrf(marketing), "status": "inactive"},
    )
    assert "套餐“充500送80”已下架" in texts(off.text)
    session.expire_all()
    assert package.status == "inactive"


def test_the_package_form_explains_refusals_beside_the_inputs(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_admin)
    form = {
        **csrf(marketing),
        "name": "",
        "pay": "5x",
        "bonus": "",
        "valid_from": "2026-07-01",
        "valid_until": "2026-06-01",
        "per_member_limit": "",
        "status": "active",
    }
    refused = marketing.post("/console/stored-value/packages/new", data=form)
    assert refused.status_code == 422
    assert refused.text.count('class="field-error"') >= 2
    assert session.scalars(select(RechargePackage)).all() == []
    # Dates in the wrong order: the service's refusal, beside the last day.
    form |= {"name": "倒序", "pay": "100"}
    refused = marketing.post("/console/stored-value/packages/new", data=form)
    assert refused.status_code == 422
    assert re.search(r'has-error">\s*<span class="label">停售日期', refused.text)


def test_a_cashier_reads_the_packages_but_does_not_edit_them(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    package = make_package(session)
    cashier = signed_in(Role.cashier, [store])
    listing = cashier.get("/console/stored-value/packages")
    assert listing.status_code == 200
    assert "充500送50" in listing.text
    assert "/console/stored-value/packages/new" not in listing.text
    assert cashier.get("/console/stored-value/packages/new").status_code == 403
    edit = f"/console/stored-value/packages/{package.id}/edit"
    assert cashier.get(edit).status_code == 403
    assert cashier.post(edit, data={**csrf(cashier), "name": "x"}).status_code == 403
    status = f"/console/stored-value/packages/{package.id}/status"
    assert cashier.post(status, data={**csrf(cashier), "status": "inactive"}).status_code == 403


# --- the till -----------------------------------------------------------------------------------


def test_the_till_finds_the_member_by_a_scanned_code_or_by_mobile(
    signed_in: Client, session: Session
) -> None:
    home, other = make_store(session), make_store(session)
    member = make_member(session, other, mobile="13912340001")
    cashier = signed_in(Role.cashier, [home])
    # Registered at another store: not readable by id before a lookup.
    assert cashier.get(f"/console/members/{member.id}/stored-value").status_code == 404
    code = codes.issue_code(session, SYSTEM, member.id).code
    found = cashier.post(
        "/console/stored-value/till", data={**csrf(cashier), "member": code}, follow_redirects=False
    )
    assert found.headers["location"] == f"/console/members/{member.id}/stored-value"
    assert cashier.get(found.headers["location"]).status_code == 200

    by_mobile = cashier.post(
        "/console/stored-value/till",
        data={**csrf(cashier), "member": "139 1234 0001"},
        follow_redirects=False,
    )
    assert by_mobile.headers["location"] == f"/console/members/{member.id}/stored-value"

    for typed in ("13900000000", "000000000099999999", "abc"):
        missed = cashier.post("/console/stored-value/till", data={**csrf(cashier), "member": typed})
        assert missed.status_code == 404
        assert "没有找到这位会员" in missed.text


# --- recharge -----------------------------------------------------------------------------------


def test_a_package_recharge_loads_principal_and_bonus_once(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    package = make_package(session)
    cashier = signed_in(Role.cashier, [store])
    page = cashier.get(f"/console/members/{member.id}/stored-value")
    assert "充500送50" in texts(page.text)
    form = recharge_form(cashier, member.id, store_id=str(store.id), package_id=str(package.id))
    done = cashier.post(
        f"/console/members/{member.id}/stored-value/recharge", data=form, follow_redirects=False
    )
    assert done.status_code == 303
    # The same form sent twice (a double click) recharges once.
    again = cashier.post(
        f"/console/members/{member.id}/stored-value/recharge", data=form, follow_redirects=False
    )
    assert again.status_code == 303
    assert account(session, member.id) == (50_000, 5_000)
    (record,) = session.scalars(select(Recharge))
    assert (record.payment_method, record.payment_reference) == ("wechat_pay", "WX-0001")
    assert (record.store_id, record.package_id) == (store.id, package.id)

    shown = texts(cashier.get(done.headers["location"]).text)
    assert "已充值，到账 ¥550.00" in shown
    for amount in ("¥550.00", "¥500.00", "¥50.00"):
        assert amount in shown
    assert f"充值 #{record.id}" in shown


def test_the_prepaid_card_rules_are_said_plainly_and_nothing_is_written(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    cashier = signed_in(Role.cashier, [store])
    url = f"/console/members/{member.id}/stored-value/recharge"

    big = cashier.post(
        url, data=recharge_form(cashier, member.id, store_id=str(store.id), amount="10000")
    )
    assert big.status_code == 422
    assert "单笔充值 ¥10,000.00 起需填写会员实名信息" in texts(big.text)
    # The real-name inputs are shown with the refusal beside them.
    assert re.search(r'data-testid="sv-real-name"\s*>', big.text)

    over = cashier.post(
        url, data=recharge_form(cashier, member.id, store_id=str(store.id), amount="5000.01")
    )
    assert over.status_code == 409
    assert "超出储值余额上限：当前余额 ¥0.00，上限 ¥5,000.00" in texts(over.text)
    assert account(session, member.id) == (0, 0)

    neither = cashier.post(url, data=recharge_form(cashier, member.id, store_id=str(store.id)))
    assert neither.status_code == 422
    assert "请选择套餐或输入金额" in texts(neither.text)
    assert session.scalars(select(Recharge)).all() == []


def test_a_real_name_recharge_with_the_details_goes_through(
    signed_in: Client, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifted = get_settings().model_copy(update={"stored_value_cap": 5_000_000})
    monkeypatch.setattr(recharges, "get_settings", lambda: lifted)
    store = make_store(session)
    member = make_member(session, store)
    cashier = signed_in(Role.cashier, [store])
    form = recharge_form(
        cashier,
        member.id,
        store_id=str(store.id),
        amount="12000",
        real_name="林晓",
        id_number="310101199001011234",
    )
    done = cashier.post(
        f"/console/members/{member.id}/stored-value/recharge", data=form, follow_redirects=False
    )
    assert done.status_code == 303
    (record,) = session.scalars(select(Recharge))
    assert (record.principal, record.real_name) == (1_200_000, "林晓")


def test_the_cooling_off_refund_and_the_account_refund(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    payment = recharges.Payment("cash", "")
    first = recharges.recharge(session, SYSTEM, member.id, store.id, payment, amount=20_000)
    manager = signed_in(Role.store_manager, [store])
    page = manager.get(f"/console/members/{member.id}/stored-value")
    assert f"/stored-value/recharges/{first.id}/refund" in page.text
    assert "sv-account-refund" not in page.text  # finance's
    refunded = manager.post(
        f"/console/members/{member.id}/stored-value/recharges/{first.id}/refund",
        data=csrf(manager),
    )
    assert "充值已退款，退还本金 ¥200.00" in texts(refunded.text)
    assert account(session, member.id) == (0, 0)
    again = manager.post(
        f"/console/members/{member.id}/stored-value/recharges/{first.id}/refund",
        data=csrf(manager),
    )
    assert "已退过款" in texts(again.text)

    with clock.frozen(NOW - timedelta(days=8)):
        old = recharges.recharge(session, SYSTEM, member.id, store.id, payment, amount=30_000)
    late = manager.post(
        f"/console/members/{member.id}/stored-value/recharges/{old.id}/refund", data=csrf(manager)
    )
    assert "已过冷静期" in texts(late.text)
    assert (
        manager.post(
            f"/console/members/{member.id}/stored-value/refund",
            data={**csrf(manager), "store_id": str(store.id), "reason": "closing"},
        ).status_code
        == 403
    )

    finance = signed_in(Role.hq_finance)
    no_reason = finance.post(
        f"/console/members/{member.id}/stored-value/refund",
        data={**csrf(finance), "store_id": "hq", "reason": ""},
    )
    assert no_reason.status_code == 422
    paid = finance.post(
        f"/console/members/{member.id}/stored-value/refund",
        data={**csrf(finance), "store_id": "hq", "reason": "会员注销"},
    )
    assert "已退还本金 ¥300.00" in texts(paid.text)
    assert account(session, member.id) == (0, 0)
    kinds = [
        e.kind for e in session.scalars(select(StoredValueEntry).order_by(StoredValueEntry.id))
    ]
    assert kinds == ["recharge", "refund", "recharge", "refund"]


def test_a_recharge_of_another_member_is_not_refunded_through_this_page(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member, other = make_member(session, store), make_member(session, store)
    theirs = recharges.recharge(
        session, SYSTEM, other.id, store.id, recharges.Payment("cash", ""), amount=10_000
    )
    manager = signed_in(Role.store_manager, [store])
    wrong = manager.post(
        f"/console/members/{member.id}/stored-value/recharges/{theirs.id}/refund",
        data=csrf(manager),
    )
    assert wrong.status_code == 404
    assert account(session, other.id) == (10_000, 0)


def test_the_stored_value_pages_in_english(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    make_package(session)
    recharges.recharge(
        session, SYSTEM, member.id, store.id, recharges.Payment("alipay", "A1"), amount=10_000
    )
    admin = signed_in(Role.hq_admin, lang="en")
    page = texts(admin.get(f"/console/members/{member.id}/stored-value").text)
    assert "Pay ¥500, get ¥50 free" in page
    for words in ("Principal", "Alipay", "Recharge #"):
        assert words in page
    assert "Recharge packages" in texts(admin.get("/console/stored-value/packages").text)
    assert "Member code or mobile" in texts(admin.get("/console/stored-value/till").text)


def test_the_sidebar_links_stored_value_for_every_staff_role(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    for role in (Role.cashier, Role.guide, Role.hq_finance):
        page = signed_in(role, [store] if role in (Role.cashier, Role.guide) else None).get(
            "/console/"
        )
        assert 'href="/console/stored-value/till"' in page.text


# --- settlement and liability -------------------------------------------------------------------


def test_the_settlement_per_store_drills_down_and_downloads(
    signed_in: Client, session: Session
) -> None:
    owned, franchise = make_store(session, code="SH001"), make_store(session, code="SH002")
    member = make_member(session, owned)
    cash = recharges.Payment("cash", "")
    recharges.recharge(session, SYSTEM, member.id, owned.id, cash, amount=30_000)
    refunded = recharges.recharge(session, SYSTEM, member.id, franchise.id, cash, amount=10_000)
    recharges.refund_recharge(session, SYSTEM, refunded.id)
    recharges.recharge(session, SYSTEM, member.id, None, cash, amount=5_000)
    finance = signed_in(Role.hq_finance)
    page = finance.get("/console/stored-value/settlement?from=2026-06-01&to=2026-06-30")
    assert page.status_code == 200
    shown = texts(page.text)
    assert "SH001" in shown
    assert "SH002" in shown
    rows = dict(re.findall(r'<tr data-store="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert "¥300.00" in texts(rows["SH001"])
    assert texts(rows["SH002"]).count("¥100.00") == 2  # recharged and refunded: net 0
    assert "¥50.00" in texts(rows["hq"])
    assert "¥350.00" in texts(rows["total"])

    drill = finance.get(
        f"/console/stored-value/settlement?from=2026-06-01&to=2026-06-30&store={franchise.id}"
    )
    movements = re.search(r'data-testid="sv-movements"(.*?)</table>', drill.text, re.S)
    assert movements
    assert re.findall(r'data-kind="(\w+)"', movements[1]) == ["recharge", "refund"]
    assert f"/console/members/{member.id}/stored-value" in movements[1]

    csv = finance.get(
        "/console/stored-value/settlement/export?from=2026-06-01&to=2026-06-30&format=csv"
    )
    assert csv.status_code == 200
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("store_id,store_code,store_name,recharged")
    assert any(line.startswith(f"{owned.id},SH001,") and "30000" in line for line in lines)
    xlsx = finance.get(
        f"/console/stored-value/settlement/export?from=2026-06-01&to=2026-06-30"
        f"&store={franchise.id}&format=xlsx"
    )
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"


def test_a_reversed_period_is_said_beside_the_dates(signed_in: Client, session: Session) -> None:
    finance = signed_in(Role.hq_finance)
    page = finance.get("/console/stored-value/settlement?from=2026-06-30&to=2026-06-01")
    assert page.status_code == 422
    assert 'class="field-error"' in page.text


def test_a_store_manager_sees_their_stores_figures_and_a_cashier_none(
    signed_in: Client, session: Session
) -> None:
    mine, other = make_store(session, code="BJ001"), make_store(session, code="BJ002")
    member = make_member(session, mine)
    cash = recharges.Payment("cash", "")
    recharges.recharge(session, SYSTEM, member.id, mine.id, cash, amount=20_000)
    recharges.recharge(session, SYSTEM, member.id, other.id, cash, amount=10_000)
    manager = signed_in(Role.store_manager, [mine])
    page = texts(manager.get("/console/stored-value/settlement").text)
    assert "BJ001" in page
    assert "BJ002" not in page
    assert manager.get(f"/console/stored-value/settlement?store={other.id}").status_code == 404
    liability = texts(manager.get("/console/stored-value/liability").text)
    assert "BJ001" in liability
    assert "¥200.00" in liability

    cashier = signed_in(Role.cashier, [mine])
    assert cashier.get("/console/stored-value/settlement").status_code == 403
    assert cashier.get("/console/stored-value/liability").status_code == 403
    assert cashier.get("/console/stored-value/liability/export?format=csv").status_code == 403
    assert "/console/stored-value/settlement" not in cashier.get("/console/stored-value/till").text


# --- counter sale and payment password ----------------------------------------------------------


def spend_form(client: TestClient, member_id: int, **fields: str) -> dict[str, str]:
    page = client.get(f"/console/members/{member_id}/stored-value")
    sale_no = re.search(r'name="sale_no" value="([^"]+)"', page.text)
    assert sale_no
    form = {
        **csrf(client),
        "sale_no": sale_no[1],
        "store_id": "",
        "amount": "",
        "receipt": "",
        "verify_by": "member_code",
        "code": "",
        "password": "",
    }
    form.update(fields)
    return form


def test_a_counter_sale_is_an_order_paid_from_stored_value_once(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    recharges.recharge(
        session, SYSTEM, member.id, store.id, recharges.Payment("cash", ""), amount=10_000
    )
    cashier = signed_in(Role.cashier, [store])
    code = codes.issue_code(session, SYSTEM, member.id).code
    form = spend_form(cashier, member.id, store_id=str(store.id), amount="30", code=code)
    url = f"/console/members/{member.id}/stored-value/spend"
    done = cashier.post(url, data=form, follow_redirects=False)
    assert done.status_code == 303
    again = cashier.post(url, data=form)
    assert "未重复扣款" in texts(again.text)
    assert account(session, member.id) == (7_000, 0)
    (order,) = session.scalars(select(Order))
    assert order.external_id == form["sale_no"]
    assert (order.member_id, order.total, order.channel) == (member.id, 3_000, "pos")
    (line,) = session.scalars(select(OrderLine))
    assert (line.sku, line.name) == ("COUNTER-SALE", "门店消费")
    statement = texts(cashier.get(f"/console/members/{member.id}/stored-value").text)
    assert "消费" in statement
    assert "-¥30.00" in statement
    assert form["sale_no"] in statement


def test_a_wrong_verification_is_said_and_counted_and_too_much_refused(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    recharges.recharge(
        session, SYSTEM, member.id, store.id, recharges.Payment("cash", ""), amount=5_000
    )
    cashier = signed_in(Role.cashier, [store])
    url = f"/console/members/{member.id}/stored-value/spend"
    wrong = cashier.post(
        url,
        data=spend_form(
            cashier,
            member.id,
            store_id=str(store.id),
            amount="10",
            verify_by="password",
            password="135790",
        ),
    )
    assert wrong.status_code == 422
    assert "会员码或支付密码不正确" in texts(wrong.text)
    session.expire_all()
    assert session.get(StoredValueAccount, member.id).failed_verifications == 1  # type: ignore[union-attr]
    code = codes.issue_code(session, SYSTEM, member.id).code
    short = cashier.post(
        url, data=spend_form(cashier, member.id, store_id=str(store.id), amount="60", code=code)
    )
    assert short.status_code == 409
    assert "储值余额不足" in texts(short.text)
    assert account(session, member.id) == (5_000, 0)
    assert session.scalars(select(Order)).all() == []


def test_the_payment_password_is_set_at_the_till_and_pays(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    recharges.recharge(
        session, SYSTEM, member.id, store.id, recharges.Payment("cash", ""), amount=5_000
    )
    cashier = signed_in(Role.cashier, [store])
    url = f"/console/members/{member.id}/stored-value/password"
    simple = cashier.post(url, data={**csrf(cashier), "new_password": "123456", "repeat": "123456"})
    assert simple.status_code == 422
    assert "密码过于简单" in texts(simple.text)
    differ = cashier.post(url, data={**csrf(cashier), "new_password": "258147", "repeat": "258148"})
    assert "两次输入不一致" in texts(differ.text)
    done = cashier.post(url, data={**csrf(cashier), "new_password": "258147", "repeat": "258147"})
    assert "支付密码已设置" in texts(done.text)
    assert "已设置支付密码" in texts(done.text)
    form = spend_form(
        cashier,
        member.id,
        store_id=str(store.id),
        amount="12.5",
        verify_by="password",
        password="258147",
    )
    paid = cashier.post(f"/console/members/{member.id}/stored-value/spend", data=form)
    assert "已扣款 ¥12.50" in texts(paid.text)
    assert account(session, member.id) == (3_750, 0)

    guide = signed_in(Role.guide, [store])
    page = guide.get(f"/console/members/{member.id}/stored-value").text
    assert 'data-testid="sv-spend"' not in page
    assert 'data-testid="sv-password"' not in page
    assert (
        guide.post(
            url, data={**csrf(guide), "new_password": "258147", "repeat": "258147"}
        ).status_code
        == 403
    )

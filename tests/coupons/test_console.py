"""The console's coupon screens through the test client: the designer and its card, status moves,
issuing to a pasted list or a file, and the member's coupons with void and transfer; who may do
what, and both languages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.console.coupon_view import Terms, card_words, face, percent_rate
from patron.console.i18n import LOCALES, catalog, translator
from patron.console.web import CSRF_FIELD
from patron.core import clock
from patron.core.actor import Role
from patron.core.reasons import Reason
from patron.coupons import holding
from patron.coupons.models import (
    Coupon,
    CouponEvent,
    CouponStatus,
    CouponTemplate,
    CouponType,
    IssueSource,
    ReturnOnRefund,
    TemplateStatus,
)
from tests.conftest import QueryCounter
from tests.factories import issue_coupon, make_coupon_template, make_member, make_store

Client = Callable[..., TestClient]
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
# Why an issue leaves a member out (coupons.recipients and issuing).
REFUSALS = (
    Reason.member_not_found,
    Reason.not_a_mobile,
    Reason.limit_reached,
    Reason.out_of_stock,
)


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_FIELD: client.headers["x-csrf"]}


def designer_form(**fields: object) -> dict[str, object]:
    """The designer's inputs for a 满100减20 valid 30 days, with `fields` changed."""
    form: dict[str, object] = {
        "name": "满100减20",
        "description": "",
        "type": "cash_off",
        "threshold": "100",
        "amount": "20",
        "validity": "days",
        "valid_days": "30",
        "per_member_limit": "1",
        "return_on_refund": "full_refund",
        "stacks_with_tier_discount": "on",
        "stacks_with_points": "on",
    }
    form.update(fields)
    return form


def texts(html: str) -> str:
    """The page's text with tags dropped and white space folded, to look for words in."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def only_template(session: Session, name: str) -> CouponTemplate:
    (template,) = session.scalars(select(CouponTemplate).where(CouponTemplate.name == name))
    return template


# --- the designer -------------------------------------------------------------------------------


def test_the_designer_saves_a_cash_off_template_and_its_page_shows_the_card(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session, code="SH001")
    marketing = signed_in(Role.hq_marketing)
    page = marketing.get("/console/coupons/new")
    assert page.status_code == 200
    assert 'data-testid="coupon-preview"' in page.text
    assert "/console/static/coupon-preview.js" in page.text

    form = designer_form(
        store_codes="SH001", exclude_skus="GIFT-CARD", channels=["pos"], total_stock="500"
    )
    saved = marketing.post(
        "/console/coupons/new", data={**csrf(marketing), **form}, follow_redirects=False
    )
    assert saved.status_code == 303
    template = only_template(session, "满100减20")
    assert saved.headers["location"] == f"/console/coupons/{template.id}"
    assert (template.type, template.status) == (CouponType.cash_off, "draft")
    assert (template.threshold, template.amount, template.valid_days) == (10000, 2000, 30)
    assert (template.total_stock, template.per_member_limit) == (500, 1)
    assert template.scope["store_ids"] == [store.id]
    assert template.scope["channels"] == ["pos"]
    assert template.scope["exclude_skus"] == ["GIFT-CARD"]

    card = texts(marketing.get(saved.headers["location"]).text)
    assert "¥20" in card
    assert "满100可用" in card
    assert "领取后 30 天内有效" in card
    assert "限门店 SH001" in card
    assert "限渠道 门店收银" in card
    assert "不含商品 GIFT-CARD" in card
    assert "草稿" in card


def test_the_designer_explains_refusals_beside_the_inputs_and_saves_nothing(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_marketing)
    before = session.scalar(select(func.count()).select_from(CouponTemplate))
    form = designer_form(amount="二十", store_codes="NOPE1", valid_days="")
    refused = marketing.post("/console/coupons/new", data={**csrf(marketing), **form})
    assert refused.status_code == 422
    shown = texts(refused.text)
    assert "请输入金额（元），最多两位小数" in shown
    assert "没有这些编码：NOPE1" in shown
    assert "必填" in shown
    # What was typed stays in the form.
    assert 'value="二十"' in refused.text
    # A percent_off needs its percent; a gift its SKU: the service's rule, beside the input.
    gift = designer_form(type="gift", gift_sku="")
    refused = marketing.post("/console/coupons/new", data={**csrf(marketing), **gift})
    assert refused.status_code == 422
    assert re.search(r'name="gift_sku"[^>]*>\s*<small class="field-error">', refused.text)
    assert session.scalar(select(func.count()).select_from(CouponTemplate)) == before


def test_each_type_reads_its_own_inputs(signed_in: Client, session: Session) -> None:
    marketing = signed_in(Role.hq_marketing)
    forms = {
        "八五折": designer_form(type="percent_off", percent_off="15", max_discount="50"),
        "代金券50": designer_form(type="voucher", amount="50"),
        "赠面膜": designer_form(type="gift", gift_sku="MASK-01", threshold="0"),
        "运费券": designer_form(type="shipping", amount="8", threshold=""),
        "双十一": designer_form(
            validity="dates", valid_from="2026-11-01", valid_until="2026-11-11", valid_days=""
        ),
    }
    for name, form in forms.items():
        answer = marketing.post(
            "/console/coupons/new",
            data={**csrf(marketing), **form, "name": name},
            follow_redirects=False,
        )
        assert answer.status_code == 303, (name, texts(answer.text))
    percent = only_template(session, "八五折")
    assert (percent.percent_off, percent.max_discount, percent.amount) == (15, 5000, None)
    assert only_template(session, "代金券50").amount == 5000
    assert only_template(session, "赠面膜").gift_sku == "MASK-01"
    assert only_template(session, "运费券").threshold == 0
    dates = only_template(session, "双十一")
    shanghai = clock.business_tz()
    assert dates.valid_from == datetime(2026, 11, 1, tzinfo=shanghai)
    assert dates.valid_until == datetime(2026, 11, 11, 23, 59, 59, tzinfo=shanghai)

    page = texts(marketing.get(f"/console/coupons/{percent.id}").text)
    assert "8.5折" in page
    assert "最高减50元" in page
    assert "2026年11月1日 至 2026年11月11日" in texts(
        marketing.get(f"/console/coupons/{dates.id}").text
    )


def test_status_moves_and_a_live_template_keeps_its_value(
    signed_in: Client, session: Session
) -> None:
    admin = signed_in(Role.hq_admin)
    template = make_coupon_template(session, status="draft", total_stock=100)
    url = f"/console/coupons/{template.id}"

    def move(status: str) -> str:
        answer = admin.post(f"{url}/status", data={**csrf(admin), "status": status})
        session.refresh(template)
        return texts(answer.text)

    assert f"优惠券“{template.name}”已启用" in move("active")
    assert template.status == "active"
    # Live: the value inputs are disabled and a save changes only name and stock.
    edit = admin.get(f"{url}/edit").text
    assert re.search(r'name="amount"[^>]*disabled', edit)
    assert "只能修改名称、说明和增加库存" in texts(edit)
    saved = admin.post(
        f"{url}/edit",
        data={
            **csrf(admin),
            **designer_form(name="满100减20 新名", amount="99", total_stock="200"),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(template)
    assert (template.name, template.amount, template.total_stock) == ("满100减20 新名", 2000, 200)
    # The stock of a live template only grows: refused beside its input.
    lower = admin.post(f"{url}/edit", data={**csrf(admin), **designer_form(total_stock="50")})
    assert lower.status_code == 409
    assert re.search(r'name="total_stock"[^>]*>\s*<small class="field-error">', lower.text)
    session.refresh(template)
    assert template.total_stock == 200

    assert "已暂停" in move("paused")
    assert "已结束" in move("ended")
    assert "不能切换到该状态" in move("active")
    assert template.status == "ended"
    assert admin.get(f"{url}/edit").status_code == 409


# --- issuing ------------------------------------------------------------------------------------


def test_issue_to_a_pasted_list_counts_and_explains_the_refused_lines(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    by_id, by_mobile, limited = (make_member(session, store) for _ in range(3))
    template = make_coupon_template(session, per_member_limit=1)
    issue_coupon(session, template, limited)
    marketing = signed_in(Role.hq_marketing)
    url = f"/console/coupons/{template.id}/issue"
    form = marketing.get(url).text
    key = re.search(r'name="issue_key" value="([^"]+)"', form)
    assert key is not None
    pasted = "\n".join(
        [str(by_id.id), by_mobile.mobile, "13900000000", "", str(limited.id), "not a number"]
    )
    body = {**csrf(marketing), "issue_key": key[1], "recipients": pasted}
    answer = marketing.post(url, data=body)
    assert answer.status_code == 200
    assert re.search(r'data-testid="issued-count">2<', answer.text)
    refused = {
        m[0]: m[1]
        for m in re.findall(r'<tr data-code="(\w+)">\s*<td class="mono">(\d+)', answer.text)
    }
    assert refused == {"member_not_found": "3", "limit_reached": "5", "not_a_mobile": "6"}
    shown = texts(answer.text)
    assert "没有这个会员" in shown
    assert "已达限领数量" in shown
    for member in (by_id, by_mobile):
        assert len(holding.member_coupons(session, member.id, None, None, 10).items) == 1

    # The same form sent again issues nothing more and shows the first result.
    again = marketing.post(url, data=body)
    assert "这是同一次提交" in texts(again.text)
    assert re.search(r'data-testid="issued-count">2<', again.text)
    assert session.scalar(select(func.count()).where(Coupon.template_id == template.id)) == 3


def test_issue_to_an_uploaded_file(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(2)]
    template = make_coupon_template(session)
    marketing = signed_in(Role.hq_marketing)
    url = f"/console/coupons/{template.id}/issue"
    content = "手机号\n" + "\n".join(m.mobile for m in members) + "\n13900000001\n"
    answer = marketing.post(
        url,
        data={**csrf(marketing), "issue_key": "upload-1", "recipients": ""},
        files={"file": ("members.csv", content.encode(), "text/csv")},
    )
    assert answer.status_code == 200, texts(answer.text)
    assert re.search(r'data-testid="issued-count">2<', answer.text)
    assert re.search(r'<tr data-code="member_not_found">\s*<td class="mono">4<', answer.text)
    issued = session.scalars(select(Coupon).where(Coupon.template_id == template.id)).all()
    assert {c.source for c in issued} == {"upload"}
    # A file of another kind is refused beside the file input.
    wrong = marketing.post(
        url,
        data={**csrf(marketing), "issue_key": "upload-2"},
        files={"file": ("members.pdf", b"%PDF", "application/pdf")},
    )
    assert wrong.status_code == 422
    assert "field-error" in wrong.text


def test_a_draft_template_issues_nothing(signed_in: Client, session: Session) -> None:
    member = make_member(session, make_store(session))
    template = make_coupon_template(session, status="draft")
    marketing = signed_in(Role.hq_marketing)
    answer = marketing.post(
        f"/console/coupons/{template.id}/issue",
        data={**csrf(marketing), "issue_key": "draft-1", "recipients": str(member.id)},
    )
    assert answer.status_code == 409
    assert "优惠券未启用，不能发放" in texts(answer.text)
    assert session.scalar(select(func.count()).where(Coupon.template_id == template.id)) == 0


# --- the member's coupons -----------------------------------------------------------------------


def test_the_member_page_shows_the_coupons_by_status(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    kept = make_coupon_template(session, name="满100减20")
    voided = make_coupon_template(
        session, name="八五折", type="percent_off", amount=None, percent_off=15, max_discount=5000
    )
    available = issue_coupon(session, kept, member)
    gone = issue_coupon(session, voided, member)
    gone.status, gone.void_reason, gone.voided_at = "void", "重复发放", NOW
    session.flush()
    admin = signed_in(Role.hq_admin)
    url = f"/console/members/{member.id}"

    page = admin.get(url).text
    assert f'data-code="{available.code}"' in page
    assert f'data-code="{gone.code}"' in page
    shown = texts(page)
    assert "满100可用" in shown
    assert "8.5折" in shown
    assert "作废：重复发放" in shown
    only_available = admin.get(url, params={"coupons": "available"}).text
    assert f'data-code="{available.code}"' in only_available
    assert f'data-code="{gone.code}"' not in only_available
    only_void = admin.get(url, params={"coupons": "void"}).text
    assert f'data-code="{available.code}"' not in only_void


def test_void_needs_a_reason_and_transfer_finds_the_member_by_mobile(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    holder, friend = make_member(session, store), make_member(session, store)
    template = make_coupon_template(session, transferable=True)
    gift, spare = issue_coupon(session, template, holder), issue_coupon(session, template, holder)
    manager = signed_in(Role.store_manager, [store])
    base = f"/console/members/{holder.id}/coupons"

    refused = manager.post(f"{base}/{spare.code}/void", data={**csrf(manager), "reason": " "})
    assert refused.status_code == 422
    session.refresh(spare)
    assert spare.status == "available"
    voided = manager.post(
        f"{base}/{spare.code}/void",
        data={**csrf(manager), "reason": "顾客要求作废"},
        follow_redirects=False,
    )
    assert voided.status_code == 303
    session.refresh(spare)
    assert (spare.status, spare.void_reason) == ("void", "顾客要求作废")
    # A void coupon is not voided again, nor given away.
    again = manager.post(f"{base}/{spare.code}/void", data={**csrf(manager), "reason": "再次"})
    assert again.status_code == 409

    unknown = manager.post(
        f"{base}/{gift.code}/transfer", data={**csrf(manager), "to": "13800000009"}
    )
    assert unknown.status_code == 422
    assert "field-error" in unknown.text
    moved = manager.post(
        f"{base}/{gift.code}/transfer",
        data={**csrf(manager), "to": friend.mobile},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    session.refresh(gift)
    assert gift.member_id == friend.id
    events = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == gift.id)).all()
    assert [(e.kind, e.from_member_id, e.to_member_id) for e in events] == [
        ("transfer", holder.id, friend.id)
    ]
    # Both members' timelines tell it; the issue too.
    holder_timeline = texts(manager.get(f"/console/members/{holder.id}").text)
    assert f"将优惠券 {gift.code} 转赠给会员 #{friend.id}" in holder_timeline
    assert f"获得优惠券“{template.name}” {spare.code}" in holder_timeline
    friend_timeline = texts(manager.get(f"/console/members/{friend.id}").text)
    assert f"收到会员 #{holder.id} 转赠的优惠券 {gift.code}" in friend_timeline
    # The code is no longer this member's: their page has no form for it.
    assert (
        manager.post(f"{base}/{gift.code}/void", data={**csrf(manager), "reason": "x"}).status_code
        == 404
    )


def test_a_template_that_is_not_transferable_offers_no_transfer(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    coupon = issue_coupon(session, make_coupon_template(session), member)
    admin = signed_in(Role.hq_admin)
    page = admin.get(f"/console/members/{member.id}").text
    assert f"/coupons/{coupon.code}/void" in page
    assert f"/coupons/{coupon.code}/transfer" not in page
    refused = admin.post(
        f"/console/members/{member.id}/coupons/{coupon.code}/transfer",
        data={**csrf(admin), "to": str(make_member(session, store).id)},
    )
    assert refused.status_code == 409
    assert "该优惠券不可转赠" in texts(refused.text)


# --- who may do what ----------------------------------------------------------------------------


def test_a_cashier_reads_coupons_but_neither_designs_nor_issues_nor_voids(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(session, transferable=True)
    coupon = issue_coupon(session, template, member)
    cashier = signed_in(Role.cashier, [store])
    assert cashier.get("/console/coupons").status_code == 200
    assert cashier.get(f"/console/coupons/{template.id}").status_code == 200
    assert "/console/coupons/new" not in cashier.get("/console/coupons").text
    for path in (
        "/console/coupons/new",
        f"/console/coupons/{template.id}/edit",
        f"/console/coupons/{template.id}/issue",
    ):
        assert cashier.get(path).status_code == 403, path
    posts = {
        "/console/coupons/new": designer_form(),
        f"/console/coupons/{template.id}/status": {"status": "ended"},
        f"/console/coupons/{template.id}/issue": {"issue_key": "k", "recipients": str(member.id)},
        f"/console/members/{member.id}/coupons/{coupon.code}/void": {"reason": "x"},
    }
    for path, form in posts.items():
        assert cashier.post(path, data={**csrf(cashier), **form}).status_code == 403, path
    session.refresh(template)
    assert template.status == "active"
    # A cashier gives a coupon away on the member's behalf, and sees no void.
    page = cashier.get(f"/console/members/{member.id}").text
    assert f"/coupons/{coupon.code}/transfer" in page
    assert f"/coupons/{coupon.code}/void" not in page


def test_a_store_manager_issues_but_does_not_design(signed_in: Client, session: Session) -> None:
    store, other = make_store(session), make_store(session)
    ours, theirs = make_member(session, store), make_member(session, other)
    template = make_coupon_template(session)
    manager = signed_in(Role.store_manager, [store])
    assert manager.get("/console/coupons/new").status_code == 403
    page = manager.get(f"/console/coupons/{template.id}").text
    assert f"/console/coupons/{template.id}/issue" in page
    assert f"/console/coupons/{template.id}/edit" not in page
    answer = manager.post(
        f"/console/coupons/{template.id}/issue",
        data={**csrf(manager), "issue_key": "m-1", "recipients": f"{ours.id}\n{theirs.id}"},
    )
    assert re.search(r'data-testid="issued-count">1<', answer.text)
    # Another store's member is not found for this manager.
    assert '<tr data-code="member_not_found">' in answer.text
    # The coupon is the store's: issued by it.
    (coupon,) = session.scalars(select(Coupon).where(Coupon.template_id == template.id))
    assert (coupon.member_id, coupon.store_id, coupon.source) == (ours.id, store.id, "manual")


def test_the_sidebar_links_coupons_for_every_staff_role(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    for role in (Role.hq_admin, Role.hq_finance, Role.store_manager, Role.cashier, Role.guide):
        home = signed_in(role, [store]).get("/console/").text
        assert 'href="/console/coupons"' in home, role


# --- both languages -----------------------------------------------------------------------------


def test_the_card_speaks_each_language() -> None:
    terms = Terms(
        type="percent_off",
        threshold=10000,
        percent_off=15,
        max_discount=5000,
        valid_days=7,
        scope={"store_ids": [3], "exclude_channels": ["delivery"]},
    )
    zh = face(terms, translator("zh"), {3: "SH001"})
    en = face(terms, translator("en"), {3: "SH001"})
    assert (zh.value, zh.kind) == ("8.5折", "折扣券")
    assert (en.value, en.kind) == ("15% off", "Percent-off")
    assert zh.conditions == ["满100可用", "最高减50元"]
    assert en.conditions == ["On ¥100 or more", "up to ¥50 off"]
    assert zh.validity == "领取后 7 天内有效"
    assert en.validity == "Valid for 7 days from issue"
    assert zh.scope == ["限门店 SH001", "不含渠道 外卖配送"]
    assert en.scope == ["Stores SH001", "Excluding channels Delivery"]
    assert [percent_rate(p, "zh") for p in (15, 20, 5, 1)] == ["8.5", "8", "9.5", "9.9"]
    cash = Terms(type="cash_off", threshold=0, amount=1950, valid_days=1)
    assert face(cash, translator("zh"), {}).value == "¥19.50"
    assert face(cash, translator("zh"), {}).conditions == ["无门槛"]
    assert face(cash, translator("en"), {}).validity == "Valid for 1 day from issue"


def test_the_preview_script_gets_every_word_in_each_language() -> None:
    for lang in LOCALES:
        words = card_words(translator(lang))["words"]
        untranslated = [key for key, text in words.items() if text == key]
        assert untranslated == [], lang
        assert all(catalog(lang).gettext(k) != k for k in words if k != "coupon.valid.days")


def test_the_coupon_pages_in_english(signed_in: Client, session: Session) -> None:
    template = make_coupon_template(session)
    admin = signed_in(Role.hq_admin, lang="en")
    listed = texts(admin.get("/console/coupons").text)
    assert "New coupon" in listed
    assert "Cash-off" in listed
    page = texts(admin.get(f"/console/coupons/{template.id}").text)
    assert "¥20" in page
    assert "On ¥100 or more" in page
    assert "Valid for 30 days from issue" in page
    designer = texts(admin.get("/console/coupons/new").text)
    assert "As the member sees it" in designer
    assert "Minimum spend" in designer
    assert "优惠券" not in designer


def test_the_member_page_makes_no_query_per_coupon(
    signed_in: Client, session: Session, count_queries: QueryCounter
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    admin = signed_in(Role.hq_admin)

    def add(n: int) -> None:
        for _ in range(n):
            issue_coupon(
                session, make_coupon_template(session, scope={"store_ids": [store.id]}), member
            )

    def queries() -> int:
        count_queries.count = 0
        assert admin.get(f"/console/members/{member.id}").status_code == 200
        return count_queries.count

    add(1)
    few = queries()
    add(4)
    assert queries() == few


def test_ids_built_from_coupon_values_exist() -> None:
    """Ids the coupon pages build from a value, as in _("coupon_type." ~ face.type)."""
    built = {f"coupon_type.{k}" for k in CouponType} | {f"coupon_status.{s}" for s in CouponStatus}
    built |= {f"template_status.{s}" for s in TemplateStatus}
    built |= {f"coupon_source.{s}" for s in IssueSource}
    built |= {f"return_on_refund.{r}" for r in ReturnOnRefund}
    built |= {f"coupons.move.{s}" for s in ("active", "paused", "ended")}
    built |= {f"flash.template_{s}" for s in ("active", "paused", "ended")}
    built |= {f"coupons.refusal.{r}" for r in REFUSALS}
    for lang in LOCALES:
        assert {k for k in built if catalog(lang).gettext(k) == k} == set(), lang


# --- the report ---------------------------------------------------------------------------------


def test_the_report_counts_per_template_and_downloads_as_csv(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    members = [make_member(session, store) for _ in range(4)]
    template = make_coupon_template(session, name="报表满减")
    coupons = [issue_coupon(session, template, m) for m in members]
    coupons[0].status, coupons[0].voided_at, coupons[0].void_reason = "void", NOW, "测试"
    session.flush()
    finance = signed_in(Role.hq_finance)
    page = finance.get("/console/coupons/report")
    assert page.status_code == 200
    row = re.search(rf'<tr id="template-{template.id}".*?</tr>', page.text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num mono[^"]*"[^>]*>([^<]*)<', row[0])
    assert cells[:5] == ["4", "0", "0", "1", "0.0%"]
    assert (
        f'href="/console/coupons/report#template-{template.id}"'
        in finance.get(f"/console/coupons/{template.id}").text
    )

    csv = finance.get("/console/coupons/report/export", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("template_id,name,type,status,issued,redeemed")
    assert any(
        line.startswith(f"{template.id},报表满减,cash_off,active,4,0,0,1,") for line in lines
    )

    # Issued after today: nothing; a day that is not one is said beside its input.
    later = finance.get("/console/coupons/report", params={"issued_from": "2026-06-19"})
    row = re.search(rf'<tr id="template-{template.id}".*?</tr>', later.text, re.S)
    assert row is not None
    assert re.findall(r'<td class="num mono[^"]*"[^>]*>([^<]*)<', row[0])[0] == "0"
    odd = finance.get("/console/coupons/report", params={"issued_from": "2026-13-01"})
    assert odd.status_code == 200
    assert "日期格式不正确" in texts(odd.text)
    # A cashier has no report.
    cashier = signed_in(Role.cashier, [store])
    assert cashier.get("/console/coupons/report").status_code == 403
    assert cashier.get("/console/coupons/report/export?format=csv").status_code == 403

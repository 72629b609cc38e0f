"""The cashier's screen (收银) through the test client: who opens it, the member by a scanned
code, lines by SKU with the catalog's price or a typed one, the quote after each change, the
commit with its receipt, and the refusals said beside their inputs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.catalog.schemas import ProductCreate
from patron.console.i18n import has_key, translator
from patron.console.web import CSRF_FIELD
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.coupons.evaluator import Refusal
from patron.members import codes
from patron.orders import presenters as order_presenters
from patron.orders.models import Order
from patron.points import accounts as points_accounts
from patron.points import queries as points_queries
from patron.points.models import EntryKind
from patron.stored_value import payments
from patron.stored_value.models import StoredValueAccount
from patron.stored_value.queries import balance as balance_of
from patron.stores.models import Store
from tests.checkout.helpers import coupon, give_points, load, tier_discount
from tests.factories import make_member, make_store

Client = Callable[..., TestClient]
NOW = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def store(session: Session) -> Store:
    return make_store(session, "SH001")


@pytest.fixture
def cashier(signed_in: Client, store: Store) -> TestClient:
    return signed_in(Role.cashier, [store])


@pytest.fixture(autouse=True)
def _products(session: Session) -> None:
    for sku, name, price in (("6901", "洗发水", 4_990), ("6902", "毛巾", 1_000)):
        data = ProductCreate(sku=sku, name=name, list_price=price)
        catalog.create_product(session, SYSTEM, data)


def texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def hidden(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]*)"', html)


def form_of(client: TestClient, html: str, **typed: str | list[str]) -> dict[str, str | list[str]]:
    """What the screen's form posts: its hidden state and the inputs' values, then `typed`."""
    form: dict[str, str | list[str]] = {CSRF_FIELD: client.headers["x-csrf"]}
    for name in ("sale_no", "store_id", "member_id", "member_code", "quote_id", "quoted"):
        found = hidden(html, name)
        if found:
            form[name] = found[0]
    for name in ("line_sku", "line_price", "line_qty"):
        form[name] = hidden(html, name)
    if 'name="coupon_auto" value="1" checked' in html:
        form["coupon_auto"] = "1"
    form["method"] = "cash"
    form.update(typed)
    return form


def test_the_screen_opens_for_tills_only(signed_in: Client, store: Store) -> None:
    page = signed_in(Role.cashier, [store]).get("/console/checkout")
    assert page.status_code == 200
    assert 'href="/console/checkout"' in page.text  # the nav entry
    assert 'data-focus="scan"' in page.text
    marketing = signed_in(Role.hq_marketing)
    assert marketing.get("/console/checkout").status_code == 403
    assert 'href="/console/checkout"' not in marketing.get("/console/").text


def test_a_scanned_code_names_the_member_masked(
    cashier: TestClient, session: Session, store: Store
) -> None:
    member = make_member(session, store, mobile="13912345678", name="林晓明")
    code = codes.issue_code(session, SYSTEM, member.id).code
    page = cashier.get("/console/checkout")
    found = cashier.post("/console/checkout/till", data=form_of(cashier, page.text, scan=code))
    assert found.status_code == 200
    shown = texts(found.text)
    assert "林**" in shown
    assert "139****5678" in shown
    assert "林晓明" not in shown
    assert "13912345678" not in shown
    assert hidden(found.text, "member_id") == [str(member.id)]
    # The code is kept to pay from stored value; the cursor moves on to the items.
    assert hidden(found.text, "member_code") == [code]
    assert 'data-focus="new_sku"' in found.text

    unknown = cashier.post(
        "/console/checkout/till", data=form_of(cashier, page.text, scan="1" * 18)
    )
    assert unknown.status_code == 422
    assert "未找到会员" in texts(unknown.text)


def test_lines_by_sku_with_the_catalog_price_or_a_typed_one(cashier: TestClient) -> None:
    page = cashier.get("/console/checkout")
    added = cashier.post(
        "/console/checkout/till", data=form_of(cashier, page.text, new_sku="6901", new_qty="2")
    )
    assert hidden(added.text, "line_sku") == ["6901"]
    assert "洗发水" in added.text
    # The same SKU again adds to its line.
    again = cashier.post(
        "/console/checkout/till", data=form_of(cashier, added.text, new_sku="6901")
    )
    assert hidden(again.text, "line_sku") == ["6901"]
    assert hidden(again.text, "line_qty") == ["3"]

    # An SKU the catalog does not know needs its price, and then is priced as typed.
    unknown = cashier.post(
        "/console/checkout/till", data=form_of(cashier, again.text, new_sku="X-1")
    )
    assert unknown.status_code == 422
    assert 'data-focus="new_price"' in unknown.text
    assert "目录中没有此商品" in texts(unknown.text)
    priced = cashier.post(
        "/console/checkout/till",
        data=form_of(cashier, again.text, new_sku="X-1", new_price="12.5"),
    )
    assert hidden(priced.text, "line_sku") == ["6901", "X-1"]
    assert hidden(priced.text, "line_price") == ["", "1250"]

    removed = cashier.post("/console/checkout/till", data=form_of(cashier, priced.text, remove="0"))
    assert hidden(removed.text, "line_sku") == ["X-1"]
    bad = cashier.post(
        "/console/checkout/till", data=form_of(cashier, removed.text, new_sku="6902", new_qty="0")
    )
    assert bad.status_code == 422
    assert "数量须为" in texts(bad.text)


def test_without_the_script_enter_answers_the_whole_page(cashier: TestClient) -> None:
    page = cashier.get("/console/checkout")
    added = cashier.post("/console/checkout", data=form_of(cashier, page.text, new_sku="6902"))
    assert added.status_code == 200
    assert "<html" in added.text
    assert "毛巾" in added.text


def test_the_screen_in_english(signed_in: Client, store: Store) -> None:
    page = signed_in(Role.cashier, [store], lang="en").get("/console/checkout")
    assert "SKU or barcode" in page.text
    assert "Ctrl+Enter" in page.text


def scanned(client: TestClient, session: Session, member_id: int) -> str:
    """The screen with the member scanned in."""
    page = client.get("/console/checkout")
    code = codes.issue_code(session, SYSTEM, member_id).code
    return client.post("/console/checkout/till", data=form_of(client, page.text, scan=code)).text


def test_the_quote_follows_each_change(cashier: TestClient, session: Session, store: Store) -> None:
    member = make_member(session, store)
    give_points(session, member, 1_000)
    load(session, member, store, 50_000)
    tier_discount(session, 10)
    held = coupon(session, member)  # 满100减20
    html = scanned(cashier, session, member.id)
    assert held.code in html
    two = cashier.post(
        "/console/checkout/till", data=form_of(cashier, html, new_sku="6901", new_qty="3")
    )
    shown = texts(two.text)
    # ¥149.70 list, 10% tier discount ¥14.97, the best coupon ¥20 off: ¥114.73 due.
    assert "¥149.70" in shown
    assert "-¥14.97" in shown
    assert "-¥20.00" in shown
    assert re.search(r'data-testid="amount-due">¥114.73<', two.text)
    assert hidden(two.text, "quote_id")
    # Points and stored value asked for: the due amount is what is left.
    paid = cashier.post(
        "/console/checkout/till",
        data=form_of(cashier, two.text, points="1000", stored_value="50"),
    )
    assert re.search(r'data-testid="amount-due">¥54.73<', paid.text), texts(paid.text)
    # More points than the member holds: said beside the points input, nothing priced.
    refused = cashier.post("/console/checkout/till", data=form_of(cashier, two.text, points="2000"))
    assert refused.status_code == 422
    assert "可用积分不足" in texts(refused.text)
    assert 'data-focus="points"' in refused.text
    assert not hidden(refused.text, "quote_id")


def commit(client: TestClient, html: str, **typed: str) -> Response:
    return client.post(
        "/console/checkout",
        data=form_of(client, html, action="commit", **typed),
        follow_redirects=False,
    )


def test_a_sale_committed_with_coupon_points_and_stored_value_and_its_receipt(
    cashier: TestClient, session: Session, store: Store
) -> None:
    member = make_member(session, store, name="林晓明")
    give_points(session, member, 1_000)
    load(session, member, store, 50_000)
    held = coupon(session, member)  # 满100减20
    html = scanned(cashier, session, member.id)
    html = cashier.post(
        "/console/checkout/till", data=form_of(cashier, html, new_sku="6901", new_qty="3")
    ).text
    html = cashier.post(
        "/console/checkout/till",
        data=form_of(cashier, html, points="1000", stored_value="50"),
    ).text
    # ¥149.70 − ¥20 coupon − ¥10 points − ¥50 stored value: ¥69.70 by WeChat.
    assert re.search(r'data-testid="amount-due">¥69.70<', html)
    done = commit(cashier, html, points="1000", stored_value="50", method="wechat_pay")
    assert done.status_code == 303, texts(done.text)
    receipt_url = done.headers["location"]
    receipt = cashier.get(receipt_url)
    assert receipt.status_code == 200
    shown = texts(receipt.text)
    assert "已收款：¥129.70" in shown
    assert held.code in shown
    assert "-¥20.00" in shown  # saved
    assert "微信支付" in shown
    assert "¥69.70" in shown
    assert "林**" in shown
    assert "林晓明" not in shown
    session.expire_all()
    order = session.scalars(select(Order).where(Order.member_id == member.id)).one()
    assert order.total == 12_970
    assert {p.method: p.amount for p in order_presenters.present(session, order).payments} == {
        "wechat_pay": 6_970,
        "points": 1_000,
        "stored_value": 5_000,
    }
    assert balance_of(session, member.id).principal == 45_000
    # The points paid are burned with the order: what is left is what it earned.
    earned = points_accounts.order_sum(session, order.id, EntryKind.earn)
    assert points_accounts.order_sum(session, order.id, EntryKind.burn) == -1_000
    assert points_queries.balance(session, member.id).available == earned
    assert f"+{earned}" in shown
    # The same screen sent again shows the same receipt: one order.
    again = commit(cashier, html, points="1000", stored_value="50", method="wechat_pay")
    assert again.headers["location"] == receipt_url
    assert session.scalars(select(Order).where(Order.member_id == member.id)).all() == [order]


def test_a_commit_of_a_sale_changed_since_its_quote_prices_it_again(
    cashier: TestClient, session: Session
) -> None:
    page = cashier.get("/console/checkout")
    html = cashier.post(
        "/console/checkout/till", data=form_of(cashier, page.text, new_sku="6902")
    ).text
    # The quantity typed but not yet priced (no change event, no script): nothing committed.
    changed = form_of(cashier, html, action="commit")
    changed["line_qty"] = ["2"]
    answer = cashier.post("/console/checkout", data=changed, follow_redirects=False)
    assert answer.status_code == 409
    assert "已重新计价" in texts(answer.text)
    assert re.search(r'data-testid="amount-due">¥20.00<', answer.text)
    assert session.scalars(select(Order)).all() == []
    done = commit(cashier, answer.text)
    assert done.status_code == 303


def test_stored_value_needs_the_members_proof_then_their_password_pays(
    cashier: TestClient, session: Session, store: Store
) -> None:
    member = make_member(session, store, mobile="13912340001")
    load(session, member, store, 10_000)
    page = cashier.get("/console/checkout")
    # Found by mobile: no code to pay with, so the member must give one or their password.
    html = cashier.post(
        "/console/checkout/till", data=form_of(cashier, page.text, scan="13912340001")
    ).text
    html = cashier.post(
        "/console/checkout/till",
        data=form_of(cashier, html, new_sku="6902", stored_value="max"),
    ).text
    assert re.search(r'data-testid="amount-due">¥0.00<', html)
    refused = commit(cashier, html, stored_value="max")
    assert refused.status_code == 422
    assert "需要会员码或支付密码" in texts(refused.text)
    assert 'data-focus="sv_verify"' in refused.text
    assert session.scalars(select(Order)).all() == []
    # The member types their payment password; a page never writes it back.
    payments.set_password(session, SYSTEM, member.id, "135790")
    wrong = commit(cashier, html, stored_value="max", sv_verify="111111")
    assert wrong.status_code == 422
    assert "111111" not in wrong.text
    assert 'data-focus="sv_verify"' in wrong.text
    done = commit(cashier, html, stored_value="max", sv_verify="135790")
    assert done.status_code == 303, texts(done.text)
    assert len(session.scalars(select(Order)).all()) == 1


def test_a_scanned_code_gone_stale_is_not_tried_but_asked_for_again(
    cashier: TestClient, session: Session, store: Store
) -> None:
    member = make_member(session, store)
    load(session, member, store, 10_000)
    html = scanned(cashier, session, member.id)
    html = cashier.post(
        "/console/checkout/till", data=form_of(cashier, html, new_sku="6902", stored_value="10")
    ).text
    # Three minutes on, the code the member showed has expired (the quote has not): trying it
    # would count as a wrong answer toward the member's lock-out.
    with clock.frozen(NOW + timedelta(minutes=3)):
        refused = commit(cashier, html, stored_value="10")
    assert refused.status_code == 422
    assert 'data-focus="sv_verify"' in refused.text
    session.expire_all()
    account = session.get(StoredValueAccount, member.id)
    assert account is not None
    assert account.failed_verifications == 0
    assert session.scalars(select(Order)).all() == []


def test_the_till_takes_only_forms_of_the_signed_in_screen(cashier: TestClient) -> None:
    page = cashier.get("/console/checkout")
    forged = form_of(cashier, page.text, new_sku="6902") | {CSRF_FIELD: "forged"}
    assert cashier.post("/console/checkout/till", data=forged).status_code == 403
    assert cashier.post("/console/checkout", data=forged).status_code == 403


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_coupon_refusal_has_words(lang: str) -> None:
    t = translator(lang)
    assert [r for r in Refusal if not has_key(f"checkout.refusal.{r.value}")] == []
    assert t("checkout.refusal.below_threshold") != "checkout.refusal.below_threshold"


def test_coupons_chosen_by_hand_instead_of_the_best(
    cashier: TestClient, session: Session, store: Store
) -> None:
    member = make_member(session, store)
    held = coupon(session, member)  # 满100减20
    html = scanned(cashier, session, member.id)
    html = cashier.post(
        "/console/checkout/till", data=form_of(cashier, html, new_sku="6901", new_qty="3")
    ).text
    assert re.search(r'data-testid="amount-due">¥129.70<', html)
    # "Pick the best" unticked and no coupon ticked: none taken.
    by_hand = form_of(cashier, html)
    del by_hand["coupon_auto"]
    none = cashier.post("/console/checkout/till", data=by_hand).text
    assert re.search(r'data-testid="amount-due">¥149.70<', none)
    ticked = cashier.post("/console/checkout/till", data=by_hand | {"coupon": held.code}).text
    assert re.search(r'data-testid="amount-due">¥129.70<', ticked)
    assert re.search(rf'value="{held.code}" checked>', ticked)
    # Below its threshold the coupon is refused, and the screen says why.
    # The screen keeps "pick the best" unticked.
    small = form_of(cashier, ticked, line_qty=["1"]) | {"coupon": held.code}
    assert "coupon_auto" not in small
    below = cashier.post("/console/checkout/till", data=small).text
    assert re.search(r'data-testid="amount-due">¥49.90<', below)
    assert "未达使用门槛" in texts(below)


def test_hq_chooses_the_store_of_the_sale(
    signed_in: Client, store: Store, session: Session
) -> None:
    make_store(session, "SH002")
    admin = signed_in(Role.hq_admin)
    page = admin.get("/console/checkout")
    assert '<select name="store_id">' in page.text
    unplaced = admin.post("/console/checkout/till", data=form_of(admin, page.text, new_sku="6902"))
    assert unplaced.status_code == 422
    assert not hidden(unplaced.text, "quote_id")
    placed = admin.post(
        "/console/checkout/till",
        data=form_of(admin, unplaced.text, store_id=str(store.id)),
    )
    assert placed.status_code == 200
    assert hidden(placed.text, "quote_id")

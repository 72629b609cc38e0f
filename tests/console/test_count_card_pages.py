"""The console's count-card screens through the test client: products (HQ edits, the till
reads), a sale to a member, uses down to none left, revoking today's use; who may do what."""

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
from patron.count_cards import cards, products, uses
from patron.count_cards.models import CountCard, CountCardProduct, CountCardUse
from patron.stored_value import payments, recharges
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
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


def make_product(session: Session, uses_: int = 2) -> CountCardProduct:
    values = {"name": "面部护理", "service": "面部护理", "uses": uses_, "price": 19_900}
    return products.save_product(session, SYSTEM, values)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, name
    return found[1]


def test_marketing_creates_and_edits_a_product_and_a_cashier_cannot(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_marketing)
    assert marketing.get("/console/count-cards/new").status_code == 200
    form = {
        **csrf(marketing),
        "name": "面部护理10次卡",
        "service": "面部护理",
        "uses": "10",
        "validity_days": "365",
        "price": "1280",
        "active": "on",
    }
    done = marketing.post("/console/count-cards/new", data=form, follow_redirects=False)
    assert done.status_code == 303
    (product,) = session.scalars(select(CountCardProduct))
    assert (product.uses, product.validity_days, product.price) == (10, 365, 128_000)
    refused = marketing.post(
        f"/console/count-cards/{product.id}/edit", data={**form, "uses": "0", "price": "x"}
    )
    assert refused.status_code == 422
    assert refused.text.count('class="field-error"') == 2
    marketing.post(f"/console/count-cards/{product.id}/edit", data={**form, "uses": "12"})
    session.expire_all()
    assert product.uses == 12
    marketing.post(f"/console/count-cards/{product.id}/toggle", data=csrf(marketing))
    session.expire_all()
    assert product.active is False

    store = make_store(session)
    cashier = signed_in(Role.cashier, [store])
    listing = cashier.get("/console/count-cards")
    assert "面部护理10次卡" in listing.text
    assert "/console/count-cards/new" not in listing.text
    assert cashier.get("/console/count-cards/new").status_code == 403
    assert cashier.post("/console/count-cards/new", data=form).status_code == 403
    toggle = cashier.post(f"/console/count-cards/{product.id}/toggle", data=csrf(cashier))
    assert toggle.status_code == 403


def test_a_card_sold_used_to_none_left_and_todays_use_revoked(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session, code="SH001")
    member = make_member(session, store)
    product = make_product(session, uses_=2)
    cashier = signed_in(Role.cashier, [store])
    url = f"/console/members/{member.id}/count-cards"
    page = cashier.get(url)
    assert page.status_code == 200
    sale = {
        **csrf(cashier),
        "form_key": field(page.text, "form_key"),
        "product_id": str(product.id),
        "store_id": str(store.id),
        "method": "wechat_pay",
        "reference": "WX-9",
    }
    sold = cashier.post(url, data=sale)
    assert "已售出“面部护理”" in texts(sold.text)
    cashier.post(url, data=sale)  # the same form again sells nothing more
    (card,) = session.scalars(select(CountCard))
    assert (card.uses_left, card.price, card.payment_reference) == (2, 19_900, "WX-9")

    def use_once() -> str:
        page = cashier.get(url)
        key = re.search(rf'name="form_key" value="([^"]+-{card.id})"', page.text)
        assert key
        used = cashier.post(
            f"{url}/{card.id}/use",
            data={**csrf(cashier), "form_key": key[1], "store_id": str(store.id)},
        )
        return texts(used.text)

    assert "已核销：面部护理 (1)" in use_once()
    assert "已核销：面部护理 (0)" in use_once()
    after = cashier.get(url).text
    assert "已用完" in texts(after)
    assert f'{url}/{card.id}/use"' not in after
    late = cashier.post(
        f"{url}/{card.id}/use",
        data={**csrf(cashier), "form_key": "another", "store_id": str(store.id)},
    )
    assert "已没有剩余次数" in texts(late.text)

    first_use = session.scalars(select(CountCardUse).order_by(CountCardUse.id)).first()
    assert first_use
    revoked = cashier.post(f"{url}/{card.id}/uses/{first_use.id}/revoke", data=csrf(cashier))
    assert "已撤销“面部护理”的一次使用" in texts(revoked.text)
    session.expire_all()
    assert card.uses_left == 1


def test_yesterdays_use_offers_no_revoke_and_is_refused(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    product = make_product(session)
    with clock.frozen(NOW - timedelta(days=1)):
        card = cards.sell(session, SYSTEM, member.id, store.id, product.id, cards.Payment("cash"))
        done = uses.use_card(session, SYSTEM, card.id, store.id)
    manager = signed_in(Role.store_manager, [store])
    url = f"/console/members/{member.id}/count-cards"
    assert "/revoke" not in manager.get(url).text
    refused = manager.post(f"{url}/{card.id}/uses/{done.use.id}/revoke", data=csrf(manager))
    assert "只能撤销当天的使用" in texts(refused.text)


def test_a_card_of_another_member_is_not_used_through_this_page(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member, other = make_member(session, store), make_member(session, store)
    product = make_product(session)
    theirs = cards.sell(session, SYSTEM, other.id, store.id, product.id, cards.Payment("cash"))
    cashier = signed_in(Role.cashier, [store])
    wrong = cashier.post(
        f"/console/members/{member.id}/count-cards/{theirs.id}/use",
        data={**csrf(cashier), "form_key": "k1", "store_id": str(store.id)},
    )
    assert wrong.status_code == 404
    session.expire_all()
    assert theirs.uses_left == 2


def test_a_guide_reads_the_cards_but_neither_sells_nor_uses(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    product = make_product(session)
    card = cards.sell(session, SYSTEM, member.id, store.id, product.id, cards.Payment("cash"))
    guide = signed_in(Role.guide, [store])
    url = f"/console/members/{member.id}/count-cards"
    page = guide.get(url)
    assert page.status_code == 200
    assert "card-sale" not in page.text
    assert f'{url}/{card.id}/use"' not in page.text
    denied = guide.post(
        f"{url}/{card.id}/use", data={**csrf(guide), "form_key": "k", "store_id": str(store.id)}
    )
    assert denied.status_code == 403


def test_the_count_card_pages_in_english(signed_in: Client, session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    product = make_product(session)
    cards.sell(session, SYSTEM, member.id, store.id, product.id, cards.Payment("cash"))
    admin = signed_in(Role.hq_admin, lang="en")
    page = texts(admin.get(f"/console/members/{member.id}/count-cards").text)
    for words in ("Uses left", "Available", "Use once", "Sell a card"):
        assert words in page
    assert "Count cards" in texts(admin.get("/console/count-cards").text)


def test_a_card_paid_from_stored_value_after_the_password_and_a_wrong_one_counted(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session, code="SH001")
    member = make_member(session, store)
    product = make_product(session)
    recharges.recharge(
        session, SYSTEM, member.id, store.id, recharges.Payment("cash", ""), amount=50_000
    )
    payments.set_password(session, SYSTEM, member.id, "482915")
    cashier = signed_in(Role.cashier, [store])
    url = f"/console/members/{member.id}/count-cards"
    page = cashier.get(url)
    assert 'value="stored_value"' in page.text
    sale = {
        **csrf(cashier),
        "form_key": field(page.text, "form_key"),
        "product_id": str(product.id),
        "store_id": str(store.id),
        "method": "stored_value",
        "verify_by": "password",
        "password": "111222",
    }
    wrong = cashier.post(url, data=sale)
    assert wrong.status_code == 422
    session.expire_all()
    account = session.get(StoredValueAccount, member.id)
    assert account is not None
    assert (account.failed_verifications, account.principal) == (1, 50_000)
    assert session.scalars(select(CountCard)).first() is None

    sold = cashier.post(url, data={**sale, "password": "482915"})
    assert "已售出“面部护理”" in texts(sold.text)
    session.expire_all()
    (card,) = session.scalars(select(CountCard))
    entry = session.scalars(
        select(StoredValueEntry).where(StoredValueEntry.count_card_id == card.id)
    ).one()
    assert (entry.principal, account.principal, account.failed_verifications) == (
        -19_900,
        30_100,
        0,
    )

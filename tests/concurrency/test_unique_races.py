"""Every unique constraint a request can break, raced over HTTP on PostgreSQL: the constraint
decides and the losers hear its 409 code (never 500), or, where a request edits a row it may
have to create (a member's attribute value or consent, a staff user's store scopes), the
requests take turns and all succeed. The creates of a store, staff user, category and product
are raced in test_races.py; the order file import is tested with the importer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from patron.catalog.models import Category, Product
from patron.core.actor import SYSTEM, Role
from patron.members import attributes
from patron.members.models import AttributeType, MemberAttributeValue, MemberConsent
from patron.members.schemas import AttributeCreate
from patron.orders.models import Order
from patron.staff.models import StaffStoreScope
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_staff, make_store, order_body

RACERS = 8


def statuses(api: Api, calls: list[Callable[[], Any]]) -> Counter[tuple[int, str | None]]:
    """The racers' (status, problem code) counts."""
    results = race(len(calls), lambda n: calls[n]())
    assert not [r for r in results if isinstance(r, Exception)], results
    return Counter(
        (r.status_code, r.json()["code"] if r.status_code >= 400 else None) for r in results
    )


def one_wins(code: str, created: int = 201) -> Counter[tuple[int, str | None]]:
    return Counter({(created, None): 1, (409, code): RACERS - 1})


def test_one_mobile_registered_at_once(api: Api) -> None:
    with api.factory.begin() as session:
        store_id = make_store(session).id
    body = {"mobile": "13800009999", "name": "并发", "store_id": store_id}
    answered = statuses(api, [lambda: api.post("/members", body)] * RACERS)
    assert answered == one_wins("member_exists")


def test_one_mobile_given_to_several_members_at_once(api: Api) -> None:
    with api.factory.begin() as session:
        store = make_store(session)
        members = [make_member(session, store).id for _ in range(RACERS)]
    calls = [
        lambda m=m: api.call("PATCH", f"/members/{m}", {"mobile": "13800008888"}) for m in members
    ]
    assert statuses(api, calls) == one_wins("member_exists", created=200)


def test_one_card_added_to_several_members_at_once(api: Api) -> None:
    with api.factory.begin() as session:
        store = make_store(session)
        members = [make_member(session, store).id for _ in range(RACERS)]
    card = {"type": "card_no", "value": "8800009999"}
    calls = [lambda m=m: api.post(f"/members/{m}/identities", card) for m in members]
    assert statuses(api, calls) == one_wins("identity_taken")


def test_one_attribute_code_defined_at_once(api: Api) -> None:
    body = {"code": "race_attr", "label": "并发", "type": "text"}
    answered = statuses(api, [lambda: api.post("/member-attributes", body)] * RACERS)
    assert answered == one_wins("attribute_exists")


def test_one_members_attribute_set_at_once(api: Api) -> None:
    """pk_member_attribute_values: the edits take turns; the last one stands."""
    with api.factory.begin() as session:
        definition = attributes.create_attribute(
            session,
            SYSTEM,
            AttributeCreate(code="race_skin", label="肤质", type=AttributeType.text),
        )
        member_id = make_member(session, make_store(session)).id
    calls = [
        lambda n=n: api.call("PATCH", f"/members/{member_id}", {"attributes": {"race_skin": n}})
        for n in map(str, range(RACERS))
    ]
    assert statuses(api, calls) == Counter({(200, None): RACERS})
    with api.factory() as session:
        held = select(func.count()).where(
            MemberAttributeValue.member_id == member_id,
            MemberAttributeValue.attribute_id == definition.id,
        )
        assert session.scalar(held) == 1


def test_one_members_consent_set_at_once(api: Api) -> None:
    """pk_member_consents: the edits take turns, each recorded in the history."""
    with api.factory.begin() as session:
        member_id = make_member(session, make_store(session)).id
    calls = [
        lambda n=n: api.call(
            "PUT", f"/members/{member_id}/consents", {"channel": "sms", "granted": n % 2 == 0}
        )
        for n in range(RACERS)
    ]
    assert statuses(api, calls) == Counter({(200, None): RACERS})
    history = api.client.get(
        f"/api/v1/members/{member_id}/consents/history", headers=api.headers
    ).json()
    assert len(history) == RACERS
    with api.factory() as session:
        current = session.get(MemberConsent, (member_id, "sms"))
        assert current is not None
        assert current.granted == history[-1]["granted"]


def test_one_staff_users_stores_set_at_once(api: Api) -> None:
    """pk_staff_store_scopes: the edits take turns; the last one's stores stand."""
    with api.factory.begin() as session:
        shops = [make_store(session) for _ in range(3)]
        user_id = make_staff(session, Role.cashier, [shops[0]]).id
    choices = [[s.id for s in shops[: 1 + n % 3]] for n in range(RACERS)]
    calls = [
        lambda ids=ids: api.call("PATCH", f"/staff/{user_id}", {"store_ids": ids})
        for ids in choices
    ]
    assert statuses(api, calls) == Counter({(200, None): RACERS})
    with api.factory() as session:
        kept = session.scalars(
            select(StaffStoreScope.store_id).where(StaffStoreScope.staff_id == user_id)
        ).all()
        assert sorted(kept) in [sorted(ids) for ids in choices]


@pytest.fixture
def till(api: Api) -> dict[str, Any]:
    with api.factory.begin() as session:
        store = make_store(session)
    return {"store": store}


def test_one_order_number_sent_under_several_keys_at_once(api: Api, till: dict[str, Any]) -> None:
    """uq_orders_store_id_external_id on `POST /orders`: the constraint answers the insert, which
    writes nothing for the losers, and they are `order_exists`."""
    body = order_body(till["store"], "RACE-EXT-1")
    answered = statuses(api, [lambda: api.post("/orders", body)] * RACERS)
    assert answered == one_wins("order_exists")
    with api.factory() as session:
        taken = select(func.count()).where(Order.external_id == "RACE-EXT-1")
        assert session.scalar(taken) == 1


def test_one_order_sent_under_one_key_at_once(api: Api, till: dict[str, Any]) -> None:
    """The idempotency key's claim waits for the first request: the rest replay its answer."""
    body = order_body(till["store"], "RACE-EXT-2")
    headers = {**api.headers, "Idempotency-Key": "one-key"}
    results = race(RACERS, lambda _: api.client.post("/api/v1/orders", json=body, headers=headers))
    assert sorted(r.status_code for r in results) == [200] * (RACERS - 1) + [201]
    assert len({r.json()["id"] for r in results}) == 1


def test_new_products_brought_by_orders_at_once(api: Api, till: dict[str, Any]) -> None:
    """uq_products_sku and uq_categories_code on the order path: orders bringing the same new
    skus (in either order) create each product and category once."""
    lines = [
        {"sku": f"RACE-NEW-{n}", "name": "新品", "category_code": f"RACE-CAT-{n}"}
        | {"quantity": 1, "unit_price": 1000, "paid": 1000}
        for n in range(2)
    ]
    bodies = [
        order_body(
            till["store"],
            items=lines if n % 2 else lines[::-1],
            payments=[{"method": "cash", "amount": 2000}],
        )
        for n in range(RACERS)
    ]
    calls = [lambda b=b: api.post("/orders", b) for b in bodies]
    assert statuses(api, calls) == Counter({(201, None): RACERS})
    with api.factory() as session:
        skus = select(func.count()).where(Product.sku.like("RACE-NEW-%"))
        codes = select(func.count()).where(Category.code.like("RACE-CAT-%"))
        assert (session.scalar(skus), session.scalar(codes)) == (2, 2)

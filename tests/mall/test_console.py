"""The console's mall screens through the test client: HQ creates and edits items, every role
reads them; redemptions are listed by status and store, handed over at the store, shipped and
cancelled."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.console.web import CSRF_FIELD
from patron.core.actor import SYSTEM, Role
from patron.mall import redemption
from patron.mall.models import MallItem, MallRedemption
from tests.factories import make_coupon_template, make_member, make_store
from tests.mall.helpers import available, give, make_item

Client = Callable[..., TestClient]


def csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_FIELD: client.headers["x-csrf"]}


def test_marketing_creates_and_edits_items_and_a_cashier_reads_them(
    signed_in: Client, session: Session
) -> None:
    marketing = signed_in(Role.hq_marketing)
    assert marketing.get("/console/mall/new").status_code == 200
    form = {
        **csrf(marketing),
        "kind": "product",
        "name": "保温杯",
        "name_en": "Thermos",
        "points_price": "800",
        "cash_price": "9.90",
        "pickup": "on",
        "stock": "20",
        "per_member_limit": "2",
        "valid_until": "2030-12-31",
        "active": "on",
    }
    made = marketing.post("/console/mall/new", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    item = session.scalars(select(MallItem)).one()
    assert (item.cash_price, item.fulfilment, item.stock) == (990, "pickup", 20)
    refused = marketing.post("/console/mall/new", data={**form, "pickup": ""})
    assert refused.status_code == 422
    template = make_coupon_template(session)
    coupon = {**csrf(marketing), "kind": "coupon", "name": "满100减20", "points_price": "300"}
    no_template = marketing.post("/console/mall/new", data=coupon)
    assert no_template.status_code == 422
    ok = marketing.post(
        "/console/mall/new",
        data={**coupon, "coupon_template_id": str(template.id), "active": "on"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    edit = {**form, "points_price": "900"}
    saved = marketing.post(f"/console/mall/{item.id}/edit", data=edit, follow_redirects=False)
    assert saved.status_code == 303
    session.expire_all()
    assert item.points_price == 900
    marketing.post(f"/console/mall/{item.id}/toggle", data=csrf(marketing))
    session.expire_all()
    assert item.active is False
    cashier = signed_in(Role.cashier, [make_store(session)])
    page = cashier.get("/console/mall")
    assert page.status_code == 200
    assert "保温杯" in page.text
    assert "/console/mall/new" not in page.text
    assert cashier.get("/console/mall/new").status_code == 403


def test_redemptions_are_handed_over_shipped_and_cancelled(
    signed_in: Client, session: Session
) -> None:
    store = make_store(session)
    member = make_member(session, store)
    give(session, member.id, 3000)
    cup = make_item(session)
    picked = redemption.redeem(
        session, SYSTEM, member.id, cup.id, 1, redemption.Delivery("pickup", store.id)
    )
    sent = redemption.redeem(
        session,
        SYSTEM,
        member.id,
        cup.id,
        1,
        redemption.Delivery("delivery", None, "张三", "13800000000", "上海"),
    )
    cashier = signed_in(Role.cashier, [store], lang="en")
    listed = cashier.get("/console/mall/redemptions", params={"status": "pending"})
    assert listed.status_code == 200
    assert f'data-redemption="{picked.id}"' in listed.text
    assert f'data-redemption="{sent.id}"' not in listed.text  # a delivery: HQ's
    handed = cashier.post(
        f"/console/mall/redemptions/{picked.id}/hand-over",
        data=csrf(cashier),
        follow_redirects=False,
    )
    assert handed.status_code == 303
    session.expire_all()
    assert session.get(MallRedemption, picked.id).status == "handed_over"  # type: ignore[union-attr]
    hq = signed_in(Role.hq_admin)
    hq.post(f"/console/mall/redemptions/{sent.id}/ship", data={**csrf(hq), "tracking": "SF9"})
    session.expire_all()
    assert session.get(MallRedemption, sent.id).tracking == "SF9"  # type: ignore[union-attr]
    again = redemption.redeem(
        session, SYSTEM, member.id, cup.id, 1, redemption.Delivery("pickup", store.id)
    )
    before = available(session, member.id)
    hq.post(f"/console/mall/redemptions/{again.id}/cancel", data={**csrf(hq), "reason": "不要了"})
    session.expire_all()
    assert session.get(MallRedemption, again.id).status == "cancelled"  # type: ignore[union-attr]
    assert available(session, member.id) == before + 500
    assert (
        cashier.post(
            f"/console/mall/redemptions/{again.id}/cancel", data={**csrf(cashier), "reason": "x"}
        ).status_code
        == 403
    )

"""Plain factory functions building test data through the services."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from patron.apikeys import service as apikeys
from patron.apikeys.schemas import ApiKeyCreate
from patron.core.actor import HQ_ROLES, SYSTEM, Role
from patron.core.settings import Settings
from patron.coupons.models import Coupon, CouponTemplate
from patron.members import registration
from patron.members.models import Member
from patron.members.schemas import MemberCreate
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate
from patron.staff import service as staff
from patron.staff.models import StaffUser
from patron.staff.schemas import StaffCreate
from patron.stores import regions
from patron.stores import service as stores
from patron.stores.models import Region, Store, StoreType
from patron.stores.schemas import RegionCreate, StoreCreate

PASSWORD = "Secret#2026"
_seq = itertools.count(1)


def make_store(session: Session, code: str | None = None, **fields: object) -> Store:
    n = next(_seq)
    data = {
        "code": code or f"T{n:04d}",
        "name": f"测试门店{n}",
        "type": StoreType.owned,
        "city": "上海",
    }
    data.update(fields)
    return stores.create_store(session, SYSTEM, StoreCreate.model_validate(data))


def make_region(session: Session, stores_: list[Store] | None = None, code: str = "") -> Region:
    n = next(_seq)
    data = RegionCreate(
        code=code or f"R{n:04d}", name=f"测试区域{n}", store_ids=[s.id for s in stores_ or []]
    )
    return regions.create_region(session, SYSTEM, data)


def make_staff(
    session: Session,
    role: Role = Role.hq_admin,
    stores_: list[Store] | None = None,
    username: str | None = None,
    password: str = PASSWORD,
    regions_: list[Region] | None = None,
) -> StaffUser:
    """A staff user; a regional manager is scoped to `regions_`, any other role to `stores_`
    (none: all stores)."""
    all_stores = role is not Role.regional_manager and (role in HQ_ROLES or not stores_)
    return staff.create_staff(
        session,
        SYSTEM,
        StaffCreate(
            username=username or f"user{next(_seq)}",
            password=password,
            role=role,
            all_stores=all_stores,
            store_ids=[] if all_stores else [s.id for s in stores_ or []],
            region_ids=[r.id for r in regions_ or []],
        ),
    )


def token_for(user: StaffUser, settings: Settings) -> str:
    return staff.issue_token(user, settings).token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_headers(user: StaffUser, settings: Settings) -> dict[str, str]:
    return auth(token_for(user, settings))


def make_api_key(session: Session, stores_: list[Store] | None = None, name: str = "POS") -> str:
    store_ids = [s.id for s in stores_ or []]
    created = apikeys.create_key(
        session, SYSTEM, ApiKeyCreate(name=name, all_stores=not store_ids, store_ids=store_ids)
    )
    return created.key


def make_member(
    session: Session, store: Store | None = None, mobile: str | None = None, **fields: object
) -> Member:
    n = next(_seq)
    data: dict[str, object] = {
        "mobile": mobile or f"139{n:08d}",
        "name": "张伟",
        "store_id": store.id if store else None,
    }
    data.update(fields)
    return registration.register_member(session, SYSTEM, MemberCreate.model_validate(data))


def order_body(store: Store, external_id: str | None = None, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "external_id": external_id or f"POS-{next(_seq)}",
        "store_id": store.id,
        "channel": "pos",
        "occurred_at": "2026-01-05T10:00:00+08:00",
        "items": [
            {
                "sku": "SKU-1",
                "name": "洗发水",
                "category_code": "CARE",
                "quantity": 2,
                "unit_price": 4990,
                "discount": 980,
                "paid": 9000,
            },
            {
                "sku": "SKU-2",
                "name": "毛巾",
                "category_code": "HOME",
                "quantity": 3,
                "unit_price": 1000,
                "discount": 0,
                "paid": 3000,
            },
        ],
        "payments": [{"method": "wechat_pay", "amount": 12000}],
    }
    body.update(fields)
    return body


def make_order(
    session: Session, store: Store, member: Member | None = None, **fields: object
) -> Order:
    from patron.orders import service as orders

    body = order_body(store, member_id=member.id if member else None, **fields)
    return orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


def make_coupon_template(session: Session, **fields: object) -> CouponTemplate:
    """A template through the service; by default an ACTIVE cash_off 满100减20 valid 30 days."""
    from patron.coupons import templates

    data: dict[str, object] = {
        "name": f"满100减20 #{next(_seq)}",
        "type": "cash_off",
        "status": "active",
        "threshold": 10000,
        "amount": 2000,
        "valid_days": 30,
    }
    data.update(fields)
    return templates.create_template(session, SYSTEM, data)


def issue_coupon(session: Session, template: CouponTemplate, member: Member, **kw: Any) -> Coupon:
    """One coupon of `template` for `member` through the issuing service (source manual unless
    `source=` says otherwise); fails if the issue was refused."""
    from patron.coupons import issuing
    from patron.coupons.models import IssueSource

    kw.setdefault("source", IssueSource.manual)
    result = issuing.issue_coupons(session, SYSTEM, template.id, [member.id], **kw)
    assert result.issued, f"issue refused: {result.refused}"
    coupon = session.get(Coupon, result.issued[0].id)
    assert coupon is not None
    return coupon

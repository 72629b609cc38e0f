from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import InvalidInput
from patron.core.settings import Settings
from patron.members import attributes
from patron.members import merge as member_merge
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import adjustments, burning, jobs
from patron.points import errors as points_errors
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points import rules as points_rules
from patron.points.models import (
    ExpiryNotice,
    ExpiryPolicy,
    PointsAccount,
    PointsEntry,
    PointsLot,
)
from patron.stores.models import Store
from tests.factories import make_member, make_staff, make_store, order_body, staff_headers

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # a Monday, noon in Shanghai


def buy(
    session: Session, store: Store, member: Member, paid: int, at: datetime = T0, **extra: Any
) -> int:
    items = [
        {
            "sku": "P-1",
            "name": "商品",
            "category_code": "GEN",
            "quantity": 1,
            "unit_price": paid,
            "discount": 0,
            "paid": paid,
        }
    ]
    payments = extra.pop("payments", [{"method": "wechat_pay", "amount": paid}])
    body = order_body(
        store,
        items=items,
        payments=payments,
        member_id=member.id,
        occurred_at=at.isoformat(),
        **extra,
    )
    with clock.frozen(at):
        return orders.create_order(session, SYSTEM, OrderCreate.model_validate(body)).id


def refund_all(session: Session, order_id: int, at: datetime) -> None:
    with clock.frozen(at):
        orders.refund_order(session, SYSTEM, order_id, RefundCreate(all=True))


def state(session: Session, member: Member, at: datetime | None = None) -> tuple[int, int, int]:
    with clock.frozen(at or clock.now()):
        now = points_queries.balance(session, member.id)
    return now.available, now.pending, now.debt


@pytest.fixture
def shop(session: Session) -> tuple[Store, Member]:
    store = make_store(session)
    return store, make_member(session, store)


def test_one_point_per_yuan_not_counting_points_and_coupons(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    buy(session, store, member, 129999)
    payments = [
        {"method": "wechat_pay", "amount": 5050},
        {"method": "coupon", "amount": 2000},
        {"method": "points", "amount": 1000},
    ]
    buy(session, store, member, 8050, payments=payments)
    assert state(session, member, T0) == (1299 - 1000 + 50, 0, 0)


def test_year_end_and_rolling_expiry_dates(session: Session) -> None:
    policy = points_policy.get_policy(session)
    policy.expiry_policy = ExpiryPolicy.year_end.value
    shanghai_new_year = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)  # 2026-01-01 00:30 in Shanghai
    assert (
        points_policy.expiry_for(policy, shanghai_new_year).isoformat()
        == "2027-12-31T23:59:59+08:00"
    )  # type: ignore[union-attr]
    assert (
        points_policy.expiry_for(policy, datetime(2025, 6, 1, tzinfo=UTC)).isoformat()
        == "2026-12-31T23:59:59+08:00"
    )  # type: ignore[union-attr]
    policy.expiry_policy, policy.rolling_months = ExpiryPolicy.rolling.value, 12
    leap = datetime(2024, 2, 29, 2, 0, tzinfo=UTC)
    assert points_policy.expiry_for(policy, leap).isoformat() == "2025-02-28T23:59:59+08:00"  # type: ignore[union-attr]
    policy.rolling_months = 24
    assert points_policy.expiry_for(policy, leap).isoformat() == "2026-02-28T23:59:59+08:00"  # type: ignore[union-attr]
    assert (
        points_policy.expiry_for(policy, datetime(2025, 11, 30, 17, 0, tzinfo=UTC)).isoformat()
        == "2027-12-01T23:59:59+08:00"
    )  # type: ignore[union-attr]
    assert points_policy.add_months(date(2028, 2, 29), 48) == date(2032, 2, 29)
    policy.expiry_policy = ExpiryPolicy.never.value
    assert points_policy.expiry_for(policy, leap) is None


def test_burn_takes_earliest_expiring_first(session: Session, shop: tuple[Store, Member]) -> None:
    store, member = shop
    buy(session, store, member, 30000, at=T0)
    buy(session, store, member, 50000, at=T0 + timedelta(days=40))
    with clock.frozen(T0 + timedelta(days=41)):
        burning.burn(session, SYSTEM, member.id, 400, "兑换")
    lots = session.scalars(
        select(PointsLot).where(PointsLot.member_id == member.id).order_by(PointsLot.id)
    ).all()
    assert [lot.remaining for lot in lots] == [0, 400]


def test_insufficient_points_and_minimum(session: Session, shop: tuple[Store, Member]) -> None:
    store, member = shop
    buy(session, store, member, 15000)
    with clock.frozen(T0), pytest.raises(points_errors.InsufficientPoints):
        burning.burn(session, SYSTEM, member.id, 200, "x")
    with clock.frozen(T0), pytest.raises(InvalidInput):
        burning.burn(session, SYSTEM, member.id, 50, "x")


def test_refund_after_spending_creates_debt_that_the_next_earning_pays(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    order_id = buy(session, store, member, 30000)
    with clock.frozen(T0 + timedelta(hours=1)):
        burning.burn(session, SYSTEM, member.id, 300, "spent everything")
    refund_all(session, order_id, T0 + timedelta(hours=2))
    assert state(session, member, T0 + timedelta(hours=2)) == (0, 0, 300)
    buy(session, store, member, 50000, at=T0 + timedelta(days=1))
    assert state(session, member, T0 + timedelta(days=1)) == (200, 0, 0)
    last = session.scalars(select(PointsEntry).order_by(PointsEntry.id.desc()).limit(1)).one()
    assert (last.kind, last.points, last.debt_paid) == ("earn", 500, 300)
    assert points_queries.verify(session) == []


def test_partial_refunds_reverse_cumulatively(session: Session, shop: tuple[Store, Member]) -> None:
    store, member = shop
    items = [
        {"sku": "A", "name": "a", "quantity": 3, "unit_price": 3333, "discount": 0, "paid": 9999}
    ]
    body = order_body(
        store,
        items=items,
        payments=[{"method": "cash", "amount": 9999}],
        member_id=member.id,
        occurred_at=T0.isoformat(),
    )
    with clock.frozen(T0):
        order = orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
        line = orders.lines_of(session, order.id)[0]
        seen = []
        for _ in range(3):
            orders.refund_order(
                session,
                SYSTEM,
                order.id,
                RefundCreate.model_validate({"items": [{"line_id": line.id, "quantity": 1}]}),
            )
            seen.append(points_queries.balance(session, member.id).available)
    assert seen == [66, 33, 0]  # 99 earned: floor(99 × 3333/9999) = 33 reversed, then 66, then 99


def test_refund_restores_burned_points_unless_their_lot_expired(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    points_policy.get_policy(session).rolling_months = 1
    buy(session, store, member, 20000, at=T0)  # 200 points, expire about T0 + 1 month
    buy(
        session, store, member, 30000, at=T0 + timedelta(days=20)
    )  # 300 points, expire a month later
    spend_at = T0 + timedelta(days=21)
    spending_order = buy(
        session,
        store,
        member,
        10000,
        at=spend_at,
        payments=[{"method": "wechat_pay", "amount": 9600}, {"method": "points", "amount": 400}],
    )
    # the spending order burned 400 points and earned 96; a full refund reverses the 96 and
    # restores the 400 burned
    later = T0 + timedelta(days=45)  # the first lot (200 drawn) has expired by now
    refund_all(session, spending_order, later)
    available, pending, debt = state(session, member, later)
    assert (available, pending, debt) == (300, 0, 0)  # 200 from lot 1 lapsed, 200 back into lot 2
    restore = [
        e
        for e in points_queries.entries(session, member.id, None, 50).items
        if e.kind == "refund_restore"
    ][0]
    assert (restore.points, restore.lapsed) == (200, 200)
    assert points_queries.verify(session) == []


def test_pending_points_wait_and_a_refund_in_the_window_cancels_them(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    points_policy.get_policy(session).pending_days = 7
    kept = buy(session, store, member, 10000, at=T0)
    returned = buy(session, store, member, 20000, at=T0 + timedelta(hours=1))
    assert state(session, member, T0 + timedelta(hours=2)) == (0, 300, 0)
    refund_all(session, returned, T0 + timedelta(days=2))
    assert state(session, member, T0 + timedelta(days=2)) == (0, 100, 0)
    with clock.frozen(T0 + timedelta(days=8)):
        report = jobs.run(session, clock.now())
    assert report.released_lots == 1
    assert state(session, member, T0 + timedelta(days=8)) == (100, 0, 0)
    assert kept
    assert points_queries.verify(session) == []


def test_job_expires_notes_and_is_idempotent(session: Session, shop: tuple[Store, Member]) -> None:
    store, member = shop
    points_policy.get_policy(session).rolling_months = 1
    buy(session, store, member, 20000, at=T0)
    expiry = points_policy.expiry_for(points_policy.get_policy(session), T0)
    assert expiry is not None
    assert jobs.run(session, expiry - timedelta(days=31)).notices == 0  # not yet within 30 days
    before = expiry - timedelta(days=10)
    first = jobs.run(session, before)
    again = jobs.run(session, before)
    assert (first.notices, again.notices) == (1, 0)
    assert (
        session.scalar(select(ExpiryNotice.points).where(ExpiryNotice.member_id == member.id))
        == 200
    )
    after = expiry + timedelta(seconds=1)
    expired = jobs.run(session, after)
    repeat = jobs.run(session, after)
    assert (expired.expired_lots, expired.expired_points) == (1, 200)
    assert (repeat.expired_lots, repeat.expired_points) == (0, 0)
    account = session.get(PointsAccount, member.id)
    assert account is not None
    assert (account.available, account.pending, account.debt) == (0, 0, 0)
    assert points_queries.verify(session) == []


def test_expiry_books_one_entry_per_member_and_earning_store_by_the_job_or_a_burn(
    session: Session,
) -> None:
    points_policy.get_policy(session).rolling_months = 1
    here, there = make_store(session), make_store(session)
    members = [make_member(session, here) for _ in range(2)]
    for member in members:
        buy(session, here, member, 20000, at=T0)
        buy(session, here, member, 30000, at=T0 + timedelta(days=1))
        buy(session, there, member, 10000, at=T0)
        buy(session, here, member, 50000, at=T0 + timedelta(days=40))  # still good at `later`
    later = T0 + timedelta(days=45)
    by_burn, by_job = members
    with clock.frozen(later):
        burning.burn(session, SYSTEM, by_burn.id, 100, "spend")  # settles its own lots first
    report = jobs.run(session, later)
    assert (report.expired_lots, report.expired_points) == (3, 600)  # the other member's
    assert jobs.run(session, later).expired_lots == 0
    for member in members:
        expired = session.scalars(
            select(PointsEntry).where(
                PointsEntry.member_id == member.id, PointsEntry.kind == "expire"
            )
        ).all()
        assert sorted((e.store_id, e.points, e.lot_id, e.created_at) for e in expired) == sorted(
            [(here.id, -500, None, later), (there.id, -100, None, later)]
        )
    assert state(session, by_burn, later) == (400, 0, 0)
    assert state(session, by_job, later) == (500, 0, 0)
    assert points_queries.verify(session) == []


def test_merge_moves_lots_with_their_expiry_and_the_debt(session: Session) -> None:
    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    order_id = buy(session, store, source, 30000)
    with clock.frozen(T0):
        burning.burn(session, SYSTEM, source.id, 300, "x")
    refund_all(session, order_id, T0)
    buy(session, store, source, 50000, at=T0 + timedelta(hours=1))  # pays the 300 debt, keeps 200
    buy(session, store, target, 10000)
    source_lot = session.scalars(
        select(PointsLot).where(PointsLot.member_id == source.id, PointsLot.remaining > 0)
    ).one()
    expires = source_lot.expires_at

    with clock.frozen(T0 + timedelta(hours=2)):
        member_merge.merge_members(session, SYSTEM, source.id, target.id)
        assert points_queries.balance(session, target.id).available == 300
    session.refresh(source_lot)
    assert (source_lot.member_id, source_lot.expires_at) == (target.id, expires)
    merges = session.scalars(
        select(PointsEntry).where(PointsEntry.kind.in_(["merge_in", "merge_out"]))
    )
    assert {e.kind: (e.member_id, e.merge_partner_id) for e in merges} == {
        "merge_out": (source.id, target.id),
        "merge_in": (target.id, source.id),
    }
    assert points_queries.verify(session) == []


def test_rules_multiply_add_cap_and_stack(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    weekend = {
        "name": "周末双倍",
        "conditions": {"store_ids": [store.id], "weekdays": [6, 7]},
        "effect": "multiply",
        "amount": 200,
        "priority": 10,
    }
    per_item = {"name": "每件加5分", "effect": "add_per_item", "amount": 5, "cap_per_order": 12}
    daily = {
        "name": "每日首单加20",
        "effect": "add_per_order",
        "amount": 20,
        "cap_per_member_day": 20,
    }
    for rule in (weekend, per_item, daily):
        assert client.post("/api/v1/points/rules", json=rule, headers=headers).status_code == 201
    saturday = T0 + timedelta(days=5)
    preview = client.post(
        "/api/v1/points/preview",
        headers=headers,
        json={
            "member_id": member.id,
            "store_id": store.id,
            "occurred_at": saturday.isoformat(),
            "items": [
                {
                    "sku": "X",
                    "name": "x",
                    "quantity": 3,
                    "unit_price": 4000,
                    "discount": 0,
                    "paid": 12000,
                }
            ],
            "payments": [{"method": "cash", "amount": 12000}],
        },
    ).json()
    assert [(r["name"], r["points"]) for r in preview["rules"]] == [
        ("base", 120),
        ("周末双倍", 120),
        ("每件加5分", 12),
        ("每日首单加20", 20),
    ]
    assert preview["total"] == 272
    assert state(session, member, saturday) == (0, 0, 0)  # the preview wrote nothing
    buy(session, store, member, 12000, at=saturday)
    buy(session, store, member, 1000, at=saturday + timedelta(hours=1))
    # one unit each: the first earns 120 + 120 + 5 + 20; the second 10 + 10 + 5, its daily 20 used up
    assert state(session, member, saturday + timedelta(hours=2)) == (265 + 25, 0, 0)
    assert (
        client.post(
            "/api/v1/points/rules", json={**weekend, "amount": 90}, headers=headers
        ).status_code
        == 422
    )


def test_a_rule_that_does_not_stack_applies_alone(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    points_rules.save_rule(
        session,
        SYSTEM,
        {
            "name": "会员日 ×3",
            "effect": "multiply",
            "amount": 300,
            "priority": 5,
            "stackable": False,
            "conditions": {},
        },
    )
    points_rules.save_rule(
        session,
        SYSTEM,
        {"name": "加 10", "effect": "add_per_order", "amount": 10, "priority": 1, "conditions": {}},
    )
    buy(session, store, member, 10000)
    assert state(session, member, T0) == (300, 0, 0)


def test_birthday_month_rule(session: Session) -> None:
    store = make_store(session)
    march, may = (
        make_member(session, store, birthday="1990-03-15"),
        make_member(session, store, birthday="1990-05-01"),
    )
    points_rules.save_rule(
        session,
        SYSTEM,
        {
            "name": "生日月双倍",
            "effect": "multiply",
            "amount": 200,
            "conditions": {"birthday": "month"},
        },
    )
    buy(session, store, march, 10000)
    buy(session, store, may, 10000)
    assert (state(session, march, T0)[0], state(session, may, T0)[0]) == (200, 100)


def test_adjustments_need_a_second_approver_above_the_threshold(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    _, member = shop
    marketing = make_staff(session, Role.hq_marketing)
    finance = make_staff(session, Role.hq_finance)
    small = client.post(
        f"/api/v1/members/{member.id}/points/adjustments",
        json={"points": 500, "reason": "投诉补偿"},
        headers={**staff_headers(marketing, settings), "Idempotency-Key": "adj-1"},
    ).json()
    assert small["status"] == "applied"
    big = client.post(
        f"/api/v1/members/{member.id}/points/adjustments",
        json={"points": 8000, "reason": "活动补发"},
        headers={**staff_headers(marketing, settings), "Idempotency-Key": "adj-2"},
    ).json()
    assert big["status"] == "pending"
    assert (
        client.get(
            f"/api/v1/members/{member.id}/points", headers=staff_headers(finance, settings)
        ).json()["available"]
        == 500
    )
    admin = make_staff(session, Role.hq_admin)
    self_approve = client.post(
        f"/api/v1/points/adjustments/{big['id']}/approve", headers=staff_headers(admin, settings)
    )
    assert self_approve.status_code == 200  # a different user than the requester
    assert (
        client.get(
            f"/api/v1/members/{member.id}/points", headers=staff_headers(finance, settings)
        ).json()["available"]
        == 8500
    )
    no_reason = client.post(
        f"/api/v1/members/{member.id}/points/adjustments",
        json={"points": 5, "reason": " "},
        headers={**staff_headers(marketing, settings), "Idempotency-Key": "adj-3"},
    )
    assert no_reason.status_code == 422


def test_the_requester_cannot_approve_their_own_adjustment(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    _, member = shop
    admin = make_staff(session, Role.hq_admin)
    big = client.post(
        f"/api/v1/members/{member.id}/points/adjustments",
        json={"points": -9000, "reason": "误发"},
        headers={**staff_headers(admin, settings), "Idempotency-Key": "adj-4"},
    ).json()
    response = client.post(
        f"/api/v1/points/adjustments/{big['id']}/approve", headers=staff_headers(admin, settings)
    )
    assert response.status_code == 403
    rejected = client.post(
        f"/api/v1/points/adjustments/{big['id']}/reject",
        headers=staff_headers(make_staff(session, Role.hq_finance), settings),
    )
    assert rejected.json()["status"] == "rejected"


def test_burn_over_http_is_idempotent(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    buy(session, store, member, 100000, at=clock.now() - timedelta(hours=1))
    headers = {
        **staff_headers(make_staff(session, Role.cashier, [store]), settings),
        "Idempotency-Key": "burn-1",
    }
    first = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json={"points": 300, "reason": "抵现"},
        headers=headers,
    )
    again = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json={"points": 300, "reason": "抵现"},
        headers=headers,
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    balance = client.get(f"/api/v1/members/{member.id}/points", headers=headers).json()
    assert balance["available"] == 700
    assert balance["expiring"][0]["points"] == 700
    too_much = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json={"points": 5000, "reason": "x"},
        headers={**headers, "Idempotency-Key": "burn-2"},
    )
    assert too_much.json()["code"] == "insufficient_points"
    entries = client.get(
        f"/api/v1/members/{member.id}/points/entries",
        headers=staff_headers(make_staff(session), settings),
    ).json()["items"]
    assert [e["kind"] for e in entries] == ["burn", "earn"]


def test_liability_by_expiry_month_and_store(
    client: TestClient, session: Session, settings: Settings
) -> None:
    a, b = make_store(session), make_store(session)
    member = make_member(session, a)
    now = clock.now()
    buy(session, a, member, 10000, at=now - timedelta(days=1))
    buy(session, b, member, 25000, at=now - timedelta(days=1))
    report = client.get(
        "/api/v1/points/liability",
        headers=staff_headers(make_staff(session, Role.hq_finance), settings),
    ).json()
    assert report["points"] == 350
    assert report["cash_value_fen"] == 350
    assert report["by_store"] == {str(a.id): 100, str(b.id): 250}
    # 24 months of rolling expiry, by the Shanghai calendar month the points expire in.
    expiry = points_policy.expiry_for(points_policy.get_policy(session), now - timedelta(days=1))
    assert expiry is not None
    month = expiry.astimezone(clock.business_tz()).strftime("%Y-%m")
    assert report["by_expiry_month"] == {month: 350}


def test_verify_finds_a_tampered_cache(session: Session, shop: tuple[Store, Member]) -> None:
    store, member = shop
    buy(session, store, member, 10000)
    account = session.get(PointsAccount, member.id)
    assert account is not None
    account.available += 1
    session.flush()
    assert [m.member_id for m in points_queries.verify(session)] == [member.id]


def test_points_pay_at_most_the_policy_share_of_an_order(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    buy(session, store, member, 1_000_000)  # 10,000 points
    order_id = buy(
        session, store, member, 10000, at=T0 + timedelta(hours=1)
    )  # ¥100: at most ¥50 = 5,000 points
    with clock.frozen(T0 + timedelta(hours=2)):
        burning.burn(session, SYSTEM, member.id, 3000, "抵现", order_id=order_id)
        with pytest.raises(InvalidInput, match="at most 50%"):
            burning.burn(session, SYSTEM, member.id, 2100, "抵现", order_id=order_id)
        burning.burn(session, SYSTEM, member.id, 2000, "抵现", order_id=order_id)
        other = make_member(session, store)
        with pytest.raises(InvalidInput, match="not this member"):
            burning.burn(session, SYSTEM, other.id, 100, "x", order_id=order_id)


def test_released_pending_points_pay_an_open_debt_first(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    first = buy(session, store, member, 30000)
    with clock.frozen(T0 + timedelta(hours=1)):
        burning.burn(session, SYSTEM, member.id, 300, "spent")
    points_policy.get_policy(session).pending_days = 7
    buy(session, store, member, 50000, at=T0 + timedelta(hours=2))  # 500 pending
    refund_all(session, first, T0 + timedelta(hours=3))
    assert state(session, member, T0 + timedelta(hours=3)) == (0, 500, 300)
    later = T0 + timedelta(days=8)
    assert state(session, member, later) == (200, 0, 0)  # as the balance reads before the job
    with clock.frozen(later):
        jobs.run(session, later)
        with pytest.raises(points_errors.InsufficientPoints):
            burning.burn(session, SYSTEM, member.id, 300, "more than is left after the debt")
    assert state(session, member, later) == (200, 0, 0)
    assert points_queries.verify(session) == []


def test_a_merge_pays_the_debt_of_one_side_from_the_points_of_the_other(
    session: Session,
) -> None:

    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    order_id = buy(session, store, source, 30000)
    with clock.frozen(T0):
        burning.burn(session, SYSTEM, source.id, 300, "x")
    refund_all(session, order_id, T0)
    buy(session, store, target, 100000)
    with clock.frozen(T0 + timedelta(hours=1)):
        member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert state(session, target, T0 + timedelta(hours=1)) == (700, 0, 0)
    assert points_queries.verify(session) == []


def test_points_expired_on_arrival_pay_no_debt(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    now = T0 + timedelta(days=1200)
    spent = buy(session, store, member, 30000, at=now - timedelta(hours=3))
    with clock.frozen(now - timedelta(hours=2)):
        burning.burn(session, SYSTEM, member.id, 300, "spent")
    refund_all(session, spent, now - timedelta(hours=1))
    line = {"sku": "P-1", "name": "商品", "quantity": 1, "unit_price": 30000, "paid": 30000}
    late = order_body(  # sent today, bought more than three years ago: its points have expired
        store,
        items=[line],
        payments=[{"method": "cash", "amount": 30000}],
        member_id=member.id,
        occurred_at=T0.isoformat(),
    )
    with clock.frozen(now):
        orders.create_order(session, SYSTEM, OrderCreate.model_validate(late))
    assert state(session, member, now) == (0, 0, 300)
    assert points_queries.verify(session) == []


def test_a_pending_adjustment_follows_its_member_into_a_merge(
    client: TestClient, session: Session, settings: Settings
) -> None:

    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    marketing = make_staff(session, Role.hq_marketing)
    big = client.post(
        f"/api/v1/members/{source.id}/points/adjustments",
        json={"points": 8000, "reason": "活动补发"},
        headers={**staff_headers(marketing, settings), "Idempotency-Key": "big"},
    ).json()
    member_merge.merge_members(session, SYSTEM, source.id, target.id)
    approved = client.post(
        f"/api/v1/points/adjustments/{big['id']}/approve",
        headers=staff_headers(make_staff(session, Role.hq_finance), settings),
    )
    assert approved.status_code == 200
    assert points_queries.balance(session, source.id).available == 0
    assert points_queries.balance(session, target.id).available == 8000


def test_a_retried_adjustment_applies_once(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    _, member = shop
    marketing = make_staff(session, Role.hq_marketing)
    url = f"/api/v1/members/{member.id}/points/adjustments"
    headers = {**staff_headers(marketing, settings), "Idempotency-Key": "adj-1"}
    body = {"points": 500, "reason": "投诉补偿"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)  # 200: the first result again
    assert again.json()["id"] == first.json()["id"]
    assert points_queries.balance(session, member.id).available == 500
    other = client.post(url, json={**body, "points": 600}, headers=headers)
    assert other.json()["code"] == "idempotency_conflict"
    keyless = client.post(url, json=body, headers=staff_headers(marketing, settings))
    assert keyless.status_code == 422


def test_unknown_stores_and_oversized_balances_are_refused(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    buy(session, store, member, 100000, at=clock.now() - timedelta(hours=1))
    admin, finance = make_staff(session, Role.hq_admin), make_staff(session, Role.hq_finance)
    headers = {**staff_headers(admin, settings), "Idempotency-Key": "k1"}
    burn = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json={"points": 300, "reason": "抵现", "store_id": 999999},
        headers=headers,
    )
    assert (burn.status_code, burn.json()["errors"][0]["field"]) == (422, "store_id")
    url = f"/api/v1/members/{member.id}/points/adjustments"
    adjust = client.post(
        url,
        json={"points": 300, "reason": "补偿", "store_id": 999999},
        headers={**headers, "Idempotency-Key": "k2"},
    )
    assert (adjust.status_code, adjust.json()["errors"][0]["field"]) == (422, "store_id")
    first = client.post(
        url,
        json={"points": 2_000_000_000, "reason": "大额"},
        headers={**headers, "Idempotency-Key": "k3"},
    ).json()
    approve = f"/api/v1/points/adjustments/{first['id']}/approve"
    assert client.post(approve, headers=staff_headers(finance, settings)).status_code == 200
    second = client.post(
        url,
        json={"points": 2_000_000_000, "reason": "大额"},
        headers={**headers, "Idempotency-Key": "k4"},
    ).json()
    approve = f"/api/v1/points/adjustments/{second['id']}/approve"
    refused = client.post(approve, headers=staff_headers(finance, settings))
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "points")


def test_a_cashier_cannot_pay_another_stores_order_with_points(
    client: TestClient, session: Session, settings: Settings
) -> None:
    mine, theirs = make_store(session), make_store(session)
    member = make_member(session, mine)
    buy(session, mine, member, 100000, at=clock.now() - timedelta(hours=2))
    elsewhere = buy(session, theirs, member, 100000, at=clock.now() - timedelta(hours=1))
    cashier = make_staff(session, Role.cashier, [mine])
    response = client.post(
        f"/api/v1/members/{member.id}/points/burns",
        json={"points": 300, "reason": "抵现", "order_id": elsewhere},
        headers={**staff_headers(cashier, settings), "Idempotency-Key": "cross-store"},
    )
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "order_id")


def test_preview_needs_a_time_with_an_offset(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    item = {"sku": "X", "name": "x", "quantity": 1, "unit_price": 10000, "paid": 10000}
    body = {"member_id": member.id, "store_id": store.id, "items": [item]}
    naive = client.post(
        "/api/v1/points/preview", headers=headers, json={**body, "occurred_at": "2026-03-07T20:00"}
    )
    assert naive.status_code == 422
    aware = client.post(
        "/api/v1/points/preview",
        headers=headers,
        json={**body, "occurred_at": "2026-03-07T20:00:00+08:00"},
    )
    assert aware.json()["total"] == 100


def test_a_merge_carries_daily_caps_and_expiry_notices_to_the_survivor(
    client: TestClient, session: Session, settings: Settings
) -> None:

    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    daily = {"name": "每日首单加20", "effect": "add_per_order", "amount": 20}
    response = client.post(
        "/api/v1/points/rules", json={**daily, "cap_per_member_day": 20}, headers=headers
    )
    assert response.status_code == 201
    buy(session, store, source, 1000)
    late = T0 + timedelta(days=725)  # the source's lot expires within 30 days
    jobs.run(session, late)
    with clock.frozen(late):
        member_merge.merge_members(session, SYSTEM, source.id, target.id)
    notices = session.scalars(select(ExpiryNotice.member_id)).all()
    assert notices == [target.id]
    buy(session, store, target, 1000, at=T0 + timedelta(hours=1))  # same day as the source's
    entries = points_queries.entries(session, target.id, None, 10).items
    earned = [e for e in entries if e.kind == "earn" and e.order_id is not None]
    assert [e.points for e in earned] == [10]  # the day's bonus went to the source already


def test_a_merge_pays_debt_only_from_points_that_have_not_expired(session: Session) -> None:

    store = make_store(session)
    source, target = make_member(session, store), make_member(session, store)
    points_policy.get_policy(session).rolling_months = 1
    spent = buy(session, store, target, 30000)
    with clock.frozen(T0):
        burning.burn(session, SYSTEM, target.id, 300, "spent")
    refund_all(session, spent, T0)  # the target owes 300
    earned = buy(session, store, source, 20000)  # 200 points, expiring a month later
    later = T0 + timedelta(days=60)  # expired, and no job has run since
    with clock.frozen(later):
        member_merge.merge_members(session, SYSTEM, source.id, target.id)
    assert points_queries.verify(session) == []
    assert state(session, target, later) == (0, 0, 300)
    # The expired lot, empty, stays with the source, whose ledger says it expired.
    lot = session.scalars(select(PointsLot).where(PointsLot.order_id == earned)).one()
    assert (lot.member_id, lot.status, lot.remaining) == (source.id, "expired", 0)


def test_a_rule_is_read_alone_and_deleted_only_while_it_never_awarded(
    client: TestClient, session: Session, settings: Settings, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    rule = {"name": "每单加10", "effect": "add_per_order", "amount": 10}
    unused = client.post("/api/v1/points/rules", json=rule, headers=headers).json()
    used = client.post("/api/v1/points/rules", json=rule, headers=headers).json()
    assert client.get(f"/api/v1/points/rules/{unused['id']}", headers=headers).json() == unused
    client.put(
        f"/api/v1/points/rules/{unused['id']}", json={**rule, "active": False}, headers=headers
    )
    buy(session, store, member, 1000)  # only `used` fires
    assert client.delete(f"/api/v1/points/rules/{unused['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/points/rules/{unused['id']}", headers=headers).status_code == 404
    refused = client.delete(f"/api/v1/points/rules/{used['id']}", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "rule_in_use")


def test_each_rule_condition_decides_whether_the_rule_fires(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from patron.members.schemas import AttributeCreate

    store = make_store(session)
    attributes.create_attribute(
        session,
        SYSTEM,
        AttributeCreate(code="skin", label="肤质", type="single_choice", options=["油性", "干性"]),
    )
    oily = make_member(session, store, birthday="1990-03-07", attributes={"skin": "油性"})
    dry = make_member(session, store, birthday="1990-03-08", attributes={"skin": "干性"})
    buy(session, store, oily, 1000)  # makes sku P-1 in category GEN
    from patron.catalog import service as catalog

    gen = catalog.ensure_categories(session, {"GEN"})["GEN"].id
    headers = staff_headers(make_staff(session, Role.hq_marketing), settings)
    conditions: dict[str, dict[str, Any]] = {
        "channel": {"channels": ["mini_program"]},
        "category": {"category_ids": [gen]},
        "sku": {"skus": ["P-1"]},
        "dates": {"date_from": "2026-03-07", "date_to": "2026-03-08"},
        "birthday": {"birthday": "day"},
        "skin": {"attributes": {"skin": "油性"}},
    }
    for n, (name, condition) in enumerate(conditions.items()):
        rule = {"name": name, "effect": "add_per_order", "amount": 10 + n, "conditions": condition}
        assert client.post("/api/v1/points/rules", json=rule, headers=headers).status_code == 201

    def fired(member: Member, sku: str, channel: str, at: str) -> set[str]:
        item = {"sku": sku, "name": "x", "quantity": 1, "unit_price": 1000, "paid": 1000}
        body = {
            "member_id": member.id,
            "store_id": store.id,
            "channel": channel,
            "occurred_at": at,
            "items": [item],
        }
        preview = client.post("/api/v1/points/preview", json=body, headers=headers).json()
        return {r["name"] for r in preview["rules"]} - {"base"}

    birthday = "2026-03-07T12:00:00+08:00"  # oily's birthday, inside the date range
    assert fired(oily, "P-1", "mini_program", birthday) == set(conditions)
    assert fired(dry, "P-1", "mini_program", birthday) == {"channel", "category", "sku", "dates"}
    assert fired(oily, "OTHER", "pos", "2026-03-09T12:00:00+08:00") == {"skin"}


def test_an_adjustment_keeps_a_reason_as_long_as_the_api_takes(
    session: Session, shop: tuple[Store, Member]
) -> None:
    """The ledger entry's reason column is as wide as the adjustment's: on PostgreSQL a prefix
    written into it ("adjustment 12: …") overflowed VARCHAR(200)."""
    _, member = shop
    reason = "补" * 200
    adjustment = adjustments.request_adjustment(session, SYSTEM, member.id, 500, reason)
    entry = session.scalars(
        select(PointsEntry).where(PointsEntry.adjustment_id == adjustment.id)
    ).one()
    assert (entry.reason, entry.points, adjustment.status) == (reason, 500, "applied")


def _store_manager(session: Session, store: Store) -> Actor:
    manager = make_staff(session, Role.store_manager, [store])
    return Actor(
        kind="staff",
        id=manager.id,
        name=manager.username,
        role=Role.store_manager,
        store_ids=frozenset({store.id}),
    )


def test_a_large_adjustment_cannot_be_split_into_small_ones(
    session: Session, shop: tuple[Store, Member]
) -> None:
    """4,999 points twice by one requester within the window reach the 5,000 threshold."""
    store, member = shop
    manager = _store_manager(session, store)
    other = _store_manager(session, store)
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with clock.frozen(start):
        first = adjustments.request_adjustment(session, manager, member.id, 4999, "补录")
        second = adjustments.request_adjustment(session, manager, member.id, -4999, "冲正")
        # Another requester's adjustments count on their own.
        others = adjustments.request_adjustment(session, other, member.id, 4999, "补录")
    assert (first.status, second.status, others.status) == ("applied", "pending", "applied")
    with clock.frozen(start + timedelta(hours=23)):
        assert adjustments.request_adjustment(session, manager, member.id, 1, "补").status == (
            "pending"
        )
    with clock.frozen(start + timedelta(hours=50)):
        assert adjustments.request_adjustment(session, manager, member.id, 4999, "补").status == (
            "applied"
        )


def test_the_approval_window_is_a_policy_setting(
    session: Session, shop: tuple[Store, Member]
) -> None:
    store, member = shop
    manager = _store_manager(session, store)
    points_policy.update_policy(session, SYSTEM, {"approval_window_hours": 1})
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with clock.frozen(start):
        adjustments.request_adjustment(session, manager, member.id, 4000, "补录")
    with clock.frozen(start + timedelta(hours=2)):
        assert adjustments.request_adjustment(session, manager, member.id, 4000, "补").status == (
            "applied"
        )

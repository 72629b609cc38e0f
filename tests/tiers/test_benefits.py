"""Tier benefits wired into what exists: the points multiplier through the earning rules (a
`tiers` condition and a `tier` effect), the tier discount an order records, and the staff flag
that keeps staff members from it unless the program allows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock
from patron.core.actor import SYSTEM, Role
from patron.core.errors import InvalidInput
from patron.core.settings import Settings
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate
from patron.points import rules as points_rules
from patron.points.models import PointsEntry
from patron.stores.models import Store
from patron.tiers import ladder, standing
from patron.tiers.models import Tier
from tests.factories import (
    auth,
    issue_coupon,
    make_api_key,
    make_coupon_template,
    make_member,
    make_staff,
    make_store,
    staff_headers,
)
from tests.tiers.helpers import make_ladder, order, set_program

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    clock.set_now(NOW)


@pytest.fixture
def tiers(session: Session) -> dict[str, Tier]:
    """The four-tier ladder; silver ×1.2 without a discount, gold ×1.5 and 95折, diamond ×2
    and 9折."""
    made = {t.code: t for t in make_ladder(session)}
    for code, factor, discount in (("silver", 120, 0), ("gold", 150, 5), ("diamond", 200, 10)):
        values = {"points_factor": factor, "discount_percent": discount}
        ladder.save_tier(session, SYSTEM, values, made[code].id)
    return made


@pytest.fixture
def store(session: Session) -> Store:
    return make_store(session)


def holding(session: Session, store: Store, code: str, **fields: Any) -> Member:
    member = make_member(session, store, **fields)
    if code != "normal":
        standing.set_tier(session, SYSTEM, member.id, code, "test")
    return member


def tier_rule(session: Session, **values: Any) -> None:
    points_rules.save_rule(
        session, SYSTEM, {"name": "等级倍数", "effect": "tier", "amount": 100} | values
    )


def reason_of(error: InvalidInput) -> tuple[str, str]:
    found = error.extra["errors"][0]
    return found["field"], found["code"]


def last_earned(session: Session, member: Member) -> int:
    query = select(PointsEntry.points).where(PointsEntry.member_id == member.id)
    return session.scalars(query.order_by(PointsEntry.id.desc())).first() or 0


# --- points multiplier -------------------------------------------------------------------------


def test_a_tier_rule_multiplies_the_base_by_the_members_tier(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    tier_rule(session)
    for code, expected in (("normal", 100), ("silver", 120), ("gold", 150), ("diamond", 200)):
        member = holding(session, store, code)
        order(session, store, member, 100_00, NOW)
        assert last_earned(session, member) == expected, code


def test_without_a_tier_rule_the_tier_earns_nothing_more(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    member = holding(session, store, "gold")
    order(session, store, member, 100_00, NOW)
    assert last_earned(session, member) == 100


def test_a_tiers_condition_fires_for_the_named_tiers_only(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    points_rules.save_rule(
        session,
        SYSTEM,
        {
            "name": "金钻加赠",
            "effect": "add_per_order",
            "amount": 30,
            "conditions": {"tiers": ["gold", "diamond"]},
        },
    )
    gold, silver = holding(session, store, "gold"), holding(session, store, "silver")
    order(session, store, gold, 100_00, NOW)
    order(session, store, silver, 100_00, NOW)
    assert (last_earned(session, gold), last_earned(session, silver)) == (130, 100)


def test_a_tier_rule_with_a_condition_applies_to_matching_spend(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    """The effect multiplies the matching lines' share; other tiers earn the base."""
    tier_rule(session, conditions={"tiers": ["gold"], "skus": ["SKU-T"]})
    gold, diamond = holding(session, store, "gold"), holding(session, store, "diamond")
    order(session, store, gold, 100_00, NOW)
    order(session, store, diamond, 100_00, NOW)
    assert (last_earned(session, gold), last_earned(session, diamond)) == (150, 100)


def test_a_tier_condition_names_tiers_of_the_ladder(
    session: Session, tiers: dict[str, Tier]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        tier_rule(session, conditions={"tiers": ["platinum"]})
    assert reason_of(refused.value) == ("conditions.tiers.0", "unknown_tier")


def test_the_preview_shows_the_tier_rule(
    client: TestClient, session: Session, settings: Settings, tiers: dict[str, Tier], store: Store
) -> None:
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    created = client.post(
        "/api/v1/points/rules", json={"name": "等级倍数", "effect": "tier"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert (created.json()["effect"], created.json()["amount"]) == ("tier", 100)
    member = holding(session, store, "gold")
    body = {
        "member_id": member.id,
        "store_id": store.id,
        "items": [
            {"sku": "SKU-T", "name": "商品", "quantity": 1, "unit_price": 10000, "paid": 10000}
        ],
        "payments": [{"method": "cash", "amount": 10000}],
    }
    shown = client.post("/api/v1/points/preview", json=body, headers=admin)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["base"], shown.json()["total"]) == (100, 150)
    order(session, store, member, 100_00, NOW)
    assert last_earned(session, member) == 150


def test_a_tier_rule_takes_no_amount_and_other_effects_need_one(
    client: TestClient, session: Session, settings: Settings, tiers: dict[str, Tier]
) -> None:
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    for body, code in (
        ({"name": "x", "effect": "tier", "amount": 150}, "amount_not_for_tier"),
        ({"name": "x", "effect": "add_per_order"}, "amount_needed"),
        ({"name": "x", "effect": "tier", "conditions": {"tiers": ["nope"]}}, "unknown_tier"),
    ):
        refused = client.post("/api/v1/points/rules", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert code in refused.text
    assert client.get("/api/v1/points/rules", headers=admin).json() == []


@pytest.fixture
def sent(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            seen.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


def test_the_members_tier_is_read_only_when_a_tier_rule_is_active(
    session: Session, tiers: dict[str, Tier], store: Store, sent: list[str]
) -> None:
    member = holding(session, store, "gold")

    def statements() -> int:
        order(session, store, member, 100_00, NOW)  # caches warm
        sent.clear()
        order(session, store, member, 100_00, NOW)
        return len(sent)

    without = statements()
    assert not any("FROM member_tiers" in s for s in sent)
    tier_rule(session)
    # the member's tier, and the award row every firing rule keeps (for daily caps)
    assert statements() == without + 2, "\n".join(s[:90] for s in sent)
    assert sum("FROM member_tiers" in s for s in sent) == 1
    assert sum(s.startswith("INSERT INTO points_rule_awards") for s in sent) == 1


# --- the tier discount on orders ---------------------------------------------------------------


def discounted(store: Store, member: Member | None, amount: int, **fields: Any) -> OrderCreate:
    """¥100 of goods with ¥5 off the line, the tier discount `amount` of it."""
    body = {
        "external_id": f"TD-{amount}-{member.id if member else 0}-{len(fields)}",
        "store_id": store.id,
        "channel": "pos",
        "member_id": member.id if member else None,
        "occurred_at": NOW.isoformat(),
        "items": [
            {
                "sku": "SKU-T",
                "name": "商品",
                "quantity": 1,
                "unit_price": 10000,
                "discount": 500,
                "paid": 9500,
            }
        ],
        "payments": [{"method": "cash", "amount": 9500}],
        "tier_discount_amount": amount,
    }
    return OrderCreate.model_validate(body | fields)


def test_an_order_records_the_tier_discount_it_got(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    member = holding(session, store, "gold")
    taken = orders.create_order(session, SYSTEM, discounted(store, member, 500))
    assert (taken.tier_id, taken.tier_discount_amount) == (tiers["gold"].id, 500)
    row = session.get(Order, taken.id)
    assert row is not None
    session.refresh(row)
    assert (row.tier_id, row.tier_discount_amount) == (tiers["gold"].id, 500)


def test_an_order_without_a_tier_discount_records_none(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    member = holding(session, store, "gold")
    taken = orders.create_order(session, SYSTEM, discounted(store, member, 0))
    row = session.get(Order, taken.id)
    assert row is not None
    session.refresh(row)
    assert (row.tier_id, row.tier_discount_amount) == (None, 0)


def count_rows(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Order)) or 0,
        session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


@pytest.mark.parametrize(
    ("code", "amount", "reason"),
    [
        ("gold", 600, "tier_discount_exceeds_discounts"),
        ("silver", 500, "no_tier_discount"),
        ("normal", 500, "no_tier_discount"),
        (None, 500, "tier_discount_needs_member"),
    ],
)
def test_a_tier_discount_the_member_may_not_have_is_refused_and_writes_nothing(
    session: Session,
    tiers: dict[str, Tier],
    store: Store,
    code: str | None,
    amount: int,
    reason: str,
) -> None:
    member = holding(session, store, code) if code else None
    before = count_rows(session)
    with pytest.raises(InvalidInput) as refused:
        orders.create_order(session, SYSTEM, discounted(store, member, amount))
    assert reason_of(refused.value) == ("tier_discount_amount", reason)
    assert count_rows(session) == before


def test_with_tiers_off_no_order_gets_a_tier_discount(session: Session, store: Store) -> None:
    member = make_member(session, store)
    with pytest.raises(InvalidInput) as refused:
        orders.create_order(session, SYSTEM, discounted(store, member, 500))
    assert reason_of(refused.value) == ("tier_discount_amount", "no_tier_discount")


def test_staff_get_the_tier_discount_only_when_the_program_allows_it(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    member = holding(session, store, "gold")
    member.is_staff = True
    session.flush()
    before = count_rows(session)
    with pytest.raises(InvalidInput) as refused:
        orders.create_order(session, SYSTEM, discounted(store, member, 500))
    assert reason_of(refused.value) == ("tier_discount_amount", "staff_no_tier_discount")
    assert count_rows(session) == before
    set_program(session, staff_discount=True)
    taken = orders.create_order(session, SYSTEM, discounted(store, member, 500))
    assert taken.tier_discount_amount == 500


def test_a_paid_tier_gives_its_discount(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    """The discount is the tier that counts: a live paid tier above the held one."""
    from patron.tiers.models import MemberTier

    member = make_member(session, store)
    row = standing.lock(session, [member.id])[member.id]
    assert isinstance(row, MemberTier)
    row.paid_tier_id, row.paid_until = tiers["diamond"].id, NOW + timedelta(days=30)
    session.flush()
    taken = orders.create_order(session, SYSTEM, discounted(store, member, 500))
    assert taken.tier_id == tiers["diamond"].id


def test_a_tier_discount_and_coupons_fit_inside_the_lines_discounts(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    member = holding(session, store, "gold")
    template = make_coupon_template(session, threshold=0, amount=200)
    coupon = issue_coupon(session, template, member)
    claim = [{"code": coupon.code, "amount": 200}]
    with pytest.raises(InvalidInput) as refused:
        orders.create_order(session, SYSTEM, discounted(store, member, 400, coupons=claim))
    assert reason_of(refused.value)[1] == "tier_discount_exceeds_discounts"
    taken = orders.create_order(session, SYSTEM, discounted(store, member, 300, coupons=claim))
    assert taken.tier_discount_amount == 300


def test_a_tier_discount_amount_implies_the_tier_discount_flag(
    session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    """A coupon that does not stack with a tier discount is refused when the order records
    one, flag or not."""
    from patron.coupons.errors import CouponNotApplicable

    member = holding(session, store, "gold")
    template = make_coupon_template(
        session, threshold=0, amount=200, stacks_with_tier_discount=False
    )
    coupon = issue_coupon(session, template, member)
    claim = [{"code": coupon.code, "amount": 200}]
    data = discounted(store, member, 300, coupons=claim)
    assert data.tier_discount is True
    with pytest.raises(CouponNotApplicable, match="not_with_tier_discount"):
        orders.create_order(session, SYSTEM, data)


# --- over HTTP ---------------------------------------------------------------------------------


def post_order(client: TestClient, headers: dict[str, str], data: OrderCreate, key: str) -> Any:
    body = data.model_dump(mode="json", exclude_unset=True)
    return client.post("/api/v1/orders", json=body, headers=headers | {"Idempotency-Key": key})


def test_the_api_records_and_shows_the_tier_discount(
    client: TestClient, session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    headers = auth(make_api_key(session, [store]))
    member = holding(session, store, "gold")
    shown = client.get(f"/api/v1/members/{member.id}/tier", headers=headers)
    assert shown.json()["tier"]["discount_percent"] == 5
    created = post_order(client, headers, discounted(store, member, 500), "td-1")
    assert created.status_code == 201, created.text
    assert (created.json()["tier_id"], created.json()["tier_discount_amount"]) == (
        tiers["gold"].id,
        500,
    )
    again = client.get(f"/api/v1/orders/{created.json()['id']}", headers=headers)
    assert (again.json()["tier_id"], again.json()["tier_discount_amount"]) == (
        tiers["gold"].id,
        500,
    )
    plain = post_order(client, headers, discounted(store, member, 0), "td-2")
    assert (plain.json()["tier_id"], plain.json()["tier_discount_amount"]) == (None, 0)


def test_the_api_refuses_a_staff_members_tier_discount(
    client: TestClient, session: Session, tiers: dict[str, Tier], store: Store
) -> None:
    headers = auth(make_api_key(session, [store]))
    member = holding(session, store, "gold")
    member.is_staff = True
    session.flush()
    before = count_rows(session)
    refused = post_order(client, headers, discounted(store, member, 500), "td-3")
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["code"] == "staff_no_tier_discount"
    assert count_rows(session) == before


# --- the staff flag ----------------------------------------------------------------------------


def test_hq_admins_flag_staff_members_audited(
    client: TestClient, session: Session, settings: Settings, store: Store
) -> None:
    member = make_member(session, store)
    url = f"/api/v1/members/{member.id}"
    manager = staff_headers(make_staff(session, Role.store_manager, [store]), settings)
    assert client.patch(url, json={"is_staff": True}, headers=manager).status_code == 403
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    assert client.get(url, headers=admin).json()["is_staff"] is False
    assert client.patch(url, json={"is_staff": None}, headers=admin).status_code == 422
    flagged = client.patch(url, json={"is_staff": True}, headers=admin)
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["is_staff"] is True
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "member.update", AuditEntry.entity_id == str(member.id))
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None
    assert (entry.before, entry.after) == (
        {"is_staff": False},
        {"fields": ["is_staff"], "is_staff": True},
    )
    # A manager may still edit the member's other fields.
    renamed = client.patch(url, json={"name": "李娜"}, headers=manager)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["is_staff"] is True

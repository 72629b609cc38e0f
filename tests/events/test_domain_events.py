"""The domain events webhooks subscribe to: each published once per change, with its payload,
in the transaction that made it, from the services (so API, CLI, console, imports and jobs
all publish)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock, events
from patron.core.actor import SYSTEM
from patron.core.events import OutboxEvent
from patron.members import importer, merge, privacy, registration
from patron.members.schemas import MemberUpdate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.points import adjustments, burning
from patron.points import jobs as points_jobs
from patron.points.models import PointsEntry
from patron.stored_value import recharges
from tests.factories import (
    issue_coupon,
    make_coupon_template,
    make_member,
    make_store,
    order_body,
)
from tests.uploads import batches

Sessions = Callable[[], Session]


def published(session: Session, type_: str | None = None) -> list[OutboxEvent]:
    query = select(OutboxEvent).order_by(OutboxEvent.id)
    if type_ is not None:
        query = query.where(OutboxEvent.type == type_)
    return list(session.scalars(query))


def only(session: Session, type_: str) -> dict[str, Any]:
    [row] = published(session, type_)
    return row.payload


def clear(session: Session) -> None:
    for row in published(session):
        session.delete(row)
    session.flush()


def take_order(session: Session, **fields: Any) -> orders.TakenOrder:
    store = fields.pop("store")
    return orders.create_order(
        session, SYSTEM, OrderCreate.model_validate(order_body(store, **fields))
    )


# --- the batch -----------------------------------------------------------------------------


def test_a_batch_writes_its_events_in_order_at_its_end(session: Session) -> None:
    from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged

    change = TierChanged(1, None, None, "gold", 1, "manual")
    with events.batched(session):
        events.publish(session, MEMBER_TIER_CHANGED, 1, change)
        with events.batched(session):  # joins the outer one
            events.publish(session, MEMBER_TIER_CHANGED, 2, change)
        assert published(session) == []
    assert [row.entity_id for row in published(session)] == ["1", "2"]


def test_a_batch_left_by_an_error_writes_nothing(session: Session) -> None:
    from patron.tiers.events import MEMBER_TIER_CHANGED, TierChanged

    def fail() -> None:
        with events.batched(session):
            events.publish(session, MEMBER_TIER_CHANGED, 1, TierChanged(1, None, None, "a", 1, "x"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert published(session) == []
    events.publish(session, MEMBER_TIER_CHANGED, 1, TierChanged(1, None, None, "a", 1, "x"))
    assert len(published(session)) == 1  # no batch left behind


def test_publishing_many_calls_a_batch_form_once_and_the_others_per_event(
    session: Session,
) -> None:
    from patron.core.events import Event, EventType

    kind: EventType[int] = EventType("test.many")
    seen: list[tuple[str, object]] = []
    kind.subscribers.register("one")(lambda _s, e: seen.append(("one", e.payload)))
    kind.subscribers.register("both")(lambda _s, e: seen.append(("both", e.payload)))
    kind.batch_subscribers.register("both")(
        lambda _s, es: seen.append(("both", [e.payload for e in es]))
    )
    now = clock.now()
    many = [Event(kind.name, str(n), n, now) for n in (1, 2, 3)]
    try:
        events.publish_many(session, kind, many)
        assert seen == [("one", 1), ("one", 2), ("one", 3), ("both", [1, 2, 3])]
        assert [(r.entity_id, r.payload) for r in published(session, "test.many")] == [
            ("1", 1),
            ("2", 2),
            ("3", 3),
        ]
        events.publish_many(session, kind, many, outbox_written=True)  # the caller wrote them
        assert len(published(session, "test.many")) == 3
        events.publish_many(session, kind, [])
        assert len(seen) == 8
    finally:
        del events.EVENT_TYPES["test.many"]


# --- points.changed --------------------------------------------------------------------------


def test_an_order_and_its_refund_publish_the_points_they_move(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    clear(session)
    order = take_order(session, store=store, member_id=member.id)
    assert [e.type for e in published(session)] == ["order.completed", "points.changed"]
    entry = session.scalars(select(PointsEntry)).one()
    earned = only(session, "points.changed")
    assert earned == {
        "member_id": member.id,
        "entry_id": entry.id,
        "kind": "earn",
        "change": 120,
        "balance": 120,
        "reason": "",
        "order_id": order.id,
        "store_id": store.id,
        "occurred_at": earned["occurred_at"],
    }
    clear(session)
    orders.refund_order(session, SYSTEM, order.id, RefundCreate.model_validate({"all": True}))
    assert [e.type for e in published(session)] == ["order.refunded", "points.changed"]
    back = only(session, "points.changed")
    assert (back["kind"], back["change"], back["balance"], back["order_id"]) == (
        "refund_reversal",
        -120,
        0,
        order.id,
    )


def test_burns_adjustments_and_merges_publish_points_changed(session: Session) -> None:
    store = make_store(session)
    member, other = make_member(session, store), make_member(session, store)
    take_order(session, store=store, member_id=member.id, external_id="EARN")
    clear(session)
    adjustments.request_adjustment(session, SYSTEM, member.id, 500, "goodwill", store.id)
    burning.burn(session, SYSTEM, member.id, 200, "gift")
    kinds = [(p["kind"], p["change"], p["balance"]) for p in _payloads(session)]
    assert kinds == [("adjust", 500, 620), ("burn", -200, 420)]
    clear(session)
    merge.merge_members(session, SYSTEM, member.id, other.id)
    moved = [
        (p["member_id"], p["kind"], p["change"], p["balance"])
        for p in _payloads(session, "points.changed")
    ]
    assert moved == [(member.id, "merge_out", -420, 0), (other.id, "merge_in", 420, 420)]
    assert only(session, "member.merged") == {
        "source_id": member.id,
        "target_id": other.id,
        "occurred_at": only(session, "member.merged")["occurred_at"],
    }


def test_the_expiry_job_publishes_set_based_with_each_balance(session: Session) -> None:
    store, other_store = make_store(session), make_store(session)
    member = make_member(session, store)
    take_order(session, store=store, member_id=member.id, external_id="A")
    take_order(session, store=other_store, member_id=member.id, external_id="B")
    clear(session)
    points_jobs.run(session, clock.now() + timedelta(days=3 * 366))
    expired = _payloads(session, "points.changed")
    assert [(p["kind"], p["change"], p["store_id"]) for p in expired] == [
        ("expire", -120, store.id),
        ("expire", -120, other_store.id),
    ]
    assert [p["balance"] for p in expired] == [120, 0]  # each after its own entry
    assert {p["member_id"] for p in expired} == {member.id}
    assert all(p["entry_id"] for p in expired)


def _payloads(session: Session, type_: str = "points.changed") -> list[dict[str, Any]]:
    return [row.payload for row in published(session, type_)]


# --- stored_value.changed --------------------------------------------------------------------


def test_stored_value_publishes_each_movement_with_balances_after(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    clear(session)
    cash = recharges.Payment("cash", "")
    recharges.recharge(session, SYSTEM, member.id, store.id, cash, amount=10000)
    [recharged] = _payloads(session, "stored_value.changed")
    assert (recharged["kind"], recharged["principal_change"], recharged["bonus_change"]) == (
        "recharge",
        10000,
        0,
    )
    assert (recharged["principal"], recharged["bonus"], recharged["balance"]) == (10000, 0, 10000)
    assert recharged["member_id"] == member.id
    assert recharged["store_id"] == store.id
    clear(session)
    from patron.stored_value import ledger

    ledger.spend(session, member.id, 3000, store.id, None)
    [spent] = _payloads(session, "stored_value.changed")
    assert (spent["kind"], spent["principal_change"], spent["balance"]) == ("spend", -3000, 7000)


# --- coupons -------------------------------------------------------------------------------


def test_a_bulk_issue_publishes_one_event_per_coupon(session: Session) -> None:
    from patron.coupons import issuing
    from patron.coupons.models import IssueSource

    store = make_store(session)
    members = [make_member(session, store) for _ in range(3)]
    template = make_coupon_template(session)
    clear(session)
    result = issuing.issue_coupons(
        session, SYSTEM, template.id, [m.id for m in members], source=IssueSource.manual
    )
    issued = _payloads(session, "coupon.issued")
    assert [(p["coupon_id"], p["member_id"]) for p in issued] == [
        (c.id, c.member_id) for c in sorted(result.issued)
    ]
    first = issued[0]
    assert first["template_id"] == template.id
    assert first["source"] == "manual"
    assert first["store_id"] is None
    assert "code" not in first
    assert first["valid_until"] > first["valid_from"]
    rows = published(session, "coupon.issued")
    assert [r.entity_id for r in rows] == [str(p["coupon_id"]) for p in issued]


def test_a_coupon_redeemed_on_an_order_is_published(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store)
    template = make_coupon_template(
        session,
        valid_days=None,
        valid_from="2026-01-01T00:00:00+08:00",
        valid_until="2030-12-31T23:59:59+08:00",
    )
    coupon = issue_coupon(session, template, member)
    clear(session)
    body = order_body(store, member_id=member.id)
    body["items"][0] |= {"discount": 2980, "paid": 7000}  # type: ignore[index]
    body["payments"] = [{"method": "wechat_pay", "amount": 10000}]
    body["coupons"] = [{"code": coupon.code, "amount": 2000}]
    order = orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
    redeemed = only(session, "coupon.redeemed")
    assert redeemed == {
        "coupon_id": coupon.id,
        "member_id": member.id,
        "order_id": order.id,
        "store_id": store.id,
        "discount": 2000,
        "occurred_at": redeemed["occurred_at"],
    }
    types = [e.type for e in published(session)]
    assert types == ["coupon.redeemed", "order.completed", "points.changed"]


# --- members -------------------------------------------------------------------------------


def test_registering_and_updating_a_member_publish_their_profile(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store, mobile="13912345678", name="张伟")
    registered = only(session, "member.registered")
    assert registered == {
        "member_id": member.id,
        "store_id": store.id,
        "channel": member.channel,
        "source": "api",
        "mobile": "+8613912345678",
        "name": "张伟",
        "occurred_at": registered["occurred_at"],
    }
    update = MemberUpdate.model_validate({"name": "张三", "gender": "male"})
    registration.update_member(session, SYSTEM, member.id, update)
    updated = only(session, "member.updated")
    assert (updated["fields"], updated["name"], updated["mobile"]) == (
        ["gender", "name"],
        "张三",
        None,
    )


def test_an_erased_member_leaves_no_personal_data_in_the_outbox(session: Session) -> None:
    store = make_store(session)
    member = make_member(session, store, mobile="13912345678", name="张伟", email="zw@example.com")
    registration.update_member(session, SYSTEM, member.id, MemberUpdate(name="张三"))
    privacy.erase_member(session, SYSTEM, member.id, "PIPL request")
    erased = only(session, "member.erased")
    assert set(erased) == {"member_id", "occurred_at"}
    assert erased["member_id"] == member.id
    text = str([row.payload for row in published(session)])
    for personal in ("139", "张", "zw@", "example"):
        assert personal not in text, (personal, text)


def test_a_member_import_publishes_set_based(session: Session, sessions: Sessions) -> None:
    make_store(session, "IMP01")
    content = "手机号,姓名,开卡门店\n13800000001,张三,IMP01\n13800000002,李四,IMP01\n"
    run = importer.import_members(
        batches(sessions), SYSTEM, importer.read_rows(content.encode(), "m.csv"), dry_run=False
    )
    assert run.created == 2
    registered = _payloads(session, "member.registered")
    assert [(p["source"], p["mobile"], p["name"]) for p in registered] == [
        ("import", None, None)
    ] * 2
    assert sorted(p["member_id"] for p in registered) == [p["member_id"] for p in registered]
    again = "手机号,姓名,开卡门店\n13800000001,张五,IMP01\n"
    importer.import_members(
        batches(sessions), SYSTEM, importer.read_rows(again.encode(), "m.csv"), dry_run=False
    )
    [updated] = _payloads(session, "member.updated")
    assert (updated["member_id"], updated["fields"], updated["name"]) == (
        registered[0]["member_id"],
        ["name"],
        "张五",
    )


def test_every_event_type_of_the_issue_is_known_to_webhooks() -> None:
    from patron import domains

    domains.load()
    assert {
        "order.completed",
        "order.refunded",
        "member.registered",
        "member.updated",
        "member.merged",
        "member.erased",
        "points.changed",
        "member.tier_changed",
        "coupon.issued",
        "coupon.redeemed",
        "stored_value.changed",
    } <= set(events.EVENT_TYPES)

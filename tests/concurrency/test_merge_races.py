"""A merge racing the points paths of its members, over HTTP on PostgreSQL: merge × burn,
merge × adjustment approval, merge × order, merge × refund. Each request answers its documented
status (never 500, and never 503: the request's retry is off here, so a deadlock would show),
and the ledger keeps every point: each member's entries add up to its balances, and the merged
member keeps nothing (its lots, balances and orders are all at the survivor)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron import deps
from patron.core.actor import SYSTEM
from patron.orders import service as orders
from patron.orders.models import Order
from patron.orders.schemas import OrderCreate
from patron.points import adjustments
from patron.points import queries as points_queries
from patron.points.models import (
    AdjustmentStatus,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsLot,
)
from patron.stores.models import Store
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.factories import make_member, make_store, order_body

Response = Any  # what the test client answers (an httpx response)

PAIRS = 4  # merges at once, each racing its own requests


@pytest.fixture(autouse=True)
def _one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps, "TRANSACTION_ATTEMPTS", 1)  # a deadlock answers 503 here


@dataclass(frozen=True)
class Pair:
    source: int
    target: int
    store: Store


def make_pairs(api: Api, setup: Callable[[Session, Pair], None] | None = None) -> list[Pair]:
    """Members S and T per pair: S holds 1,000 points, T 500."""
    pairs = []
    with api.factory.begin() as session:
        store = make_store(session)
        for _ in range(PAIRS):
            source, target = make_member(session, store).id, make_member(session, store).id
            adjustments.request_adjustment(session, SYSTEM, source, 1000, "opening")
            adjustments.request_adjustment(session, SYSTEM, target, 500, "opening")
            pair = Pair(source, target, store)
            if setup is not None:
                setup(session, pair)
            pairs.append(pair)
    return pairs


def merge(api: Api, pair: Pair) -> Response:
    return api.post("/members/merge", {"source_id": pair.source, "target_id": pair.target})


def run(api: Api, pairs: list[Pair], others: Sequence[Callable[[], Response]]) -> list[Any]:
    """The merges and the other requests released at once; their responses, merges first."""
    work: list[Callable[[], Response]] = [*(partial(merge, api, p) for p in pairs), *others]
    results = race(len(work), lambda n: work[n]())
    assert not [r for r in results if isinstance(r, Exception)], results
    merges = results[: len(pairs)]
    assert [r.status_code for r in merges] == [200] * len(pairs), [r.text for r in merges]
    return results[len(pairs) :]


def balance_of(session: Session, member_id: int) -> int:
    account = session.get(PointsAccount, member_id)
    assert account is not None
    return account.available + account.pending - account.debt


def assert_all_at_target(api: Api, pairs: list[Pair]) -> dict[int, int]:
    """The ledger agrees with the balances and S keeps nothing (no balance, lot, order or pending
    adjustment; its entries add up to 0). Returns T's balance by pair target."""
    with api.factory() as session:
        members = {m for p in pairs for m in (p.source, p.target)}
        assert [m for m in points_queries.verify(session) if m.member_id in members] == []
        for pair in pairs:
            assert balance_of(session, pair.source) == 0
            left = [
                session.scalar(select(func.count()).where(*where))
                for where in (
                    (PointsLot.member_id == pair.source,),
                    (Order.member_id == pair.source,),
                    (
                        PointsAdjustment.member_id == pair.source,
                        PointsAdjustment.status == AdjustmentStatus.pending.value,
                    ),
                )
            ]
            assert left == [0, 0, 0], pair
            entries = session.scalar(
                select(func.sum(PointsEntry.points)).where(PointsEntry.member_id == pair.source)
            )
            assert entries == 0
        return {p.target: balance_of(session, p.target) for p in pairs}


def codes(responses: list[Response]) -> set[tuple[int, str | None]]:
    return {(r.status_code, r.json().get("code")) for r in responses}


def test_merge_races_burns_of_the_merged_member(api: Api) -> None:
    pairs = make_pairs(api)
    burns = [
        partial(api.post, f"/members/{p.source}/points/burns", {"points": 100})
        for p in pairs
        for _ in range(5)
    ]
    answered = run(api, pairs, burns)
    # A burn before the merge spends S's points; one after it (or waiting for it) finds S
    # merged, as a burn on a merged member does.
    assert codes(answered) <= {(201, None), (404, "member_not_found")}, codes(answered)
    balances = assert_all_at_target(api, pairs)
    for n, pair in enumerate(pairs):
        spent = sum(r.status_code == 201 for r in answered[n * 5 : n * 5 + 5])
        assert balances[pair.target] == 1500 - 100 * spent


def test_merge_races_the_approval_of_pending_adjustments(api: Api) -> None:
    pending: dict[int, list[int]] = {}

    def three_pending(session: Session, pair: Pair) -> None:
        pending[pair.source] = [
            adjustments.request_adjustment(session, SYSTEM, pair.source, 6000, "goodwill").id
            for _ in range(3)
        ]

    pairs = make_pairs(api, three_pending)
    approvals = [
        partial(api.post, f"/points/adjustments/{a}/approve")
        for p in pairs
        for a in pending[p.source]
    ]
    answered = run(api, pairs, approvals)
    # Applied to S before the merge (which then brings the points), or to T after it.
    assert codes(answered) == {(200, None)}, [r.text for r in answered]
    assert all(r.json()["status"] == "applied" for r in answered)
    assert set(assert_all_at_target(api, pairs).values()) == {1500 + 3 * 6000}


def test_merge_races_orders_of_the_merged_member(api: Api) -> None:
    pairs = make_pairs(api)
    bodies = [order_body_of(p) for p in pairs for _ in range(5)]
    answered = run(api, pairs, [partial(api.post, "/orders", b) for b in bodies])
    # An order taken before the merge moves to T with its points; one after it is refused.
    assert codes(answered) <= {(201, None), (422, "validation_error")}, codes(answered)
    refused = [r for r in answered if r.status_code == 422]
    assert {e["code"] for r in refused for e in r.json()["errors"]} <= {"unknown_member"}
    balances = assert_all_at_target(api, pairs)
    for n, pair in enumerate(pairs):
        taken = sum(r.status_code == 201 for r in answered[n * 5 : n * 5 + 5])
        assert balances[pair.target] == 1500 + 120 * taken
        with api.factory() as session:
            kept = session.scalar(
                select(func.count()).select_from(Order).where(Order.member_id == pair.target)
            )
        assert kept == taken


def order_body_of(pair: Pair) -> dict[str, object]:
    return order_body(pair.store, member_id=pair.source)  # 120 points, released at once


def test_merge_races_refunds_of_the_merged_members_orders(api: Api) -> None:
    bought: dict[int, list[int]] = {}

    def three_orders(session: Session, pair: Pair) -> None:
        bought[pair.source] = [
            orders.create_order(session, SYSTEM, OrderCreate.model_validate(order_body_of(pair))).id
            for _ in range(3)
        ]

    pairs = make_pairs(api, three_orders)
    refunds = [
        partial(api.post, f"/orders/{o}/refunds", {"all": True})
        for p in pairs
        for o in bought[p.source]
    ]
    answered = run(api, pairs, refunds)
    assert codes(answered) == {(201, None)}, [r.text for r in answered]
    # Every order's 120 points are reversed, wherever the refund found them.
    assert set(assert_all_at_target(api, pairs).values()) == {1500}

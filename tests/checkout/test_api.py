"""The checkout over HTTP: quote, commit with its Idempotency-Key, the refusals and their
codes, and that a refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.checkout.models import CheckoutQuote
from patron.core import clock
from patron.core.actor import Role
from patron.core.money import MAX_FEN
from patron.core.settings import Settings
from patron.orders.models import Order
from tests.checkout.helpers import Shop, basket, coupon, line, shop
from tests.factories import make_staff, staff_headers


@pytest.fixture
def till(session: Session, settings: Settings) -> tuple[Shop, dict[str, str]]:
    where = shop(session)
    return where, staff_headers(make_staff(session, Role.cashier, [where.store]), settings)


def post(client: TestClient, headers: dict[str, str], path: str, body: Any, key: str = "") -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/checkout/{path}", json=body, headers={**headers, **extra})


def rows(session: Session) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        int(session.scalar(select(func.count()).select_from(t)) or 0)
        for t in (Order, CheckoutQuote)
    )


def test_a_sale_quoted_committed_and_replayed(
    client: TestClient, session: Session, till: tuple[Shop, dict[str, str]]
) -> None:
    where, headers = till
    ticket = coupon(session, where.member)
    quoted = post(client, headers, "quote", basket(where, coupon_codes="auto"))
    assert quoted.status_code == 201, quoted.text
    out = quoted.json()
    assert set(out) >= {
        "lines",
        "subtotal",
        "tier_discount",
        "coupon_discount",
        "points_used",
        "points_discount",
        "stored_value_used",
        "amount_due",
        "earn",
        "coupons",
        "quote_id",
        "expires_at",
    }
    assert out["coupons"][0]["code"] == ticket.code
    body = {
        "quote_id": out["quote_id"],
        "external_id": "POS-9",
        "payments": [{"method": "alipay", "amount": out["amount_due"]}],
    }
    first = post(client, headers, "commit", body, "k-1")
    assert first.status_code == 201, first.text
    assert first.json()["order"]["total"] == out["total"]
    assert first.json()["quote"]["status"] == "committed"
    again = post(client, headers, "commit", body, "k-1")
    assert (again.status_code, again.json()) == (200, first.json())
    used = post(client, headers, "commit", body | {"external_id": "POS-10"}, "k-2")
    assert (used.status_code, used.json()["code"]) == (409, "quote_used")
    shown = client.get(f"/api/v1/checkout/quotes/{out['quote_id']}", headers=headers)
    assert shown.json()["order_id"] == first.json()["order"]["id"]


def test_unknown_skus_are_priced_as_given(
    client: TestClient, till: tuple[Shop, dict[str, str]]
) -> None:
    where, headers = till
    body = basket(where, line("NEW-SKU-1", 3, 1999, name="新品", category_code="NEW"))
    out = post(client, headers, "quote", body).json()
    assert (out["total"], out["lines"][0]["name"]) == (5997, "新品")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"lines": [line("S", 1, -1)]}, "too_small"),
        ({"lines": [line("S", -1, 100)]}, "too_small"),
        ({"lines": [line("S", 1, MAX_FEN + 1)]}, "too_large"),
        ({"lines": [line("S", 2, MAX_FEN)]}, "order_total_too_large"),
        ({"lines": [line("S", 1, 100, member_price=101)]}, "discount_exceeds_price"),
        ({"points": -1}, "too_small"),
        ({"stored_value": "all"}, "not_a_choice"),
        ({"member_code": "123"}, "member_id_or_code"),
        ({"lines": [line("S", 1, 0)]}, "order_total_zero"),
        ({"stored_value": 100}, "insufficient_balance"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client: TestClient,
    session: Session,
    till: tuple[Shop, dict[str, str]],
    changes: dict[str, Any],
    code: str,
) -> None:
    where, headers = till
    before = rows(session)
    response = post(client, headers, "quote", basket(where, **changes))
    assert response.status_code in (409, 422), response.text
    problem = response.json()
    codes = [e["code"] for e in problem.get("errors", [])] or [problem["code"]]
    assert code in codes, problem
    assert rows(session) == before


def test_commit_refusals_write_nothing(
    client: TestClient, session: Session, till: tuple[Shop, dict[str, str]]
) -> None:
    where, headers = till
    out = post(client, headers, "quote", basket(where)).json()
    before = rows(session)
    body = {"quote_id": out["quote_id"], "external_id": "POS-1", "payments": []}
    short = post(client, headers, "commit", body, "k-1")
    assert short.json()["errors"][0]["code"] == "payments_mismatch"
    missing = post(client, headers, "commit", body | {"quote_id": "nope"}, "k-2")
    assert (missing.status_code, missing.json()["code"]) == (404, "quote_not_found")
    paid = body | {"payments": [{"method": "cash", "amount": out["amount_due"]}]}
    with clock.frozen(clock.now() + timedelta(minutes=6)):
        late = post(client, headers, "commit", paid, "k-3")
    assert (late.status_code, late.json()["code"]) == (409, "quote_expired")
    assert rows(session) == before


def test_a_stale_quote_answers_the_fresh_one(
    client: TestClient, session: Session, till: tuple[Shop, dict[str, str]]
) -> None:
    where, headers = till
    ticket = coupon(session, where.member)
    first = post(client, headers, "quote", basket(where, coupon_codes=[ticket.code])).json()
    second = post(client, headers, "quote", basket(where, coupon_codes=[ticket.code])).json()

    def paying(out: dict[str, Any], n: int) -> dict[str, Any]:
        payments = [{"method": "cash", "amount": out["amount_due"]}]
        return {"quote_id": out["quote_id"], "external_id": f"POS-{n}", "payments": payments}

    assert post(client, headers, "commit", paying(first, 1), "k-1").status_code == 201
    before = rows(session)
    stale = post(client, headers, "commit", paying(second, 2), "k-2")
    assert (stale.status_code, stale.json()["code"]) == (409, "quote_stale")
    fresh = stale.json()["quote"]
    assert fresh["coupon_discount"] == 0
    assert rows(session) == (before[0], before[1] + 1)
    assert post(client, headers, "commit", paying(fresh, 2), "k-2").status_code == 201

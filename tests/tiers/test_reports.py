"""The tier distribution report: members per tier per home store, movements per business month,
scoped to the caller's stores, as JSON, CSV and .xlsx, in two queries whatever the members."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.core.settings import Settings
from patron.stores.models import Store
from patron.tiers import reports, standing
from patron.tiers.models import ChangeReason
from tests.factories import make_member, make_staff, make_store, staff_headers
from tests.tiers.helpers import make_ladder

JAN = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
# 00:30 on 1 February in Shanghai: a February movement, though still January in UTC.
FEB_LOCAL = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture
def chain(session: Session) -> dict[str, Any]:
    """Store A: a normal member, a gold one (manual in January), a paid diamond over silver;
    store B: a silver member (manual in February, business time); no store: a normal member."""
    make_ladder(session)
    a, b = make_store(session), make_store(session)
    clock.set_now(JAN)
    make_member(session, a)
    gold = make_member(session, a)
    standing.set_tier(session, SYSTEM, gold.id, "gold", "vip")
    paid = make_member(session, a)
    standing.set_tier(session, SYSTEM, paid.id, "silver", "vip")
    clock.set_now(FEB_LOCAL)
    silver = make_member(session, b)
    standing.set_tier(session, SYSTEM, silver.id, "silver", "vip")
    lapsed = make_member(session, b)
    clock.set_now(NOW)
    make_member(session)
    for member, until in ((paid, NOW + timedelta(days=20)), (lapsed, NOW - timedelta(days=1))):
        row = standing.lock(session, [member.id])[member.id]
        row.paid_tier_id = next(t.id for t in standing.ladder(session) if t.code == "diamond")
        row.paid_until = until
    session.flush()
    return {"a": a, "b": b}


def manager_of(store: Store) -> Actor:
    return Actor(
        kind="staff", id=1, name="m", role=Role.store_manager, store_ids=frozenset({store.id})
    )


def test_hq_sees_every_member_and_movement(session: Session, chain: dict[str, Any]) -> None:
    a, b = chain["a"].id, chain["b"].id
    report = reports.distribution(session, SYSTEM, date(2026, 1, 1), date(2026, 3, 31))
    assert a < b
    assert [(h.store_id, h.tier, h.members) for h in report.holdings] == [
        (a, "normal", 1),
        (a, "gold", 1),
        (a, "diamond", 1),  # paid, over the silver held
        (b, "normal", 1),  # the paid diamond lapsed
        (b, "silver", 1),
        (None, "normal", 1),
    ]
    assert [(m.month, m.reason, m.from_tier, m.to_tier, m.changes) for m in report.movements] == [
        ("2026-01", "manual", "normal", "gold", 1),
        ("2026-01", "manual", "normal", "silver", 1),
        ("2026-02", "manual", "normal", "silver", 1),
    ]


def test_a_store_manager_sees_their_stores_members(session: Session, chain: dict[str, Any]) -> None:
    b = chain["b"]
    report = reports.distribution(session, manager_of(b), date(2026, 1, 1), date(2026, 3, 31))
    assert [(h.store_id, h.tier, h.members) for h in report.holdings] == [
        (b.id, "normal", 1),
        (b.id, "silver", 1),
    ]
    assert [(m.month, m.to_tier) for m in report.movements] == [("2026-02", "silver")]


def test_the_range_selects_the_movements_by_business_day(
    session: Session, chain: dict[str, Any]
) -> None:
    january = reports.distribution(session, SYSTEM, date(2026, 1, 1), date(2026, 1, 31))
    assert {m.month for m in january.movements} == {"2026-01"}
    february = reports.distribution(session, SYSTEM, date(2026, 2, 1), date(2026, 2, 1))
    assert [(m.month, m.changes) for m in february.movements] == [("2026-02", 1)]


def test_a_reversed_or_too_long_range_and_a_cashier_are_refused(
    session: Session, chain: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        reports.distribution(session, SYSTEM, date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        reports.distribution(session, SYSTEM, date(2020, 1, 1), date(2026, 1, 1))
    cashier = Actor(kind="staff", id=1, name="c", role=Role.cashier, store_ids=None)
    with pytest.raises(Forbidden):
        reports.distribution(session, cashier, date(2026, 1, 1), date(2026, 1, 31))


def test_with_tiers_off_the_report_is_empty(session: Session) -> None:
    make_member(session, make_store(session))
    report = reports.distribution(session, SYSTEM, date(2026, 1, 1), date(2026, 1, 31))
    assert (report.holdings, report.movements) == ([], [])


@pytest.fixture
def sent(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            seen.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


def test_two_queries_whatever_the_members(
    session: Session, chain: dict[str, Any], sent: list[str]
) -> None:
    def queries() -> int:
        reports.distribution(session, SYSTEM, date(2026, 1, 1), date(2026, 12, 31))
        sent.clear()
        reports.distribution(session, SYSTEM, date(2026, 1, 1), date(2026, 12, 31))
        return len(sent)

    few = queries()
    for n in range(20):
        member = make_member(session, chain["a"])
        standing.set_tier(session, SYSTEM, member.id, "silver" if n % 2 else "gold", "bulk")
    assert queries() == few == 2, sent


def test_the_reports_api_answers_json_csv_and_xlsx(
    client: TestClient, session: Session, settings: Settings, chain: dict[str, Any]
) -> None:
    """The distribution is the registry's `tiers` report: `holdings` and `movements` stay at
    the top level as the tier report's own route answered them."""
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    dates = {"from": "2026-01-01", "to": "2026-03-31"}
    shown = client.get("/api/v1/reports/tiers", params=dates, headers=admin)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert {"store_id": None, "tier": "normal", "members": 1} in body["holdings"]
    assert len(body["movements"]) == 3
    assert body["movements"][0] == {
        "month": "2026-01",
        "reason": "manual",
        "from_tier": "normal",
        "to_tier": "gold",
        "changes": 1,
    }
    assert (body["members"], body["upgrades"], body["downgrades"]) == (6, 0, 0)
    assert body["tables"]["holdings"] == body["holdings"]
    assert body["tables"]["per_month"][1] == {
        "month": "2026-02",
        **{r.value: 1 if r.value == "manual" else 0 for r in ChangeReason},
    }
    as_csv = client.get(
        "/api/v1/reports/tiers",
        params=dates | {"format": "csv", "table": "movements"},
        headers=admin,
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "month,reason,from_tier,to_tier,changes"
    assert lines[1] == "2026-01,manual,normal,gold,1"
    as_xlsx = client.get("/api/v1/reports/tiers", params=dates | {"format": "xlsx"}, headers=admin)
    assert as_xlsx.status_code == 200
    book = load_workbook(io.BytesIO(as_xlsx.content))
    rows = list(book["holdings"].iter_rows(values_only=True))
    assert rows[0] == ("store_id", "tier", "members")
    assert len(rows) == 1 + len(body["holdings"])
    reversed_ = client.get(
        "/api/v1/reports/tiers", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=admin
    )
    assert reversed_.status_code == 422
    assert reversed_.json()["errors"][0]["code"] == "dates_reversed"
    cashier = staff_headers(make_staff(session, Role.cashier, [chain["a"]]), settings)
    assert client.get("/api/v1/reports/tiers", params=dates, headers=cashier).status_code == 403
    manager = staff_headers(make_staff(session, Role.store_manager, [chain["b"]]), settings)
    mine = client.get("/api/v1/reports/tiers", params=dates, headers=manager).json()
    assert {h["store_id"] for h in mine["holdings"]} == {chain["b"].id}
    assert [m["to_tier"] for m in mine["movements"]] == ["silver"]


def test_one_stores_report_and_the_sums_the_console_draws(
    session: Session, chain: dict[str, Any]
) -> None:
    a, b = chain["a"], chain["b"]
    first, last = date(2026, 1, 1), date(2026, 3, 31)
    whole = reports.distribution(session, SYSTEM, first, last)
    assert reports.members_per_tier(whole) == {"normal": 3, "silver": 1, "gold": 1, "diamond": 1}
    assert reports.changes_per_month(whole) == {"2026-01": {"manual": 2}, "2026-02": {"manual": 1}}
    assert reports.month_labels(first, last) == ["2026-01", "2026-02", "2026-03"]
    only_b = reports.distribution(session, SYSTEM, first, last, b.id)
    assert {h.store_id for h in only_b.holdings} == {b.id}
    assert [(m.month, m.to_tier) for m in only_b.movements] == [("2026-02", "silver")]
    # another store than the manager's: nothing, not the other store's members
    outside = reports.distribution(session, manager_of(a), first, last, b.id)
    assert (outside.holdings, outside.movements) == ([], [])

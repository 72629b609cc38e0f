"""Cross-store settlement (跨店结算) and the liability by store of recharge."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.core.errors import Forbidden, InvalidInput
from patron.core.settings import Settings
from patron.members import merge as member_merge
from patron.stored_value import adjustments, ledger, recharges, reports
from patron.stored_value.models import StoredValueAccount
from patron.stores.models import Store
from tests.conftest import QueryCounter
from tests.factories import make_member, make_order, make_staff, make_store, staff_headers
from tests.stored_value.test_ledger import load

# 2026-03-02 10:00 in Shanghai; the business day 2026-03-02 ends at 16:00 UTC.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
DAY = date(2026, 3, 2)
URL = "/api/v1/stored-value/settlement"
PERIOD = {"from": "2026-03-02", "to": "2026-03-02"}


def manager_of(*stores: Store) -> Actor:
    return Actor("staff", 1, "manager", Role.store_manager, frozenset(s.id for s in stores))


class Scene:
    """On 2026-03-02 at store A (owned), store B (franchise) and online:
    ann loads 500+50 at A, spends 110 at B (100 principal + 10 bonus) and gets 55 back there
    (50 principal); bob loads 200 online, spends 30 at A, is adjusted −2 at HQ and paid out at
    A (168); cat loads 100 at B and takes it back in the cooling-off period; dan loads 20 at A
    and is merged into ann; ann is adjusted +10 at A. The next business day: eve loads 70 at A.
    """

    def __init__(self, session: Session) -> None:
        self.a = make_store(session, type="owned")
        self.b = make_store(session, type="franchise")
        ann, bob, cat, dan = (make_member(session, self.a) for _ in range(4))
        self.ann = ann
        with clock.frozen(T0):
            load(session, ann, self.a, 50000, 5000)
            load(session, bob, None, 20000)
            order = make_order(session, self.b, ann)
            ledger.spend(session, ann.id, 11000, self.b.id, order.id)
            ledger.reverse_spend(session, order.id, 5500, self.b.id)
            ledger.spend(session, bob.id, 3000, self.a.id, make_order(session, self.a, bob).id)
            adjustments.adjust(session, SYSTEM, bob.id, None, -200, 0, "till difference")
            recharges.refund_account(session, SYSTEM, bob.id, self.a.id, "closing")
            cooled = load(session, cat, self.b, 10000)
            recharges.refund_recharge(session, SYSTEM, cooled.id)
            load(session, dan, self.a, 2000)
            member_merge.merge_members(session, SYSTEM, dan.id, ann.id)
            adjustments.adjust(session, SYSTEM, ann.id, self.a.id, 1000, 0, "goodwill")
        with clock.frozen(datetime(2026, 3, 2, 16, 0, tzinfo=UTC)):  # 03-03 00:00 in Shanghai
            load(session, make_member(session, self.a), self.a, 7000)


@pytest.fixture
def scene(session: Session) -> Scene:
    return Scene(session)


def figures(row: Any) -> tuple[int, ...]:
    f = row.figures if hasattr(row, "figures") else row
    return f.recharged, f.refunded, f.spent, f.adjusted, f.net


def test_each_store_settles_its_principal(session: Session, scene: Scene) -> None:
    report = reports.settlement(session, SYSTEM, reports.Period(DAY, DAY))
    assert [(r.store_id, figures(r)) for r in report.rows] == [
        (None, (20000, 0, 0, -200, 19800)),
        (scene.a.id, (52000, 16800, 3000, 1000, 33200)),
        (scene.b.id, (10000, 10000, 5000, 0, -5000)),
    ]
    assert report.rows[1].store_code == scene.a.code
    assert report.rows[1].store_name == scene.a.name
    assert figures(report.totals) == (82000, 26800, 8000, 800, 48000)
    assert report.entries is None
    # every principal fen the chain holds came in on that day: the net is the accounts' sum
    held = session.scalar(select(func.sum(StoredValueAccount.principal)))
    assert held == 48000 + 7000


def test_the_period_is_business_days(session: Session, scene: Scene) -> None:
    both = reports.settlement(session, SYSTEM, reports.Period(DAY, DAY + timedelta(days=1)))
    assert both.totals.recharged == 82000 + 7000
    after = DAY + timedelta(days=1)
    next_day = reports.settlement(session, SYSTEM, reports.Period(after, after))
    assert [(r.store_id, figures(r)) for r in next_day.rows] == [
        (scene.a.id, (7000, 0, 0, 0, 7000))
    ]
    with pytest.raises(InvalidInput) as refused:
        reports.settlement(session, SYSTEM, reports.Period(DAY, DAY - timedelta(days=1)))
    assert refused.value.extra["errors"][0]["code"] == "dates_reversed"


def test_the_drill_down_lists_the_entries_summed(session: Session, scene: Scene) -> None:
    period = reports.Period(DAY, DAY)
    report = reports.settlement(session, SYSTEM, period)
    counted = 0
    for row in report.rows:
        drill = reports.settlement(session, SYSTEM, period, reports.StoreRef(row.store_id))
        assert drill.entries is not None
        assert [figures(r) for r in drill.rows] == [figures(row)]
        assert sum(e.principal for e in drill.entries) == row.figures.net
        assert all(e.kind not in ("merge_in", "merge_out", "bonus") for e in drill.entries)
        counted += sum(e.principal for e in drill.entries)
    assert counted == report.totals.net
    hq = reports.settlement(session, SYSTEM, period, reports.StoreRef(None))
    assert hq.entries is not None
    assert [(e.kind, e.principal) for e in hq.entries] == [("recharge", 20000), ("adjust", -200)]


def test_a_store_without_movement_has_a_zero_row(session: Session, scene: Scene) -> None:
    quiet = make_store(session)
    report = reports.settlement(
        session, SYSTEM, reports.Period(DAY, DAY), reports.StoreRef(quiet.id)
    )
    assert [(r.store_id, figures(r)) for r in report.rows] == [(quiet.id, (0, 0, 0, 0, 0))]
    assert report.entries == []


def test_a_store_manager_settles_their_own_stores(session: Session, scene: Scene) -> None:
    period = reports.Period(DAY, DAY)
    report = reports.settlement(session, manager_of(scene.a), period)
    assert [(r.store_id, figures(r)) for r in report.rows] == [
        (scene.a.id, (52000, 16800, 3000, 1000, 33200))
    ]
    assert figures(report.totals) == (52000, 16800, 3000, 1000, 33200)
    for other in (reports.StoreRef(scene.b.id), reports.StoreRef(None)):
        with pytest.raises(InvalidInput):
            reports.settlement(session, manager_of(scene.a), period, other)
    cashier = Actor("staff", 2, "till", Role.cashier, frozenset({scene.a.id}))
    with pytest.raises(Forbidden):
        reports.settlement(session, cashier, period)


def test_settlement_over_http_as_json_csv_and_xlsx(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    body = client.get(URL, params=PERIOD, headers=finance).json()
    assert (body["from"], body["to"]) == ("2026-03-02", "2026-03-02")
    assert [r["store_id"] for r in body["rows"]] == [None, scene.a.id, scene.b.id]
    assert body["rows"][2] == {
        "store_id": scene.b.id,
        "store_code": scene.b.code,
        "store_name": scene.b.name,
        "recharged": 10000,
        "refunded": 10000,
        "spent": 5000,
        "adjusted": 0,
        "net": -5000,
    }
    assert body["totals"]["net"] == 48000
    assert body["entries"] is None

    response = client.get(URL, params={**PERIOD, "format": "csv"}, headers=finance)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        "stored-value-settlement-20260302-20260302.csv" in response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(reports.SETTLEMENT_COLUMNS)
    assert rows[1] == ["hq", "", "", "20000", "0", "0", "-200", "19800"]
    assert rows[-1] == ["total", "", "", "82000", "26800", "8000", "800", "48000"]

    response = client.get(URL, params={**PERIOD, "format": "xlsx"}, headers=finance)
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[2] == [scene.a.id, scene.a.code, scene.a.name, 52000, 16800, 3000, 1000, 33200]
    assert cells[-1][0] == "total"


def test_the_drill_down_over_http(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    body = client.get(URL, params={**PERIOD, "store_id": scene.b.id}, headers=finance).json()
    assert [r["store_id"] for r in body["rows"]] == [scene.b.id]
    assert [(e["kind"], e["principal"]) for e in body["entries"]] == [
        ("spend", -10000),
        ("spend_reversal", 5000),
        ("recharge", 10000),
        ("refund", -10000),
    ]
    assert body["entries"][0]["order_id"] is not None
    assert body["entries"][2]["recharge_id"] is not None
    hq = client.get(URL, params={**PERIOD, "store_id": "hq"}, headers=finance).json()
    assert [e["member_id"] for e in hq["entries"]] == [hq["entries"][0]["member_id"]] * 2

    response = client.get(
        URL, params={**PERIOD, "store_id": scene.b.id, "format": "csv"}, headers=finance
    )
    assert (
        f"stored-value-settlement-20260302-20260302-{scene.b.id}.csv"
        in (response.headers["content-disposition"])
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(reports.ENTRY_COLUMNS)
    assert [(r[2], r[3]) for r in rows[1:]] == [
        ("spend", "-10000"),
        ("spend_reversal", "5000"),
        ("recharge", "10000"),
        ("refund", "-10000"),
    ]
    assert rows[1][4] == "2026-03-02T10:00:00+08:00"
    response = client.get(
        URL, params={**PERIOD, "store_id": "hq", "format": "xlsx"}, headers=finance
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [(r[2], r[3], r[5]) for r in cells[1:]] == [
        ("recharge", 20000, "hq"),
        ("adjust", -200, "hq"),
    ]


def test_settlement_roles_and_refusals_over_http(
    client: TestClient, session: Session, settings: Settings, scene: Scene
) -> None:
    manager = staff_headers(make_staff(session, Role.store_manager, [scene.b]), settings)
    body = client.get(URL, params=PERIOD, headers=manager).json()
    assert [r["store_id"] for r in body["rows"]] == [scene.b.id]
    assert body["totals"]["net"] == -5000
    refused = client.get(URL, params={**PERIOD, "store_id": "hq"}, headers=manager)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "unknown_store"
    assert (
        client.get(URL, params={**PERIOD, "store_id": scene.a.id}, headers=manager).status_code
        == 422
    )
    for role in (Role.cashier, Role.guide, Role.hq_marketing):
        headers = staff_headers(make_staff(session, role, [scene.a]), settings)
        assert client.get(URL, params=PERIOD, headers=headers).status_code == 403
    admin = staff_headers(make_staff(session, Role.hq_admin), settings)
    for params in (
        {"from": "2026-03-02"},
        {**PERIOD, "store_id": "HQ"},
        {**PERIOD, "store_id": "0"},
        {"from": "2026-03-03", "to": "2026-03-02"},
        {**PERIOD, "store_id": "999999"},
    ):
        assert client.get(URL, params=params, headers=admin).status_code == 422, params


class Holdings:
    """Ann loads 100+10 at A, then 50 online, then is adjusted +3, then spends 120; Bob loads
    20 at B and is merged into Cat, who has no recharge of her own; Dan loads 80 at B and takes it back
    (cooling-off) and is adjusted +7; Eve loads 30 at A and is paid out."""

    def __init__(self, session: Session) -> None:
        self.a, self.b = make_store(session), make_store(session)
        ann, bob, cat, dan, eve = (make_member(session, self.a) for _ in range(5))
        now = T0
        for step in (
            lambda: load(session, ann, self.a, 10000, 1000),
            lambda: load(session, ann, None, 5000),
            lambda: adjustments.adjust(session, SYSTEM, ann.id, None, 300, 0, "x"),
            lambda: ledger.spend(session, ann.id, 12000, self.a.id, None),
            lambda: load(session, bob, self.b, 2000),
            lambda: member_merge.merge_members(session, SYSTEM, bob.id, cat.id),
            lambda: recharges.refund_recharge(session, SYSTEM, load(session, dan, self.b, 8000).id),
            lambda: adjustments.adjust(session, SYSTEM, dan.id, self.b.id, 700, 0, "x"),
            lambda: load(session, eve, self.a, 3000),
            lambda: recharges.refund_account(session, SYSTEM, eve.id, None, "close"),
        ):
            now += timedelta(minutes=1)
            with clock.frozen(now):
                step()


def test_the_liability_is_attributed_to_the_newest_recharges(session: Session) -> None:
    scene = Holdings(session)
    report = reports.liability(session, SYSTEM)
    # ann: 15,300 principal and 1,000 bonus, less 12,000 (736 of it bonus): 4,036 and 264 left;
    # the online 50 explains the principal, A's package the bonus.
    assert [(r.store_id, r.holding.principal, r.holding.bonus) for r in report.rows] == [
        (None, 4036, 0),
        (scene.a.id, 0, 264),
        (scene.b.id, 2000, 0),  # bob's recharge at B, merged into cat
    ]
    assert report.unattributed == reports.Holding(700, 0)  # dan's adjustment
    assert report.totals == reports.Holding(4036 + 2700, 264)
    principal, bonus = session.execute(
        select(func.sum(StoredValueAccount.principal), func.sum(StoredValueAccount.bonus))
    ).one()
    assert report.totals == reports.Holding(principal, bonus)


def test_the_liability_is_one_query_however_many_members(
    session: Session, count_queries: QueryCounter
) -> None:
    store = make_store(session)
    for _ in range(5):
        member = make_member(session, store)
        load(session, member, store, 1000, 100)
        load(session, member, None, 500)
    session.flush()
    count_queries.count = 0
    report = reports.liability(session, SYSTEM)
    # the accounts, the merged members, the recharges, the stores' names
    assert count_queries.count == 4
    assert report.totals == reports.Holding(7500, 500)


def test_a_store_manager_sees_their_stores_liability(session: Session) -> None:
    scene = Holdings(session)
    report = reports.liability(session, manager_of(scene.a))
    assert [(r.store_id, r.holding.bonus) for r in report.rows] == [(scene.a.id, 264)]
    assert report.unattributed == reports.Holding()
    assert report.totals == reports.Holding(0, 264)


def test_each_store_managers_liability_is_the_chain_wides_row_of_their_store(
    session: Session,
) -> None:
    """A manager's report reads only the accounts with a recharge at their store (those of
    members merged into another counted as the survivor's); what it attributes is what the
    chain-wide attribution gives that store."""
    scene = Holdings(session)
    chain_wide = {r.store_id: r.holding for r in reports.liability(session, SYSTEM).rows}
    for store in (scene.a, scene.b):
        report = reports.liability(session, manager_of(store))
        assert [(r.store_id, r.holding) for r in report.rows] == [(store.id, chain_wide[store.id])]
    assert chain_wide[scene.b.id] == reports.Holding(2000, 0)


def test_liability_over_http(client: TestClient, session: Session, settings: Settings) -> None:
    scene = Holdings(session)
    finance = staff_headers(make_staff(session, Role.hq_finance), settings)
    body = client.get("/api/v1/stored-value/liability", headers=finance).json()
    assert body["rows"][1] == {
        "store_id": scene.a.id,
        "store_code": scene.a.code,
        "store_name": scene.a.name,
        "principal": 0,
        "bonus": 264,
        "balance": 264,
    }
    assert body["unattributed"] == {"principal": 700, "bonus": 0, "balance": 700}
    assert body["totals"] == {"principal": 6736, "bonus": 264, "balance": 7000}
    response = client.get(
        "/api/v1/stored-value/liability", params={"format": "csv"}, headers=finance
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        list(reports.LIABILITY_COLUMNS),
        ["hq", "", "", "4036", "0"],
        [str(scene.a.id), scene.a.code, scene.a.name, "0", "264"],
        [str(scene.b.id), scene.b.code, scene.b.name, "2000", "0"],
        ["unattributed", "", "", "700", "0"],
        ["total", "", "", "6736", "264"],
    ]
    response = client.get(
        "/api/v1/stored-value/liability", params={"format": "xlsx"}, headers=finance
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert list(sheet.iter_rows(values_only=True))[-1] == ("total", None, None, 6736, 264)
    cashier = staff_headers(make_staff(session, Role.cashier, [scene.a]), settings)
    assert client.get("/api/v1/stored-value/liability", headers=cashier).status_code == 403

"""The member reports against figures computed independently (pandas and plain Python) from the
same generated members and purchases: chain-wide, for a store manager (their stores only) and
for one order channel."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM, Actor, Role
from patron.reports import registry
from patron.reports.query import Period, report_query
from tests.reports.member_world import NOW, World, build_world

YEAR = (date(2025, 1, 1), date(2025, 12, 31))


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def manager_of(world: World, index: int = 0) -> Actor:
    return Actor(
        kind="staff",
        id=1,
        name="m",
        role=Role.store_manager,
        store_ids=frozenset({world.stores[index].id}),
    )


def run(
    session: Session,
    name: str,
    period: tuple[date, date] = YEAR,
    actor: Actor = SYSTEM,
    channel: str | None = None,
) -> registry.Result:
    with clock.frozen(NOW):
        query = report_query(session, actor, Period(*period), channel=channel)
        return registry.run(session, actor, registry.get(name), query).result


def rows(result: registry.Result, table: str) -> list[dict[str, Any]]:
    found = {t.name: t for t in result.tables}
    return found[table].as_dicts()


def scoped(world: World, actor: Actor, channel: str | None = None) -> pd.DataFrame:
    facts = world.facts
    if actor.store_ids is not None:
        facts = facts[facts.store_id.isin(actor.store_ids)]
    if channel is not None:
        facts = facts[facts.channel == channel]
    return facts


def between(facts: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    return facts[(facts.day >= first) & (facts.day <= last)]


def month(day: date) -> str:
    return f"{day:%Y-%m}"


def ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


SCOPES = [("chain", None), ("manager", None), ("chain", "pos"), ("manager", "online_mall")]


def actor_for(world: World, who: str) -> Actor:
    return SYSTEM if who == "chain" else manager_of(world)


# --- growth -------------------------------------------------------------------------------------


def test_growth_counts_registrations_and_conversion_within_30_days(
    session: Session, world: World
) -> None:
    first, last = date(2025, 2, 1), date(2025, 11, 30)
    for who in ("chain", "manager"):
        actor = actor_for(world, who)
        m = world.members
        new = m[(m.registered_day >= first) & (m.registered_day <= last) & (m.status != "merged")]
        if actor.store_ids is not None:
            new = new[new.store_id.isin(actor.store_ids)]
        firsts = world.facts.groupby("member_id").day.min().to_dict()
        converted = [
            i in firsts and 0 <= (firsts[i] - day).days <= 30
            for i, day in zip(new.id, new.registered_day, strict=True)
        ]
        new = new.assign(converted=converted)
        result = run(session, "growth", (first, last), actor)
        assert result.summary == {
            "new_members": len(new),
            "converted_30d": sum(converted),
            "conversion_rate": round(ratio(sum(converted), len(new)), 4),
        }
        assert 0 < sum(converted) < len(new)
        daily = {r["day"]: r["new_members"] for r in rows(result, "daily")}
        assert len(daily) == (last - first).days + 1
        assert {d: n for d, n in daily.items() if n} == new.groupby(
            "registered_day"
        ).size().to_dict()
        for table, column in (
            ("by_channel", "channel"),
            ("by_store", "store_id"),
            ("by_guide", "guide_id"),
        ):
            expected = {
                (None if pd.isna(key) else key): (len(g), int(g.converted.sum()))
                for key, g in new.groupby(column, dropna=False)
            }
            found = {r[column]: (r["new_members"], r["converted_30d"]) for r in rows(result, table)}
            assert found == expected, table


# --- active -------------------------------------------------------------------------------------


def test_active_members_per_month_and_over_30_and_90_days(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        first, last = date(2025, 1, 10), date(2025, 10, 20)
        facts = scoped(world, actor, channel)
        result = run(session, "active", (first, last), actor, channel)
        assert result.summary == {
            "active_members": between(facts, first, last).member_id.nunique(),
            "active_30d": between(facts, last - timedelta(days=29), last).member_id.nunique(),
            "active_90d": between(facts, last - timedelta(days=89), last).member_id.nunique(),
        }
        in_period = between(facts, first, last)
        expected = in_period.groupby(in_period.day.map(month)).member_id.nunique().to_dict()
        monthly = {r["month"]: r["active_members"] for r in rows(result, "monthly")}
        assert list(monthly) == [f"2025-{n:02d}" for n in range(1, 11)]
        assert {k: v for k, v in monthly.items() if v} == expected


# --- repurchase ---------------------------------------------------------------------------------


def repurchase(facts: pd.DataFrame, by: list[str]) -> dict[Any, tuple[int, int, float]]:
    days = facts.groupby([*by, "member_id"]).day.nunique().reset_index()
    found = {}
    for key, group in days.groupby(by) if by else [(None, days)]:
        key = key[0] if isinstance(key, tuple) else key
        again = int((group.day >= 2).sum())
        found[key] = (len(group), again, round(ratio(again, len(group)), 4))
    return found


def test_repurchase_rate_overall_per_month_and_per_store(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        facts = between(scoped(world, actor, channel), *YEAR)
        result = run(session, "repurchase", YEAR, actor, channel)
        (overall,) = repurchase(facts, []).values()
        assert (
            result.summary["buyers"],
            result.summary["repurchasers"],
            result.summary["repurchase_rate"],
        ) == overall
        assert 0 < overall[1] < overall[0]
        monthly = {
            r["month"]: (r["buyers"], r["repurchasers"], r["repurchase_rate"])
            for r in rows(result, "monthly")
            if r["buyers"]
        }
        assert monthly == repurchase(facts.assign(month=facts.day.map(month)), ["month"])
        stores = {
            r["store_id"]: (r["buyers"], r["repurchasers"], r["repurchase_rate"])
            for r in rows(result, "by_store")
        }
        assert stores == repurchase(facts, ["store_id"])
        if actor.store_ids is not None:
            assert set(stores) <= actor.store_ids


# --- cohorts ------------------------------------------------------------------------------------


def month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def retention(
    cohorts: dict[int, int], facts: pd.DataFrame, first: date, last: date
) -> dict[tuple[str, int], tuple[int, int]]:
    """(cohort, offset) → (members, buyers) for the offsets seen by `last`."""
    seen = between(facts, first.replace(day=1), last)
    bought = set(zip(seen.member_id, seen.day.map(month_number), strict=True))
    sizes: dict[int, int] = {}
    for cohort in cohorts.values():
        sizes[cohort] = sizes.get(cohort, 0) + 1
    cells = {}
    for cohort in range(month_number(first), month_number(last) + 1):
        for k in range(min(12, month_number(last) - cohort + 1)):
            buyers = sum(1 for m, c in cohorts.items() if c == cohort and (m, cohort + k) in bought)
            label = f"{cohort // 12}-{cohort % 12 + 1:02d}"
            cells[(label, k)] = (sizes.get(cohort, 0), buyers)
    return cells


def cells_of(result: registry.Result) -> dict[tuple[str, int], tuple[int, int]]:
    found = {}
    for r in rows(result, "retention"):
        found[(r["cohort"], r["month_offset"])] = (r["members"], r["buyers"])
        assert r["retention"] == round(ratio(r["buyers"], r["members"]), 4)
    return found


def test_cohorts_by_first_purchase_month(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        first, last = date(2025, 1, 15), date(2025, 12, 10)
        facts = scoped(world, actor, channel)
        firsts = facts.groupby("member_id").day.min()
        cohorts = {
            int(m): month_number(d) for m, d in firsts.items() if first.replace(day=1) <= d <= last
        }
        result = run(session, "cohorts", (first, last), actor, channel)
        expected = retention(cohorts, facts, first, last)
        assert cells_of(result) == expected
        assert result.summary["members"] == len(cohorts)
        assert all(
            cells_of(result)[(c, 0)][1] == n for (c, k), (n, _) in expected.items() if k == 0
        )
        matrix = rows(result, "matrix")
        assert [r["cohort"] for r in matrix] == [f"2025-{n:02d}" for n in range(1, 13)]
        assert matrix[-1]["m1"] is None
        assert matrix[0]["m11"] is not None


def test_cohorts_by_registration_month(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        first, last = date(2025, 1, 1), date(2025, 12, 31)
        m = world.members
        new = m[(m.registered_day >= first) & (m.registered_day <= last) & (m.status != "merged")]
        if actor.store_ids is not None:
            new = new[new.store_id.isin(actor.store_ids)]
        cohorts = {int(i): month_number(d) for i, d in zip(new.id, new.registered_day, strict=True)}
        result = run(session, "cohorts_registration", (first, last), actor, channel)
        expected = retention(cohorts, scoped(world, actor, channel), first, last)
        assert cells_of(result) == expected
        month1 = [(n, b) for (_, k), (n, b) in expected.items() if k == 1]
        assert result.summary == {
            "members": len(cohorts),
            "month1_retention": round(
                ratio(sum(b for _, b in month1), sum(n for n, _ in month1)), 4
            ),
        }


# --- pareto -------------------------------------------------------------------------------------


def test_pareto_top20_share_gini_and_lorenz_curve(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        facts = between(scoped(world, actor, channel), *YEAR)
        sales = sorted(facts.groupby("member_id").net_sales.sum().tolist())
        n, total = len(sales), sum(sales)
        top = sum(sorted(sales, reverse=True)[: math.ceil(n / 5)])
        # Gini as the mean absolute difference over twice the mean.
        gini = sum(abs(a - b) for a in sales for b in sales) / (2 * n * n * (total / n))
        result = run(session, "pareto", YEAR, actor, channel)
        summary = result.summary
        assert (summary["buyers"], summary["member_sales"]) == (n, total)
        assert summary["top20_share"] == pytest.approx(top / total, abs=1e-4)
        assert summary["gini"] == pytest.approx(gini, abs=1e-4)
        assert summary["top20_share"] > 0.2
        assert summary["gini"] > 0.2
        lorenz = [sum(sales[: p * n // 100]) / total for p in range(101)]
        curve = summary["curve"]
        assert [c["buyers_share"] for c in curve] == [p / 100 for p in range(101)]
        assert [c["sales_share"] for c in curve] == pytest.approx(lorenz, abs=1e-4)
        assert rows(result, "curve") == curve


def test_pareto_of_nobody_is_zero(session: Session, world: World) -> None:
    result = run(session, "pareto", (date(2020, 1, 1), date(2020, 1, 31)))
    assert (result.summary["buyers"], result.summary["top20_share"], result.summary["gini"]) == (
        0,
        0.0,
        0.0,
    )
    assert {c["sales_share"] for c in result.summary["curve"]} == {0.0}


# --- rfm and lifecycle --------------------------------------------------------------------------


def test_rfm_and_lifecycle_shares_of_members_and_of_sales(session: Session, world: World) -> None:
    for who, channel in SCOPES:
        actor = actor_for(world, who)
        m = world.members
        members = m[m.status == "active"]
        if actor.store_ids is not None:
            members = members[members.store_id.isin(actor.store_ids)]
        profiles = world.profiles.set_index("member_id")
        spent = between(scoped(world, actor, channel), *YEAR).groupby("member_id").net_sales.sum()
        total = int(spent.sum())
        for name, column, none in (
            ("rfm", "rfm_class", "unscored"),
            ("lifecycle", "lifecycle", "prospect"),
        ):
            classes = {
                int(i): none if value is None or pd.isna(value) else str(value)
                for i, value in profiles[column].items()
            }
            held = pd.Series([classes.get(i, none) for i in members.id]).value_counts().to_dict()
            bought = spent.groupby([classes.get(i, none) for i in spent.index]).agg(["size", "sum"])
            result = run(session, name, YEAR, actor, channel)
            assert result.summary == {
                "members": len(members),
                "buyers": len(spent),
                "member_sales": total,
            }
            table = {r[column]: r for r in rows(result, "classes")}
            assert none in table
            for key, r in table.items():
                members_ = held.get(key, 0)
                buyers, sales = (
                    (int(bought.loc[key, "size"]), int(bought.loc[key, "sum"]))
                    if key in bought.index
                    else (0, 0)
                )
                assert (r["members"], r["buyers"], r["sales"]) == (members_, buyers, sales), key
                assert r["members_share"] == round(ratio(members_, len(members)), 4)
                assert r["sales_share"] == round(ratio(sales, total), 4)
            assert sum(r["members"] for r in table.values()) == len(members)
            assert sum(r["sales"] for r in table.values()) == total

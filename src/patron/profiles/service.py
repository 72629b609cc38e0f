"""Profiles: rebuilt set-based by `refresh` (nightly, `patron profiles refresh`), their raw
facts kept current between refreshes by `update_facts` (the facts job, every 5 minutes, for
members with orders or refunds past the watermark: nothing on the order path).

A refresh is a few statements whatever the number of members. On PostgreSQL
(`patron.profiles.columnar`): the orders that count and the lines read once each into numpy
arrays, every per-member figure and preference computed there with the scores (RFM, lifecycle,
CLV), the rows written back by one binary COPY and every active member's profile inserted from
them. On SQLite: the per-member groups and facts into temporary tables, read back one row per
member for the scores, written to a second temporary table, then every active member's profile
in one INSERT ... SELECT joining them with the preferences (top stores, channels, categories,
weekday, hour, similar members' categories), each one GROUP BY. No per-member Python loop."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    case,
    cast,
    delete,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.core import clock
from patron.core.db import UTCDateTime
from patron.core.settings import get_settings
from patron.members import registry as members
from patron.orders import queries as orders
from patron.profiles import columnar
from patron.profiles import facts as sql
from patron.profiles.models import ClvFit, MemberProfile, ProfileWatermark
from patron.profiles.scoring import Lifecycle, LifecycleRule, Rfm, RfmClass, lifecycle, rfm
from patron.stores import service as stores

log = logging.getLogger(__name__)

MODEL = "bgnbd+gamma_gamma"
CLV_DAYS = 365
MIN_CLV_REPEATERS = 20  # fewer members with a repeat purchase day: no CLV fit
CHUNK = 100_000
WATERMARK_ID = 1
# Members per statement of the facts job: 16 columns each stay under SQLite's 32,766 variables.
FACTS_BATCH = 1000
WATERMARK_MARGIN = 1000
WORK_MEM = "256MB"  # PostgreSQL, for the refresh's transaction only


@dataclass
class RefreshReport:
    now: datetime
    members: int = 0
    buyers: int = 0
    scored: int = 0  # with a purchase in the RFM window
    classes: dict[str, int] = field(default_factory=dict)
    lifecycle: dict[str, int] = field(default_factory=dict)
    fit: ClvFit | None = None
    clv_skipped: str | None = None  # why there is no CLV this time
    seconds: float = 0.0


def lifecycle_rule() -> LifecycleRule:
    s = get_settings()
    return LifecycleRule(
        s.lifecycle_basis,
        s.lifecycle_new_days,
        s.lifecycle_at_risk_days,
        s.lifecycle_dormant_days,
        s.lifecycle_churned_days,
    )


# --- refresh ----------------------------------------------------------------------------------

_FACT_COLUMNS = (
    "member_id",
    "orders_window",
    "monetary_window",
    "purchase_days",
    "first_day",
    "last_day",
    "monetary_lifetime",
    "first_day_value",
)


def _read_facts(session: Session) -> dict[str, npt.NDArray[np.int64]]:
    """FACTS into numpy columns, through the DBAPI cursor: plain tuples (numpy converting
    SQLAlchemy rows took 20 s for 864,296 members; tuples well under a second)."""
    query = select(*(sql.FACTS.c[name] for name in _FACT_COLUMNS)).order_by(sql.FACTS.c.member_id)
    connection = session.connection()
    statement = str(query.compile(dialect=connection.dialect))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
        chunks = []
        while part := cursor.fetchmany(CHUNK):
            chunks.append(np.array(part, dtype=np.int64).reshape(-1, len(_FACT_COLUMNS)))
    finally:
        cursor.close()
    table = np.concatenate(chunks) if chunks else np.zeros((0, len(_FACT_COLUMNS)), np.int64)
    return {name: table[:, i] for i, name in enumerate(_FACT_COLUMNS)}


@dataclass
class Clv:
    p_alive: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    fit: ClvFit


def _fit_clv(
    now: datetime,
    x: npt.NDArray[np.int64],
    t_x: npt.NDArray[np.int64],
    age: npt.NDArray[np.int64],
    monetary: npt.NDArray[np.float64],
) -> Clv | str:
    """BG/NBD and Gamma-Gamma (patron.profiles.clv), or why not."""
    from patron.profiles import clv  # scipy: imported by a refresh, not by every process

    repeat = x > 0
    if int(repeat.sum()) < MIN_CLV_REPEATERS:
        return f"fewer than {MIN_CLV_REPEATERS} members with a repeat purchase day"
    frequency, recency, t = x.astype(float), t_x.astype(float), age.astype(float)
    try:
        bgnbd = clv.fit_bgnbd(frequency, recency, t)
        spend = clv.fit_gamma_gamma(frequency[repeat], monetary[repeat])
        alive = clv.probability_alive(bgnbd, frequency, recency, t)
        expected = clv.expected_purchases(bgnbd, CLV_DAYS, frequency, recency, t)
        value = expected * clv.expected_spend(spend, frequency, monetary)
    except (clv.ClvFitError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return f"the CLV fit failed: {exc}"
    fit = ClvFit(
        model=MODEL,
        time_unit="day",
        params={"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b},
        spend_params={"p": spend.p, "q": spend.q, "gamma": spend.gamma},
        customers=len(x),
        fitted_at=clock.now(),
        data_until=now,
    )
    return Clv(alive, expected, value, fit)


def _clean(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if not math.isfinite(v) else v for v in values.tolist()]


def _score_rows(
    ids: npt.NDArray[np.int64],
    scored: npt.NDArray[np.bool_],
    scores: Rfm,
    stages: npt.NDArray[np.object_],
    clv: Clv | None,
) -> Iterator[tuple[Any, ...]]:
    """SCORES's rows (SQLite): None where a member has no RFM score or CLV."""
    n = len(ids)
    columns: list[list[Any]] = [[None] * n for _ in range(4)]
    at = np.flatnonzero(scored).tolist()
    for column, values in zip(columns, (scores.r, scores.f, scores.m, scores.classes), strict=True):
        for i, v in zip(at, values.tolist(), strict=True):
            column[i] = v
    if clv is None:
        alive: list[Any] = [None] * n
        expected: list[Any] = [None] * n
        value: list[Any] = [None] * n
    else:
        alive, expected = _clean(clv.p_alive), _clean(clv.expected)
        value = [None if v is None else int(v) for v in _clean(np.round(clv.value))]
    yield from zip(ids.tolist(), *columns, stages.tolist(), alive, expected, value, strict=True)


def _write_columns(
    session: Session,
    read: columnar.Read,
    scored: npt.NDArray[np.bool_],
    scores: Rfm,
    stages: npt.NDArray[np.object_],
    clv: Clv | None,
) -> None:
    """PostgreSQL: every read member's row (active buyers' scores and CLV, every member's facts
    and preferences; the final insert keeps active members) into columnar.ROWS by one binary
    COPY; codes stand for texts (`_columnar_rows` reads them back), NaN for no value."""
    o, c, facts = read.orders, read.categories, read.facts
    ids = np.union1d(o.member_id, c.member_id)
    n = len(ids)

    def spread(owners: npt.NDArray[np.int64], values: Any, empty: Any) -> Any:
        shape = (n, *np.shape(values)[1:])
        out = np.full(shape, empty, dtype=np.asarray(values).dtype)
        out[np.searchsorted(ids, owners)] = values
        return out

    buyer = facts["member_id"]
    scored_ids = buyer[scored]
    nan = float("nan")
    columns: list[tuple[str, str, Any]] = [("member_id", "i8", ids)]
    for name in (
        "first_at",
        "last_at",
        "orders_lifetime",
        "monetary_lifetime",
        "orders_window",
        "monetary_window",
        "purchase_days",
        "weekday",
        "hour",
    ):
        columns.append((name, "i8", spread(o.member_id, getattr(o, name), 0)))
    for name, values in (("rfm_r", scores.r), ("rfm_f", scores.f), ("rfm_m", scores.m)):
        columns.append((name, "i8", spread(scored_ids, values, 0)))
    columns.append(("rfm_class", "i8", spread(scored_ids, _codes(scores.classes, RFM_CLASSES), 0)))
    columns.append(("lifecycle", "i8", spread(buyer, _codes(stages, STAGES), 0)))
    if clv is None:
        blank = np.full(n, nan)
        clv_values = (blank, blank, blank)
    else:
        clv_values = (
            spread(buyer, clv.p_alive, nan),
            spread(buyer, clv.expected, nan),
            spread(buyer, np.round(clv.value), nan),
        )
    for name, values in zip(("p_alive", "expected", "clv"), clv_values, strict=True):
        columns.append((name, "f8", values))
    for name, owners, table in (
        ("store", o.member_id, o.stores),
        ("channel", o.member_id, o.channels),
        ("category", c.member_id, c.top),
        ("similar", c.member_id, c.similar),
    ):
        spread_table = spread(owners, table, 0)
        columns += [(f"{name}{i + 1}", "i8", spread_table[:, i]) for i in range(sql.TOP)]
    columnar.create(session)
    columnar.write_rows(session, columnar.ROWS.name, columns)
    sql.analyze(session, columnar.ROWS)


RFM_CLASSES = tuple(c.value for c in RfmClass)
STAGES = tuple(s.value for s in Lifecycle)


def _codes(values: npt.NDArray[np.object_], names: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """1 + the index of each value in `names`."""
    lookup = {name: i + 1 for i, name in enumerate(names)}
    return np.array([lookup[v] for v in values.tolist()], dtype=np.int64)


def _columnar_rows(now: datetime) -> Select[Any]:
    """PostgreSQL: every active member's profile from columnar.ROWS (codes back to texts)."""
    active = members.active_ids().subquery("members")
    p = columnar.ROWS
    moment = literal(now, UTCDateTime())
    bought = p.c.orders_lifetime > 0
    orders_lifetime = func.coalesce(p.c.orders_lifetime, 0)

    def named(column: Any, names: tuple[str, ...]) -> Any:
        return case({i + 1: name for i, name in enumerate(names)}, value=column)

    def listed(name: str, names: tuple[str, ...] | None = None) -> Any:
        keys = [p.c[f"{name}{i + 1}"] for i in range(sql.TOP)]
        items: list[ColumnElement[Any]] = [
            func.nullif(k, 0) if names is None else named(k, names) for k in keys
        ]
        return sql.json_list("postgresql", items, quoted=names is not None)

    def present(column: Any) -> Any:
        return func.nullif(column, literal(float("nan"), Float))

    return (
        select(
            active.c.id,
            case((bought, p.c.first_at)),
            case((bought, p.c.last_at)),
            orders_lifetime,
            func.coalesce(p.c.monetary_lifetime, 0),
            func.coalesce(p.c.orders_window, 0),
            func.coalesce(p.c.monetary_window, 0),
            case((bought, p.c.monetary_lifetime / p.c.orders_lifetime), else_=0),
            func.coalesce(p.c.purchase_days, 0),
            func.nullif(p.c.rfm_r, 0),
            func.nullif(p.c.rfm_f, 0),
            func.nullif(p.c.rfm_m, 0),
            named(p.c.rfm_class, RFM_CLASSES),
            func.coalesce(named(p.c.lifecycle, STAGES), Lifecycle.prospect.value),
            present(p.c.p_alive),
            present(p.c.expected),
            cast(present(p.c.clv), BigInteger),
            listed("store"),
            listed("channel", orders.CHANNELS),
            listed("category"),
            case((bought, p.c.weekday)),
            case((bought, p.c.hour)),
            listed("similar"),
            moment,
            moment,
        )
        .select_from(active)
        .outerjoin(p, p.c.member_id == active.c.id)
    )


def _fill(session: Session, table: Any, query: Select[Any]) -> None:
    session.execute(table.insert().from_select([c.name for c in query.selected_columns], query))
    sql.analyze(session, table)


def refresh(session: Session, now: datetime) -> RefreshReport:
    """Every active member's profile from the orders before `now`; merged-away and erased
    members' profiles go. Also fits the CLV model (kept as a ClvFit) when there is data."""
    started = time.perf_counter()
    settings = get_settings()
    report = RefreshReport(now=now)
    local = sql.local_for(session, now)
    last = session.execute(orders.last_ids()).one()
    last_order, last_refund = last[0], last[1]
    window = settings.profile_window_days
    columns: columnar.Read | None = None
    if local.dialect == "postgresql":
        # The sorts of a refresh in memory; no JIT (0.6 s of compiling a statement, nothing
        # gained on these plans).
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))
        columns = columnar.read(session, local, now, window)
        f = columns.facts
    else:
        for table in sql.TEMP_TABLES:
            sql.create_temp(session, table)
        _fill(session, sql.GROUPS, sql.groups_query(local, now, window))
        _fill(session, sql.FACTS, sql.active_facts(sql.GROUPS))
        sql.fill_categories(session, now)
        sql.fill_preferences(session)
        f = _read_facts(session)
    today = sql.day_number(now)
    recency = today - f["last_day"]
    since_first = today - f["first_day"]
    span = f["last_day"] - f["first_day"]
    report.buyers = len(recency)
    stages = lifecycle(lifecycle_rule(), since_first, recency, f["purchase_days"], span)
    report.lifecycle = dict(Counter(stages.tolist()))

    scored = f["orders_window"] > 0
    report.scored = int(scored.sum())
    scores = rfm(recency[scored], f["orders_window"][scored], f["monetary_window"][scored])
    report.classes = dict(Counter(scores.classes.tolist()))

    x = f["purchase_days"] - 1
    repeat_value = np.where(
        x > 0, (f["monetary_lifetime"] - f["first_day_value"]) / np.maximum(x, 1), 0.0
    )
    fitted = _fit_clv(now, x, span, since_first, repeat_value)
    if isinstance(fitted, str):
        report.clv_skipped = fitted
        log.info("profiles refresh without CLV: %s", fitted)
    else:
        session.add(fitted.fit)
        report.fit = fitted.fit
    clv = None if isinstance(fitted, str) else fitted
    session.execute(delete(MemberProfile))
    if columns is not None:
        _write_columns(session, columns, scored, scores, stages, clv)
        session.execute(
            MemberProfile.__table__.insert().from_select(  # type: ignore[attr-defined]
                _PROFILE_COLUMNS, _columnar_rows(now)
            )
        )
        columnar.drop(session)
    else:
        sql.bulk_insert(
            session,
            sql.SCORES,
            [c.name for c in sql.SCORES.columns],
            _score_rows(f["member_id"], scored, scores, stages, clv),
        )
        session.execute(
            MemberProfile.__table__.insert().from_select(  # type: ignore[attr-defined]
                _PROFILE_COLUMNS, _profile_rows(local, now)
            )
        )
        sql.drop_temp(session, *sql.TEMP_TABLES)
    del f, columns, recency, since_first, span, stages, scores
    # Segment rules join the profiles: plan them on the new rows' statistics, not on the
    # last night's until autovacuum comes by (a demo preview: 1.1 s on stale, 0.18 s on fresh).
    sql.analyze(session, MemberProfile.__table__)  # type: ignore[arg-type]
    report.members = session.scalar(select(func.count()).select_from(MemberProfile)) or 0
    report.lifecycle[Lifecycle.prospect.value] = report.members - report.buyers
    _set_watermark(session, last_order or 0, last_refund or 0)
    session.flush()
    report.seconds = time.perf_counter() - started
    return report


_PROFILE_COLUMNS = [
    "member_id",
    "first_purchase_at",
    "last_purchase_at",
    "orders_lifetime",
    "monetary_lifetime",
    "orders_window",
    "monetary_window",
    "aov",
    "purchase_days",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_class",
    "lifecycle",
    "p_alive",
    "expected_purchases_365",
    "clv_365",
    "preferred_stores",
    "preferred_channels",
    "preferred_categories",
    "preferred_weekday",
    "preferred_hour",
    "similar_categories",
    "facts_at",
    "refreshed_at",
]


def _profile_rows(local: sql.Local, now: datetime) -> Select[Any]:
    active = members.active_ids().subquery("members")
    fa, sc = sql.FACTS, sql.SCORES
    store, channel, category, similar = sql.STORES, sql.CHANNELS, sql.TOP_CATEGORIES, sql.SIMILAR
    weekday, hour = sql.WEEKDAY, sql.HOUR
    moment = literal(now, UTCDateTime())
    orders_lifetime = func.coalesce(fa.c.orders_lifetime, 0)

    def listed(table: Any, quoted: bool = False) -> Any:
        return sql.json_list(local.dialect, [table.c.k1, table.c.k2, table.c.k3], quoted)

    return (
        select(
            active.c.id,
            fa.c.first_at,
            fa.c.last_at,
            orders_lifetime,
            func.coalesce(fa.c.monetary_lifetime, 0),
            func.coalesce(fa.c.orders_window, 0),
            func.coalesce(fa.c.monetary_window, 0),
            case((orders_lifetime > 0, fa.c.monetary_lifetime / fa.c.orders_lifetime), else_=0),
            func.coalesce(fa.c.purchase_days, 0),
            sc.c.rfm_r,
            sc.c.rfm_f,
            sc.c.rfm_m,
            sc.c.rfm_class,
            func.coalesce(sc.c.lifecycle, Lifecycle.prospect.value),
            sc.c.p_alive,
            sc.c.expected_purchases_365,
            sc.c.clv_365,
            listed(store),
            listed(channel, quoted=True),
            listed(category),
            weekday.c.v,
            hour.c.v,
            listed(similar),
            moment,
            moment,
        )
        .select_from(active)
        .outerjoin(fa, fa.c.member_id == active.c.id)
        .outerjoin(sc, sc.c.member_id == active.c.id)
        .outerjoin(store, store.c.member_id == active.c.id)
        .outerjoin(channel, channel.c.member_id == active.c.id)
        .outerjoin(category, category.c.member_id == active.c.id)
        .outerjoin(similar, similar.c.member_id == active.c.id)
        .outerjoin(weekday, weekday.c.member_id == active.c.id)
        .outerjoin(hour, hour.c.member_id == active.c.id)
    )


def _set_watermark(session: Session, order_id: int, refund_id: int) -> None:
    mark = session.get(ProfileWatermark, WATERMARK_ID)
    if mark is None:
        mark = ProfileWatermark(id=WATERMARK_ID)
        session.add(mark)
    mark.order_id, mark.refund_id, mark.updated_at = order_id, refund_id, clock.now()


# --- facts between refreshes ------------------------------------------------------------------

_FACT_FIELDS = (
    "first_purchase_at",
    "last_purchase_at",
    "orders_lifetime",
    "monetary_lifetime",
    "orders_window",
    "monetary_window",
    "aov",
    "purchase_days",
    "lifecycle",
    "facts_at",
)
_BLANK_LISTS: dict[str, list[Any]] = {
    "preferred_stores": [],
    "preferred_channels": [],
    "preferred_categories": [],
    "similar_categories": [],
}


def _blank(member_id: int, now: datetime) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "first_purchase_at": None,
        "last_purchase_at": None,
        "orders_lifetime": 0,
        "monetary_lifetime": 0,
        "orders_window": 0,
        "monetary_window": 0,
        "aov": 0,
        "purchase_days": 0,
        "lifecycle": Lifecycle.prospect.value,
        "facts_at": now,
    }


def _fact_rows(session: Session, now: datetime, member_ids: Select[int]) -> list[dict[str, Any]]:
    """Raw facts and lifecycle of the given members (blank for members left without an
    order that counts), as profile columns."""
    settings = get_settings()
    local = sql.local_for(session, now)
    rows = session.execute(
        sql.member_facts(local, now, settings.profile_window_days, member_ids)
    ).all()
    today = sql.day_number(now)
    first = np.array([r.first_day for r in rows], dtype=np.int64)
    last = np.array([r.last_day for r in rows], dtype=np.int64)
    days = np.array([r.purchase_days for r in rows], dtype=np.int64)
    stages = lifecycle(lifecycle_rule(), today - first, today - last, days, last - first)
    found = [
        {
            "member_id": r.member_id,
            "first_purchase_at": r.first_at,
            "last_purchase_at": r.last_at,
            "orders_lifetime": r.orders_lifetime,
            "monetary_lifetime": r.monetary_lifetime,
            "orders_window": r.orders_window,
            "monetary_window": r.monetary_window,
            "aov": r.monetary_lifetime // r.orders_lifetime,
            "purchase_days": r.purchase_days,
            "lifecycle": stage,
            "facts_at": now,
        }
        for r, stage in zip(rows, stages.tolist(), strict=True)
    ]
    seen = {row["member_id"] for row in found}
    blank = [
        _blank(member_id, now)
        for member_id in session.scalars(
            members.active_ids().where(members.Member.id.in_(member_ids))
        )
        if member_id not in seen
    ]
    return found + blank


def update_facts(session: Session, now: datetime) -> int:
    """Recompute the raw facts (first/last purchase, orders, monetary, aov, purchase days)
    and lifecycle of members with orders or refunds past the watermark, less WATERMARK_MARGIN
    ids (an order whose transaction took its id before a later one's but committed after it
    is read on the next run); scores, preferences and CLV wait for the next refresh. Without
    a watermark (no refresh yet) nothing is done: the first refresh builds every profile.
    Returns the members updated."""
    mark = session.get(ProfileWatermark, WATERMARK_ID)
    if mark is None:
        return 0
    last = session.execute(orders.last_ids()).one()
    last_order, last_refund = last[0], last[1]
    changed = sorted(
        {
            member_id
            for member_id in session.scalars(
                orders.members_changed_since(
                    max(0, mark.order_id - WATERMARK_MARGIN),
                    max(0, mark.refund_id - WATERMARK_MARGIN),
                )
            )
            if member_id is not None
        }
    )
    done = 0
    for start in range(0, len(changed), FACTS_BATCH):
        ids = changed[start : start + FACTS_BATCH]
        chosen = select(members.Member.id).where(members.Member.id.in_(ids))
        rows = _fact_rows(session, now, chosen)
        if rows:
            _upsert_facts(session, rows)
        done += len(rows)
    mark.order_id = max(mark.order_id, last_order or 0)
    mark.refund_id = max(mark.refund_id, last_refund or 0)
    mark.updated_at = clock.now()
    session.flush()
    return done


def _upsert_facts(session: Session, rows: list[dict[str, Any]]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(MemberProfile).values([{**row, **_BLANK_LISTS} for row in rows])
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["member_id"],
            set_={name: statement.excluded[name] for name in _FACT_FIELDS},
        )
    )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class ProfileView:
    member_id: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    recency_days: int | None  # business days since the last purchase, at `now`
    orders_lifetime: int
    monetary_lifetime: int
    orders_window: int
    monetary_window: int
    window_days: int
    aov: int
    purchase_days: int
    rfm_r: int | None
    rfm_f: int | None
    rfm_m: int | None
    rfm_class: str | None
    lifecycle: str
    p_alive: float | None
    expected_purchases_365: float | None
    clv_365: int | None
    preferred_stores: list[Named]
    preferred_channels: list[str]
    preferred_categories: list[Named]
    preferred_weekday: int | None
    preferred_hour: int | None
    similar_categories: list[Named]
    facts_at: datetime | None
    refreshed_at: datetime | None


def _days_since(moment: datetime | None, now: datetime) -> int | None:
    if moment is None:
        return None
    tz = clock.business_tz()
    return (now.astimezone(tz).date() - moment.astimezone(tz).date()).days


def member_profile(session: Session, member_id: int, now: datetime) -> ProfileView:
    """The member's profile as last refreshed (facts possibly newer, by the facts job). A member
    no refresh has seen yet (registered since) gets their raw facts computed now, without
    scores, preferences or CLV. The caller checks the member may be read."""
    profile = session.get(MemberProfile, member_id)
    if profile is None:
        rows = _fact_rows(session, now, select(literal(member_id)))
        profile = MemberProfile(**(rows[0] if rows else _blank(member_id, now)), **_BLANK_LISTS)
    stores_named = stores.names_by_id(session, profile.preferred_stores)
    categories = catalog.category_names(
        session, [*profile.preferred_categories, *profile.similar_categories]
    )

    def named(ids: list[int], names: dict[int, tuple[str, str]]) -> list[Named]:
        return [Named(i, *names[i]) for i in ids if i in names]

    return ProfileView(
        member_id=member_id,
        first_purchase_at=profile.first_purchase_at,
        last_purchase_at=profile.last_purchase_at,
        recency_days=_days_since(profile.last_purchase_at, now),
        orders_lifetime=profile.orders_lifetime,
        monetary_lifetime=profile.monetary_lifetime,
        orders_window=profile.orders_window,
        monetary_window=profile.monetary_window,
        window_days=get_settings().profile_window_days,
        aov=profile.aov,
        purchase_days=profile.purchase_days,
        rfm_r=profile.rfm_r,
        rfm_f=profile.rfm_f,
        rfm_m=profile.rfm_m,
        rfm_class=profile.rfm_class,
        lifecycle=profile.lifecycle,
        p_alive=profile.p_alive,
        expected_purchases_365=profile.expected_purchases_365,
        clv_365=profile.clv_365,
        preferred_stores=named(profile.preferred_stores, stores_named),
        preferred_channels=list(profile.preferred_channels),
        preferred_categories=named(profile.preferred_categories, categories),
        preferred_weekday=profile.preferred_weekday,
        preferred_hour=profile.preferred_hour,
        similar_categories=named(profile.similar_categories, categories),
        facts_at=profile.facts_at,
        refreshed_at=profile.refreshed_at,
    )


def latest_fit(session: Session) -> ClvFit | None:
    return session.scalars(select(ClvFit).order_by(ClvFit.id.desc()).limit(1)).first()


# --- merge and erasure ------------------------------------------------------------------------


def forget(session: Session, member_id: int) -> None:
    """Drop a member's profile (merged away, or erased)."""
    session.execute(delete(MemberProfile).where(MemberProfile.member_id == member_id))


def mark_stale(session: Session, member_id: int, now: datetime) -> None:
    """Recompute a member's raw facts now (a merge brought them orders)."""
    rows = _fact_rows(session, now, select(literal(member_id)))
    if rows:
        _upsert_facts(session, rows)

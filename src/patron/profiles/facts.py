"""The SQL of profiles: per-member aggregates of the orders that count (patron.orders.queries),
set-based, on SQLite and PostgreSQL.

Business time: PostgreSQL converts each order's time with `AT TIME ZONE` (the zone's rules at
that moment); SQLite has no zone data, so orders are shifted by the zone's UTC offset at `now`
(exact for zones without daylight saving, such as Asia/Shanghai; near a DST change an order
may land an hour off)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Subquery,
    Table,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.db import UTCDateTime
from patron.members import registry as members
from patron.orders import queries as orders

# Co-bought categories kept per top category, before leaving out the member's own.
SIMILAR_CANDIDATES = 10
TOP = 3  # preferred stores, channels, categories and similar categories kept


@dataclass(frozen=True)
class Local:
    """Business-time expressions for one dialect."""

    dialect: str
    zone: str
    offset_minutes: int

    def time(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return func.timezone(self.zone, column)
        return func.datetime(column, f"{self.offset_minutes:+d} minutes")

    def day(self, column: Any) -> ColumnElement[int]:
        """Days since 1970-01-01 of the business date."""
        local = self.time(column)
        if self.dialect == "postgresql":
            return cast(func.floor(extract("epoch", local) / 86400), Integer)
        return cast(func.julianday(func.date(local)) - 2440587.5, Integer)

    def weekday(self, column: Any) -> ColumnElement[int]:
        """0 = Monday."""
        local = self.time(column)
        if self.dialect == "postgresql":
            return cast(extract("isodow", local), Integer) - 1
        return (cast(func.strftime("%w", local), Integer) + 6) % 7

    def hour(self, column: Any) -> ColumnElement[int]:
        local = self.time(column)
        if self.dialect == "postgresql":
            return cast(extract("hour", local), Integer)
        return cast(func.strftime("%H", local), Integer)


def local_for(session: Session, now: datetime) -> Local:
    tz = clock.business_tz()
    offset = now.astimezone(tz).utcoffset() or timedelta(0)
    return Local(session.get_bind().dialect.name, str(tz), int(offset.total_seconds() // 60))


def day_number(now: datetime) -> int:
    """`now`'s business date as days since 1970-01-01."""
    return now.astimezone(clock.business_tz()).date().toordinal() - 719163


def counted(
    now: datetime, member_ids: Select[int] | None = None, name: str = "counted"
) -> Subquery:
    """The orders that count, of active members (of `member_ids` only, when given)."""
    query = orders.counted_orders(now)
    active = members.active_ids()
    if member_ids is not None:
        active = active.where(members.Member.id.in_(member_ids))
    found = active.subquery("active")
    inner = query.subquery("counted_all")
    return select(inner).join(found, found.c.id == inner.c.member_id).subquery(name)


def facts_query(
    local: Local, now: datetime, window_days: int, member_ids: Select[int] | None = None
) -> Select[Any]:
    """One row per buying member: first_at, last_at, orders_lifetime, monetary_lifetime,
    orders_window, monetary_window, purchase_days, first_day, last_day, first_day_value (net
    spent on the first purchase day)."""
    o = counted(now, member_ids)
    since = now - timedelta(days=window_days)
    day = local.day(o.c.occurred_at)
    in_window = o.c.occurred_at >= since
    daily = (
        select(
            o.c.member_id,
            day.label("day"),
            func.min(day).over(partition_by=o.c.member_id).label("first_day"),
            func.count().label("orders"),
            func.sum(o.c.net).label("net"),
            func.min(o.c.occurred_at).label("first_at"),
            func.max(o.c.occurred_at).label("last_at"),
            func.sum(case((in_window, 1), else_=0)).label("orders_window"),
            func.sum(case((in_window, o.c.net), else_=0)).label("monetary_window"),
        )
        .group_by(o.c.member_id, day)
        .subquery("daily")
    )
    return select(
        daily.c.member_id,
        func.min(daily.c.first_at).label("first_at"),
        func.max(daily.c.last_at).label("last_at"),
        cast(func.sum(daily.c.orders), BigInteger).label("orders_lifetime"),
        cast(func.sum(daily.c.net), BigInteger).label("monetary_lifetime"),
        cast(func.sum(daily.c.orders_window), BigInteger).label("orders_window"),
        cast(func.sum(daily.c.monetary_window), BigInteger).label("monetary_window"),
        func.count().label("purchase_days"),
        func.min(daily.c.day).label("first_day"),
        func.max(daily.c.day).label("last_day"),
        cast(
            func.sum(case((daily.c.day == daily.c.first_day, daily.c.net), else_=0)), BigInteger
        ).label("first_day_value"),
    ).group_by(daily.c.member_id)


# --- temporary tables: computed once per refresh, read by the final insert -------------------

_temp = MetaData()

FACTS = Table(
    "tmp_profile_facts",
    _temp,
    Column("member_id", BigInteger, primary_key=True),
    Column("first_at", UTCDateTime()),
    Column("last_at", UTCDateTime()),
    Column("orders_lifetime", BigInteger),
    Column("monetary_lifetime", BigInteger),
    Column("orders_window", BigInteger),
    Column("monetary_window", BigInteger),
    Column("purchase_days", Integer),
    Column("first_day", Integer),
    Column("last_day", Integer),
    Column("first_day_value", BigInteger),
    prefixes=["TEMPORARY"],
)

SCORES = Table(
    "tmp_profile_scores",
    _temp,
    Column("member_id", BigInteger, primary_key=True),
    Column("rfm_r", Integer),
    Column("rfm_f", Integer),
    Column("rfm_m", Integer),
    Column("rfm_class", String(24)),
    Column("lifecycle", String(16)),
    Column("p_alive", Float),
    Column("expected_purchases_365", Float),
    Column("clv_365", BigInteger),
    prefixes=["TEMPORARY"],
)

CATEGORIES = Table(
    "tmp_profile_categories",
    _temp,
    Column("member_id", BigInteger),
    Column("category_id", BigInteger),
    Column("spend", BigInteger),
    Column("rn", Integer),
    prefixes=["TEMPORARY"],
)


def create_temp(session: Session, table: Table) -> None:
    connection = session.connection()
    table.drop(connection, checkfirst=True)
    table.create(connection)


def drop_temp(session: Session, *tables: Table) -> None:
    connection = session.connection()
    for table in tables:
        table.drop(connection, checkfirst=True)


def bulk_insert(
    session: Session, table: Table, columns: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Many rows from Python: COPY on PostgreSQL, executemany in batches on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= 10_000:
            session.execute(table.insert(), batch)
            batch = []
    if batch:
        session.execute(table.insert(), batch)


# --- preferences ------------------------------------------------------------------------------


def json_list(dialect: str, items: list[ColumnElement[Any]], quoted: bool) -> ColumnElement[Any]:
    """A JSON array of up to three nullable values, built by concatenation (same on both
    databases, in rank order); None values are left out."""
    parts: list[ColumnElement[Any]] = []
    for index, item in enumerate(items):
        text: ColumnElement[str] = cast(item, String)
        if quoted:
            text = literal('"') + text + literal('"')
        if index:
            text = literal(",") + text
        parts.append(text if index == 0 else func.coalesce(text, literal("")))
    body = parts[0]
    for part in parts[1:]:
        body = body + part
    value = func.coalesce(literal("[") + body + literal("]"), literal("[]"))
    if dialect == "postgresql":
        return cast(value, JSON)
    return type_coerce(value, JSON().with_variant(String, "sqlite"))


def top_three(
    source: Subquery, key: str, score: ColumnElement[Any], name: str, tie: ColumnElement[Any]
) -> Subquery:
    """Per member, the first three `key`s by `score` (desc), ties by `tie`: member_id, k1..k3."""
    ranked = select(
        source.c.member_id,
        source.c[key].label("k"),
        func.row_number()
        .over(partition_by=source.c.member_id, order_by=(score.desc(), tie))
        .label("rn"),
    ).subquery(f"{name}_ranked")
    return (
        select(
            ranked.c.member_id,
            *(func.max(case((ranked.c.rn == i, ranked.c.k))).label(f"k{i}") for i in (1, 2, 3)),
        )
        .where(ranked.c.rn <= TOP)
        .group_by(ranked.c.member_id)
        .subquery(name)
    )


def preferred_by_spend(o: Subquery, key: str, name: str) -> Subquery:
    spend = (
        select(o.c.member_id, o.c[key], func.sum(o.c.net).label("spend"))
        .group_by(o.c.member_id, o.c[key])
        .subquery(f"{name}_spend")
    )
    return top_three(spend, key, spend.c.spend, name, spend.c[key])


def most_orders(o: Subquery, expression: ColumnElement[int], name: str) -> Subquery:
    """Per member, the value of `expression` (weekday, hour) with most orders (lowest on ties)."""
    counts = (
        select(o.c.member_id, expression.label("v"), func.count().label("n"))
        .group_by(o.c.member_id, expression)
        .subquery(f"{name}_counts")
    )
    ranked = select(
        counts.c.member_id,
        counts.c.v,
        func.row_number()
        .over(partition_by=counts.c.member_id, order_by=(counts.c.n.desc(), counts.c.v))
        .label("rn"),
    ).subquery(f"{name}_ranked")
    return select(ranked.c.member_id, ranked.c.v).where(ranked.c.rn == 1).subquery(name)


def fill_categories(session: Session, now: datetime, min_spend: int = 1) -> None:
    """The member-category spend (net, positive), ranked per member, into CATEGORIES."""
    lines = orders.counted_lines(now).subquery("lines")
    active = members.active_ids().subquery("active")
    spend = (
        select(lines.c.member_id, lines.c.category_id, func.sum(lines.c.net).label("spend"))
        .join(active, active.c.id == lines.c.member_id)
        .group_by(lines.c.member_id, lines.c.category_id)
        .having(func.sum(lines.c.net) >= min_spend)
        .subquery("spend")
    )
    ranked = select(
        spend.c.member_id,
        spend.c.category_id,
        spend.c.spend,
        func.row_number()
        .over(partition_by=spend.c.member_id, order_by=(spend.c.spend.desc(), spend.c.category_id))
        .label("rn"),
    )
    session.execute(
        CATEGORIES.insert().from_select(["member_id", "category_id", "spend", "rn"], ranked)
    )


def similar_categories() -> Subquery:
    """ "Similar members also buy": members whose top category is C are similar; the categories
    they buy most often (by members) besides C, at most SIMILAR_CANDIDATES per C, less the
    categories the member already buys, first three by members buying them."""
    c = CATEGORIES
    top = select(c.c.member_id, c.c.category_id.label("top")).where(c.c.rn == 1).subquery("top")
    other = c.alias("other")
    co = (
        select(top.c.top, other.c.category_id.label("also"), func.count().label("n"))
        .join(other, other.c.member_id == top.c.member_id)
        .where(other.c.category_id != top.c.top)
        .group_by(top.c.top, other.c.category_id)
        .subquery("co")
    )
    co_ranked = select(
        co.c.top,
        co.c.also,
        co.c.n,
        func.row_number()
        .over(partition_by=co.c.top, order_by=(co.c.n.desc(), co.c.also))
        .label("rn"),
    ).subquery("co_ranked")
    own = c.alias("own")
    candidates = (
        select(top.c.member_id, co_ranked.c.also, co_ranked.c.n)
        .join(co_ranked, co_ranked.c.top == top.c.top)
        .outerjoin(
            own, (own.c.member_id == top.c.member_id) & (own.c.category_id == co_ranked.c.also)
        )
        .where(co_ranked.c.rn <= SIMILAR_CANDIDATES, own.c.member_id.is_(None))
        .subquery("candidates")
    )
    return top_three(candidates, "also", candidates.c.n, "similar", candidates.c.also)


def preferred_categories() -> Subquery:
    c = CATEGORIES
    return (
        select(
            c.c.member_id,
            *(func.max(case((c.c.rn == i, c.c.category_id))).label(f"k{i}") for i in (1, 2, 3)),
        )
        .where(c.c.rn <= TOP)
        .group_by(c.c.member_id)
        .subquery("categories")
    )


def _preference_table(name: str, key: Any, columns: tuple[str, ...]) -> Table:
    return Table(
        f"tmp_profile_{name}",
        _temp,
        Column("member_id", BigInteger, primary_key=True),
        *(Column(column, key) for column in columns),
        prefixes=["TEMPORARY"],
    )


# Each preference, materialised with its member's id as key before the final insert joins them
# (SQLite re-evaluates a grouped subquery in a LEFT JOIN per member; PostgreSQL hash-joins it).
TOP_KEYS = ("k1", "k2", "k3")
STORES = _preference_table("stores", BigInteger, TOP_KEYS)
CHANNELS = _preference_table("channels", String(16), TOP_KEYS)
TOP_CATEGORIES = _preference_table("top_categories", BigInteger, TOP_KEYS)
SIMILAR = _preference_table("similar", BigInteger, TOP_KEYS)
WEEKDAY = _preference_table("weekday", Integer, ("v",))
HOUR = _preference_table("hour", Integer, ("v",))
PREFERENCES = (STORES, CHANNELS, TOP_CATEGORIES, SIMILAR, WEEKDAY, HOUR)
TEMP_TABLES = (FACTS, SCORES, CATEGORIES, *PREFERENCES)


def fill_preferences(session: Session, local: Local, now: datetime) -> None:
    """Every preference into its temporary table (CATEGORIES filled first)."""
    o_day, o_hour = counted(now, name="counted_day"), counted(now, name="counted_hour")
    sources: list[tuple[Table, Subquery]] = [
        (STORES, preferred_by_spend(counted(now, name="counted_s"), "store_id", "stores")),
        (CHANNELS, preferred_by_spend(counted(now, name="counted_c"), "channel", "channels")),
        (TOP_CATEGORIES, preferred_categories()),
        (SIMILAR, similar_categories()),
        (WEEKDAY, most_orders(o_day, local.weekday(o_day.c.occurred_at), "weekday")),
        (HOUR, most_orders(o_hour, local.hour(o_hour.c.occurred_at), "hour")),
    ]
    for table, source in sources:
        names = [c.name for c in table.columns]
        session.execute(table.insert().from_select(names, select(*source.c)))

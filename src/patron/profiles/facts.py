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
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.db import UTCDateTime
from patron.members import registry as members
from patron.orders import queries as orders

# Co-bought categories kept per top category, before leaving out the member's own.
SIMILAR_CANDIDATES = 10
DAY_SHIFT = 2**32  # one day's net of one member stays below 2^32 fen (42 million yuan)
TOP = 3  # preferred stores, channels, categories and similar categories kept


@dataclass(frozen=True)
class Local:
    """Business-time expressions for one dialect. `fixed` when the zone kept one UTC offset
    over the last years (no daylight saving, as Asia/Shanghai): then PostgreSQL shifts epoch
    seconds by it (arithmetic on a double, measured 40% cheaper per order than `AT TIME ZONE`);
    otherwise it converts each time with the zone's rules."""

    dialect: str
    zone: str
    offset_minutes: int
    fixed: bool = True

    def _epoch(self, column: Any) -> ColumnElement[float]:
        """Seconds since 1970-01-01 of the business wall-clock time (PostgreSQL)."""
        if self.fixed:
            return func.date_part("epoch", column) + self.offset_minutes * 60
        return func.date_part("epoch", func.timezone(self.zone, column))

    def _sqlite_time(self, column: Any) -> ColumnElement[Any]:
        return func.datetime(column, f"{self.offset_minutes:+d} minutes")

    def day(self, column: Any) -> ColumnElement[int]:
        """Days since 1970-01-01 of the business date."""
        if self.dialect == "postgresql":
            return cast(func.floor(self._epoch(column) / 86400), Integer)
        return cast(func.julianday(func.date(self._sqlite_time(column))) - 2440587.5, Integer)

    def hour(self, column: Any) -> ColumnElement[int]:
        if self.dialect == "postgresql":
            return cast(cast(func.floor(self._epoch(column) / 3600), BigInteger) % 24, Integer)
        return cast(func.strftime("%H", self._sqlite_time(column)), Integer)


def local_for(session: Session, now: datetime) -> Local:
    tz = clock.business_tz()
    offset = now.astimezone(tz).utcoffset() or timedelta(0)
    # One offset at every quarter of the last five years: a fixed-offset zone.
    offsets = {(now - timedelta(days=91 * i)).astimezone(tz).utcoffset() for i in range(21)}
    return Local(
        session.get_bind().dialect.name,
        str(tz),
        int(offset.total_seconds() // 60),
        fixed=len(offsets) == 1,
    )


def day_number(now: datetime) -> int:
    """`now`'s business date as days since 1970-01-01."""
    return now.astimezone(clock.business_tz()).date().toordinal() - 719163


def counted(
    now: datetime,
    member_ids: Select[int] | None = None,
    name: str = "counted",
    active_only: bool = True,
) -> Subquery:
    """The orders that count, of active members (of `member_ids` only, when given). A refresh
    leaves the members out (`active_only=False`, half a second per million orders): its final
    insert keeps active members only."""
    inner = orders.counted_orders(now).subquery("counted_all")
    if not active_only:
        return select(inner).subquery(name)
    active = members.active_ids()
    if member_ids is not None:
        active = active.where(members.Member.id.in_(member_ids))
    found = active.subquery("active")
    return select(inner).join(found, found.c.id == inner.c.member_id).subquery(name)


def groups_query(
    local: Local, now: datetime, window_days: int, member_ids: Select[int] | None = None
) -> Select[Any]:
    """The one pass over the orders: per member, business day, store, channel and hour, the
    orders and their net, first and last times, and what of them falls in the RFM window.
    Everything else (facts, preferences) is derived from these groups."""
    o = counted(now, member_ids, active_only=member_ids is not None)
    since = now - timedelta(days=window_days)
    day, hour = local.day(o.c.occurred_at), local.hour(o.c.occurred_at)
    in_window = o.c.occurred_at >= since
    return select(
        o.c.member_id,
        day.label("day"),
        o.c.store_id,
        o.c.channel,
        hour.label("hour"),
        func.count().label("orders"),
        func.sum(o.c.net).label("net"),
        func.min(o.c.occurred_at).label("first_at"),
        func.max(o.c.occurred_at).label("last_at"),
        func.sum(case((in_window, 1), else_=0)).label("orders_window"),
        func.sum(case((in_window, o.c.net), else_=0)).label("monetary_window"),
    ).group_by(o.c.member_id, day, o.c.store_id, o.c.channel, hour)


def facts_query(groups: Any) -> Select[Any]:
    """One row per buying member, from `groups` (GROUPS or a `groups_query` subquery):
    first_at, last_at, orders_lifetime, monetary_lifetime, orders_window, monetary_window,
    purchase_days, first_day, last_day, first_day_value (net spent on the first purchase day)."""
    g = groups
    daily = (
        select(
            g.c.member_id,
            g.c.day,
            func.sum(g.c.orders).label("orders"),
            func.sum(g.c.net).label("net"),
            func.min(g.c.first_at).label("first_at"),
            func.max(g.c.last_at).label("last_at"),
            func.sum(g.c.orders_window).label("orders_window"),
            func.sum(g.c.monetary_window).label("monetary_window"),
        )
        .group_by(g.c.member_id, g.c.day)
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
        # The first day's net without a window: the smallest (day, net) packed in one integer.
        (func.min(cast(daily.c.day, BigInteger) * DAY_SHIFT + daily.c.net) % DAY_SHIFT).label(
            "first_day_value"
        ),
    ).group_by(daily.c.member_id)


def active_facts(groups: Any) -> Select[Any]:
    """`facts_query` of active members only (a refresh's groups hold every member's orders)."""
    facts = facts_query(groups).subquery("facts")
    active = members.active_ids().subquery("active")
    return select(facts).join(active, active.c.id == facts.c.member_id)


def member_facts(
    local: Local, now: datetime, window_days: int, member_ids: Select[int]
) -> Select[Any]:
    """Facts of some members, straight from their orders (the facts job, merges)."""
    return facts_query(groups_query(local, now, window_days, member_ids).subquery("groups"))


# --- temporary tables: computed once per refresh, read by the final insert -------------------

_temp = MetaData()

GROUPS = Table(
    "tmp_profile_groups",
    _temp,
    Column("member_id", BigInteger),
    Column("day", Integer),
    Column("store_id", BigInteger),
    Column("channel", String(16)),
    Column("hour", Integer),
    # int4 on purpose: PostgreSQL sums int4 into int8, but int8 into numeric (slower); one
    # member's orders in one store, channel and hour of one day stay far below 2^31 fen.
    Column("orders", Integer),
    Column("net", Integer),
    Column("first_at", UTCDateTime()),
    Column("last_at", UTCDateTime()),
    Column("orders_window", Integer),
    Column("monetary_window", Integer),
    prefixes=["TEMPORARY"],
)

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


def preferred_by_spend(o: Any, key: str, name: str) -> Subquery:
    spend = (
        select(o.c.member_id, o.c[key], func.sum(o.c.net).label("spend"))
        .group_by(o.c.member_id, o.c[key])
        .subquery(f"{name}_spend")
    )
    return top_three(spend, key, spend.c.spend, name, spend.c[key])


def most_orders(g: Any, expression: ColumnElement[int], name: str) -> Subquery:
    """Per member, the value of `expression` (weekday, hour) with most orders (lowest on ties),
    from GROUPS."""
    counts = (
        select(g.c.member_id, expression.label("v"), func.sum(g.c.orders).label("n"))
        .group_by(g.c.member_id, expression)
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
    """The member-category spend (net, at least `min_spend` >= 1: the lines read leave out
    those of net 0), ranked per member, into CATEGORIES. Members
    are not checked here (an erased member's purchases still count in what similar members
    buy); the final insert keeps active members only."""
    assert min_spend >= 1, "counted_lines leaves out the lines of net 0"
    lines = orders.counted_lines(now).subquery("lines")
    spend = (
        select(lines.c.member_id, lines.c.category_id, func.sum(lines.c.net).label("spend"))
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
    # The lines alone (no join with orders): they carry their order's member and time.
    session.execute(
        CATEGORIES.insert().from_select(["member_id", "category_id", "spend", "rn"], ranked)
    )
    analyze(session, CATEGORIES)


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
TEMP_TABLES = (GROUPS, FACTS, SCORES, CATEGORIES, *PREFERENCES)


def analyze(session: Session, table: Table) -> None:
    """PostgreSQL: statistics of a just-filled temporary table (autovacuum never sees them;
    without, the planner guesses 200 groups for a million and spills)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql_text(f"ANALYZE {table.name}"))


def fill_preferences(session: Session) -> None:
    """Every preference into its temporary table, from GROUPS and CATEGORIES."""
    g = GROUPS
    weekday = (g.c.day + 3) % 7  # day 0, 1970-01-01, was a Thursday; 0 = Monday
    sources: list[tuple[Table, Subquery]] = [
        (STORES, preferred_by_spend(g, "store_id", "stores")),
        (CHANNELS, preferred_by_spend(g, "channel", "channels")),
        (TOP_CATEGORIES, preferred_categories()),
        (SIMILAR, similar_categories()),
        (WEEKDAY, most_orders(g, weekday, "weekday")),
        (HOUR, most_orders(g, g.c.hour, "hour")),
    ]
    for table, source in sources:
        names = [c.name for c in table.columns]
        session.execute(table.insert().from_select(names, select(*source.c)))

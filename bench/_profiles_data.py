"""A chain of a million members and ten million orders on PostgreSQL, for the profiles and
segments benchmarks (issue 17), generated set-based and kept between runs.

The schema is the app's (its migrations to head); the rows go in by binary COPY of numpy arrays
into unlogged staging tables and INSERT ... SELECT from there, with the big tables' indexes and
keys dropped first and built again afterwards (the same definitions, read from the catalog, so
every constraint is checked once over the whole table).

Purchases follow the BG/NBD story (Fader, Hardie & Lee 2005) so that CLV has something to find:
each buyer's first purchase comes some days after registration; then they buy as a Poisson
process at their own rate (gamma across members) and after each purchase drop out for good with
their own probability (beta across members). Given x repeat purchases in T days, the last falls
at T·Beta(x, N−x+1) (N the purchases a never-dying buyer would make) and the others uniformly
before it. What a member spends per line varies around their own basket size (gamma), their
lines lean to one preferred top category, their hours to a preferred time of day, their orders
to their home store. About a tenth of the members never buy; a tenth of the orders have no
member; 3% of the orders are refunded, in full or in part.

The database `patron_bench_profiles` carries a row in `bench_profiles_data` saying what was
generated; `ensure()` reuses it when the size, seed and generator version match (migrating it
to head first), else generates it again. Run alone to (re)generate:

.venv/bin/python bench/_profiles_data.py [--members 1000000] [--orders 10000000] [--fresh]
    [--database patron_bench_profiles] [--seed 17]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from _common import POSTGRES_ADMIN_URL, postgres_reachable
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from patron.core import db, migrate
from patron.orders import spend

VERSION = 1
DATABASE = "patron_bench_profiles"
__all__ = ["POSTGRES_ADMIN_URL", "connect", "ensure", "ensure_apart", "postgres_reachable"]
# Business midnight (Asia/Shanghai) of 2026-11-01: every order is before it.
NOW = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
DAYS = 1095  # the history: three years before NOW
START = NOW - timedelta(days=DAYS)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# BG/NBD and spend parameters before the rate is scaled to the wanted number of orders (per day)
R, ALPHA, A, B = 0.9, 40.0, 1.5, 10.0
NEVER_BUY = 0.10
ANONYMOUS_SHARE = 0.10
REFUND_SHARE = 0.03
CHUNK = 1_000_000  # orders per staged batch

CITIES = (
    ("SH", "上海", 10),
    ("BJ", "北京", 8),
    ("HZ", "杭州", 5),
    ("NJ", "南京", 4),
    ("SZ", "苏州", 4),
    ("CD", "成都", 5),
    ("SZN", "深圳", 5),
    ("GZ", "广州", 4),
    ("WH", "武汉", 4),
)
ONLINE_STORE = "EC001"
# top category code, name, share of members preferring it, children (code suffix, name)
CATEGORIES = (
    ("BEAUTY", "美妆个护", 0.25, ("护肤", "彩妆", "洗护", "香氛")),
    ("MATERNAL", "母婴", 0.15, ("奶粉", "纸尿裤", "喂养用品", "童装")),
    ("FOOD", "食品", 0.25, ("零食", "饮品", "粮油", "生鲜")),
    ("HOME", "家居", 0.15, ("家纺", "收纳", "厨具", "清洁")),
    ("APPAREL", "服饰", 0.12, ("女装", "男装", "鞋靴", "配饰")),
    ("DIGITAL", "数码", 0.08, ("耳机", "充电", "小家电", "配件")),
)
PRODUCTS_PER_TOP = 50
ORDER_CHANNELS = ("pos", "online_mall", "mini_program", "delivery")
MEMBER_CHANNELS = ("store", "online", "mini_program", "import")
GENDERS = ("male", "female", "unknown")
STATUSES = ("completed", "partially_refunded", "refunded")
TIERS = (  # code, name, name_en, rank, entry, retention, discount %, points factor, share
    ("normal", "普通会员", "Member", 0, 0, 0, 0, 100, 0.70),
    ("silver", "银卡", "Silver", 1, 100_000, 80_000, 0, 120, 0.20),
    ("gold", "金卡", "Gold", 2, 500_000, 400_000, 5, 150, 0.08),
    ("diamond", "钻石卡", "Diamond", 3, 2_000_000, 1_500_000, 10, 200, 0.02),
)
TAGS = (("投诉", 0.01), ("VIP", 0.02), ("孕妈", 0.04), ("企业客户", 0.005), ("敏感肌", 0.03))
COUPON_TEMPLATES = (  # name, type, threshold, amount, share of members holding one
    ("W100", "cash_off", 50_000, 10_000, 0.20),
    ("N20", "voucher", 0, 2_000, 0.10),
    ("BIRTHDAY", "voucher", 0, 5_000, 0.05),
)
# the tables the generator fills in bulk: their keys and indexes are built after the load
BULK_TABLES = (
    "members",
    "orders",
    "order_lines",
    "refunds",
    "refund_lines",
    "member_tiers",
    "member_tags",
    "coupons",
    "points_accounts",
    "stored_value_accounts",
    "member_consents",
    "member_attribute_values",
)


@dataclass(frozen=True)
class Generated:
    database: str
    url: str
    members: int
    orders: int
    lines: int
    seed: int
    now: datetime
    seconds: float
    reused: bool


def database_url(name: str = DATABASE) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)


def _psycopg_url(name: str) -> str:
    return database_url(name).replace("postgresql+psycopg://", "postgresql://")


def ensure(
    members: int = 1_000_000,
    orders: int = 10_000_000,
    seed: int = 17,
    fresh: bool = False,
    database: str = DATABASE,
) -> tuple[Engine, Generated]:
    """The bench database of this size (generated unless kept from a run before), migrated to head
    and configured as the app's database (`patron.core.db`)."""
    found = None if fresh else _marker(database)
    wanted = (members, orders, seed, VERSION)
    if found is not None and found[:4] == wanted:
        engine = db.make_engine(database_url(database))
        migrate.upgrade(engine)
        db.configure(engine)
        spend_sums(engine)
        info = Generated(
            database, database_url(database), *found[:2], found[4], seed, NOW, found[5], True
        )
        print(
            f"data: reusing {database} ({members:,} members, {orders:,} orders, {info.lines:,} "
            f"lines; generated in {found[5]:.0f}s; --fresh to generate again)"
        )
        return engine, info
    return generate(members, orders, seed, database)


def ensure_apart(
    members: int = 1_000_000,
    orders: int = 10_000_000,
    seed: int = 17,
    fresh: bool = False,
    database: str = DATABASE,
) -> Generated:
    """As `ensure`, generating (when needed) in a child process, so that this process's memory
    stays the benchmark's own; the database is not configured here (see `connect`)."""
    found = None if fresh else _marker(database)
    if found is None or found[:4] != (members, orders, seed, VERSION):
        command = [sys.executable, str(Path(__file__)), "--members", str(members)]
        command += ["--orders", str(orders), "--seed", str(seed), "--database", database]
        subprocess.run([*command, "--fresh"], check=True)
        found = _marker(database)
        assert found is not None
    else:
        print(
            f"data: reusing {database} ({found[0]:,} members, {found[1]:,} orders; generated in "
            f"{found[5]:.0f}s; --fresh to generate again)"
        )
    return Generated(
        database, database_url(database), found[0], found[1], found[4], seed, NOW, found[5], True
    )


def connect(info: Generated) -> Engine:
    """The bench database migrated to head and configured as the app's (`patron.core.db`)."""
    engine = db.make_engine(info.url)
    migrate.upgrade(engine)
    db.configure(engine)
    spend_sums(engine)
    return engine


def spend_sums(engine: Engine) -> None:
    """The members' spend sums (`orders.spend`) built as of NOW, as the schedule's first fold
    builds them, when the database has none yet."""
    with Session(engine) as session, session.begin():
        if spend.year_until(session) is not None:
            return
        started = time.perf_counter()
        folded = spend.fold(session, NOW)
    print(
        f"data: spend sums built for {folded.members:,} members in "
        f"{time.perf_counter() - started:.1f}s"
    )


def _marker(database: str) -> tuple[int, int, int, int, int, float] | None:
    try:
        with psycopg.connect(_psycopg_url(database), connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT members, orders, seed, version, lines, seconds FROM bench_profiles_data"
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5])


def generate(members: int, orders: int, seed: int, database: str) -> tuple[Engine, Generated]:
    started = time.perf_counter()
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    engine = db.make_engine(database_url(database))
    migrate.upgrade(engine)
    db.configure(engine)
    step = _Steps(started)
    step.done("database created and migrated")
    rng = np.random.default_rng(seed)
    with psycopg.connect(_psycopg_url(database)) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET jit = off")
        conn.execute(f"SELECT setseed({(seed % 1000) / 1000})")
        keys = _drop_keys(conn, BULK_TABLES)
        catalog = _reference_data(conn, rng)
        conn.commit()
        step.done(f"reference data; {len(keys)} keys and indexes of the bulk tables dropped")
        plan = _plan_members(rng, members, orders, catalog)
        step.done(
            f"member plan: {plan.buyers:,} buyers, {plan.member_orders:,} member orders, "
            f"rate scaled ×{plan.scale:.3f} (r={R}, alpha={ALPHA / plan.scale:.2f}, a={A}, b={B})"
        )
        _load_members(conn, rng, plan, catalog)
        conn.commit()
        step.done(f"{members:,} members")
        # The sums' triggers would log each order as a change: built once afterwards instead.
        conn.execute("ALTER TABLE orders DISABLE TRIGGER USER")
        made, lines = _load_orders(conn, rng, plan, catalog, orders, step)
        conn.execute("ALTER TABLE orders ENABLE TRIGGER USER")
        conn.commit()
        step.done(f"{made:,} orders with {lines:,} lines and their refunds")
        _load_member_extras(conn, catalog)
        conn.commit()
        step.done("tiers, tags, coupons, points and stored-value accounts, consents, attributes")
        conn.execute("DROP TABLE stage_members")
        _restore_keys(conn, keys, step)
        _set_sequences(conn)
        conn.commit()
        step.done("keys and indexes built, sequences set")
    with psycopg.connect(_psycopg_url(database), autocommit=True) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        step.done("VACUUM (FREEZE, ANALYZE)")
        spend_sums(engine)
        conn.execute("VACUUM ANALYZE member_spend")
        step.done("members' spend sums built")
        took = time.perf_counter() - started
        conn.execute(
            "CREATE TABLE bench_profiles_data (members integer, orders integer, lines integer, "
            "seed integer, version integer, now timestamptz, seconds double precision, "
            "generated_at timestamptz DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO bench_profiles_data (members, orders, lines, seed, version, now, seconds) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (members, made, lines, seed, VERSION, NOW, took),
        )
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        pretty = size.fetchone()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"data: generated {database} in {took:.1f}s ({members:,} members, {made:,} orders, "
        f"{lines:,} lines; database {pretty[0] if pretty else '?'}; generator peak RSS "
        f"{peak:,.0f} MB)"
    )
    info = Generated(database, database_url(database), members, made, lines, seed, NOW, took, False)
    return engine, info


class _Steps:
    def __init__(self, started: float) -> None:
        self.started = started
        self.last = started

    def done(self, what: str) -> None:
        now = time.perf_counter()
        print(f"  {now - self.last:7.1f}s  {what}", flush=True)
        self.last = now


# --- keys and indexes -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    table: str
    name: str
    kind: str  # "p", "u", "f" (constraints) or "i" (a plain index)
    definition: str


def _drop_keys(conn: psycopg.Connection, tables: Sequence[str]) -> list[_Key]:
    """Drop the foreign keys touching `tables`, then their primary/unique keys and indexes;
    return what was dropped, in the order to build it again."""
    names = list(tables)
    foreign = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND (conrelid::regclass::text = ANY(%s) "
        "OR confrelid::regclass::text = ANY(%s))",
        (names, names),
    ).fetchall()
    unique = conn.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid::regclass::text = ANY(%s)",
        (names,),
    ).fetchall()
    plain = conn.execute(
        "SELECT i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid::regclass::text = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        (names,),
    ).fetchall()
    keys = [_Key(t, n, "f", d) for t, n, d in foreign]
    for table, name, _ in foreign:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, name, kind, definition in unique:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        keys.append(_Key(table, name, kind, definition))
    for table, name, definition in plain:
        conn.execute(f'DROP INDEX "{name}"')
        keys.append(_Key(table, name, "i", definition))
    order = {"p": 0, "u": 1, "i": 2, "f": 3}
    return sorted(keys, key=lambda k: order[k.kind])


def _restore_keys(conn: psycopg.Connection, keys: Sequence[_Key], step: _Steps) -> None:
    slow: list[str] = []
    for key in keys:
        began = time.perf_counter()
        if key.kind == "i":
            conn.execute(key.definition)
        else:
            conn.execute(f'ALTER TABLE {key.table} ADD CONSTRAINT "{key.name}" {key.definition}')
        took = time.perf_counter() - began
        if took > 5:
            slow.append(f"{key.name} {took:.0f}s")
    if slow:
        print(f"           the slowest: {', '.join(slow)}")


def _set_sequences(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT table_name, pg_get_serial_sequence(table_name, 'id') FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'id' "
        "AND pg_get_serial_sequence(table_name, 'id') IS NOT NULL"
    ).fetchall()
    for table, sequence in rows:
        conn.execute(
            f"SELECT setval('{sequence}', COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


# --- binary COPY of numpy columns ---------------------------------------------------------------

_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TYPES = {"int2": (">i2", 2), "int4": (">i4", 4), "int8": (">i8", 8), "float8": (">f8", 8)}


def copy_columns(
    conn: psycopg.Connection, table: str, columns: Sequence[tuple[str, str, np.ndarray]]
) -> None:
    """COPY rows into `table` from equal-length arrays: (column, int2|int4|int8|float8|
    timestamptz, values); timestamptz values are microseconds since 2000-01-01 UTC."""
    rows = len(columns[0][2])
    layout: list[tuple[str, str]] = [("count", ">i2")]
    for i, (_, kind, _values) in enumerate(columns):
        fmt = _TYPES["int8" if kind == "timestamptz" else kind][0]
        layout += [(f"size{i}", ">i4"), (f"value{i}", fmt)]
    packed = np.empty(rows, dtype=np.dtype(layout))
    packed["count"] = len(columns)
    for i, (_, kind, values) in enumerate(columns):
        packed[f"size{i}"] = _TYPES["int8" if kind == "timestamptz" else kind][1]
        packed[f"value{i}"] = values
    names = ", ".join(name for name, _, _ in columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.write(_HEADER)
        step = 200_000
        for begin in range(0, rows, step):
            cp.write(packed[begin : begin + step].tobytes())
        cp.write(b"\xff\xff")


def micros(moment: datetime) -> int:
    return int((moment - PG_EPOCH).total_seconds()) * 1_000_000


# --- reference data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    physical_stores: np.ndarray  # store ids
    store_weights: np.ndarray
    online_store: int
    prices: np.ndarray  # list price by product id (index 0 unused)
    top_first_product: np.ndarray  # first product id of each top category
    top_shares: np.ndarray
    tiers: dict[str, int]


def _reference_data(conn: psycopg.Connection, rng: np.random.Generator) -> _Catalog:
    at = START - timedelta(days=30)
    stores: list[tuple[str, str, str, str]] = []
    for prefix, city, count in CITIES:
        for n in range(1, count + 1):
            kind = "owned" if n <= (count + 1) // 2 else "franchise"
            stores.append((f"{prefix}{n:03d}", f"{city}{n}号店", kind, city))
    stores.append((ONLINE_STORE, "官方商城", "owned", "线上"))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO stores (code, name, type, city, address, phone, status, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, '', '', 'open', %s, %s)",
            [(code, name, kind, city, at, at) for code, name, kind, city in stores],
        )
        ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM stores").fetchall())
        prices = [0]
        first_product = []
        product_rows = []
        for code, name, _, children in CATEGORIES:
            top = cur.execute(
                "INSERT INTO categories (code, name, parent_id, created_at, updated_at) "
                "VALUES (%s, %s, NULL, %s, %s) RETURNING id",
                (code, name, at, at),
            ).fetchone()
            assert top is not None
            leaves = []
            for n, child in enumerate(children, 1):
                leaf = cur.execute(
                    "INSERT INTO categories (code, name, parent_id, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (f"{code}{n:02d}", child, top[0], at, at),
                ).fetchone()
                assert leaf is not None
                leaves.append((leaf[0], child))
            first_product.append(len(prices))
            for k in range(PRODUCTS_PER_TOP):
                leaf_id, leaf_name = leaves[k % len(leaves)]
                # list prices log-uniform ¥9.9 .. ¥399, ending in 90 fen
                price = int(np.exp(rng.uniform(np.log(990), np.log(39_900))) // 100 * 100 + 90)
                sku = f"{code[:3]}{k + 1:03d}"
                product_rows.append((sku, f"{leaf_name}{k + 1}号", leaf_id, price, at, at))
                prices.append(price)
        # ids follow insertion order on a fresh database: product n is prices[n]
        cur.executemany(
            "INSERT INTO products (sku, name, category_id, list_price, member_price, status, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, NULL, 'active', %s, %s)",
            product_rows,
        )
        tiers = {}
        for code, name, name_en, rank, entry, keep, discount, factor, _ in TIERS:
            row = cur.execute(
                "INSERT INTO tiers (code, name, name_en, rank, entry_threshold, "
                "retention_threshold, discount_percent, points_factor, upgrade_gift, "
                "birthday_gift, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '{}', '{}', %s, %s) RETURNING id",
                (code, name, name_en, rank, entry, keep, discount, factor, at, at),
            ).fetchone()
            assert row is not None
            tiers[code] = row[0]
        cur.executemany(
            "INSERT INTO tags (name, kind, description, rule, member_count, created_by, "
            "created_at, updated_at) VALUES (%s, %s, '', NULL, 0, 'bench', %s, %s)",
            [(name, "manual" if n % 2 else "imported", at, at) for n, (name, _) in enumerate(TAGS)],
        )
        cur.executemany(
            "INSERT INTO coupon_templates (name, description, type, status, threshold, amount, "
            "scope, issued_count, stacks_with_tier_discount, stacks_with_points, exclusive, "
            "transferable, return_on_refund, created_by, created_at, updated_at, valid_days) "
            "VALUES (%s, '', %s, 'active', %s, %s, '{}', 0, true, true, false, false, "
            "'full_refund', 'bench', %s, %s, 30)",
            [
                (name, kind, threshold, amount, at, at)
                for name, kind, threshold, amount, _ in COUPON_TEMPLATES
            ],
        )
        cur.execute(
            "INSERT INTO member_attribute_definitions (code, label, type, options, required, "
            "is_pii, is_active, created_at, updated_at) "
            "VALUES ('baby_birthday', '宝宝生日', 'date', '[]', false, false, true, %s, %s)",
            (at, at),
        )
    physical = np.array([ids[code] for code, *_ in stores if code != ONLINE_STORE], dtype=np.int32)
    weights = rng.gamma(2.0, 1.0, len(physical))
    weights[0] *= 3  # SH001, the flagship
    shares = np.array([share for _, _, share, _ in CATEGORIES])
    return _Catalog(
        physical_stores=physical,
        store_weights=weights / weights.sum(),
        online_store=ids[ONLINE_STORE],
        prices=np.array(prices, dtype=np.int64),
        top_first_product=np.array(first_product, dtype=np.int32),
        top_shares=shares / shares.sum(),
        tiers=tiers,
    )


# --- members and their purchase plan ------------------------------------------------------------


@dataclass
class _Plan:
    count: int
    registered: np.ndarray  # days after START (float)
    first: np.ndarray  # day of the first purchase after START (float), buyers only meaningful
    buyer: np.ndarray  # bool
    repeats: np.ndarray  # x: repeat purchases
    last: np.ndarray  # t_x: days from first to last purchase
    basket: np.ndarray  # gamma basket size
    top: np.ndarray  # preferred top category index
    hour: np.ndarray  # preferred local hour
    home: np.ndarray  # home store id
    channel: np.ndarray  # main order channel index
    buyers: int
    member_orders: int
    scale: float


def _plan_members(rng: np.random.Generator, members: int, orders: int, catalog: _Catalog) -> _Plan:
    # registrations grow over the three years (density rising linearly)
    registered = DAYS * np.sqrt(rng.random(members))
    first = registered + rng.exponential(20.0, members)
    buyer = (rng.random(members) >= NEVER_BUY) & (first < DAYS - 0.01)
    age = np.where(buyer, DAYS - first, 0.0)
    rate = rng.gamma(R, 1.0 / ALPHA, members)
    dropout = rng.beta(A, B, members)
    lifetime = rng.geometric(dropout) - 1  # repeat purchases before dropping out, unbounded time
    target = max(int(orders * (1 - ANONYMOUS_SHARE)) - int(buyer.sum()), 0)
    scale = 1.0
    for _ in range(8):
        would = rng.poisson(rate * scale * age)
        repeats = np.where(buyer, np.minimum(lifetime, would), 0)
        got = int(repeats.sum())
        if target == 0 or abs(got - target) <= target * 0.002:
            break
        scale *= (target / max(got, 1)) ** 1.3
    repeats = repeats.astype(np.int64)
    would = np.maximum(would, repeats)
    last = np.where(repeats > 0, age * rng.beta(np.maximum(repeats, 1), would - repeats + 1), 0.0)
    top = rng.choice(len(catalog.top_shares), members, p=catalog.top_shares)
    hour = rng.choice(np.array([11.0, 14.5, 19.0, 20.5]), members, p=[0.3, 0.2, 0.35, 0.15])
    home = rng.choice(catalog.physical_stores, members, p=catalog.store_weights)
    channel = rng.choice(4, members, p=[0.7, 0.1, 0.15, 0.05])
    return _Plan(
        count=members,
        registered=registered,
        first=first,
        buyer=buyer,
        repeats=repeats,
        last=last,
        basket=rng.gamma(4.0, 0.4, members),
        top=top,
        hour=hour,
        home=home,
        channel=channel,
        buyers=int(buyer.sum()),
        member_orders=int(buyer.sum() + repeats.sum()),
        scale=scale,
    )


def _at(day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Microseconds since 2000-01-01 of business day `day` (whole days after START), `hour`."""
    return micros(START) + (day * 86_400 + hour * 3_600).astype(np.int64) * 1_000_000


def _load_members(
    conn: psycopg.Connection, rng: np.random.Generator, plan: _Plan, catalog: _Catalog
) -> None:
    m = plan.count
    ids = np.arange(1, m + 1, dtype=np.int32)
    registered = _at(np.floor(plan.registered), rng.uniform(9, 21, m))
    first_order = _at(np.floor(plan.first), plan.hour)
    registered = np.where(plan.buyer, np.minimum(registered, first_order - 60_000_000), registered)
    month = rng.integers(1, 13, m)
    day = rng.integers(1, 29, m)
    birthday = np.where(rng.random(m) < 0.7, month * 100 + day, 0)
    # what decides the tier: roughly what the member spent (orders × basket)
    spend = np.where(plan.buyer, (1 + plan.repeats) * plan.basket, 0.0)
    cut = np.quantile(spend, np.cumsum([share for *_, share in TIERS])[:-1])
    tier_index = np.searchsorted(cut, spend, side="right")
    tier_ids = np.array([catalog.tiers[code] for code, *_ in TIERS], dtype=np.int32)
    conn.execute(
        "CREATE UNLOGGED TABLE stage_members (id integer, registered_at timestamptz, "
        "store_id integer, gender smallint, channel smallint, birthday smallint, "
        "tier_id integer, buyer smallint, top smallint)"
    )
    copy_columns(
        conn,
        "stage_members",
        [
            ("id", "int4", ids),
            ("registered_at", "timestamptz", registered),
            ("store_id", "int4", plan.home),
            ("gender", "int2", rng.choice(3, m, p=[0.3, 0.6, 0.1])),
            ("channel", "int2", rng.choice(4, m, p=[0.6, 0.15, 0.2, 0.05])),
            ("birthday", "int2", birthday),
            ("tier_id", "int4", tier_ids[tier_index]),
            ("buyer", "int2", plan.buyer.astype(np.int16)),
            ("top", "int2", plan.top),
        ],
    )
    conn.execute(
        "INSERT INTO members (id, status, gender, channel, registered_at, store_id, birthday_md, "
        "created_at, updated_at, is_staff) "
        f"SELECT id, 'active', ({_array(GENDERS)})[gender + 1], "
        f"({_array(MEMBER_CHANNELS)})[channel + 1], registered_at, store_id, "
        "CASE WHEN birthday > 0 THEN lpad((birthday / 100)::text, 2, '0') || '-' || "
        "lpad((birthday % 100)::text, 2, '0') END, registered_at, registered_at, false "
        "FROM stage_members"
    )


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# --- orders, lines, refunds ---------------------------------------------------------------------


def _order_times(
    rng: np.random.Generator, plan: _Plan, anonymous: int
) -> tuple[np.ndarray, np.ndarray]:
    """(member index or -1, time in µs) of every order, sorted by time."""
    counts = np.where(plan.buyer, 1 + plan.repeats, 0)
    member = np.repeat(np.arange(plan.count, dtype=np.int32), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(len(member), dtype=np.int64) - np.repeat(starts, counts)
    first = plan.first[member]
    last = plan.last[member]
    span = np.where(
        k == 0, 0.0, np.where(k == plan.repeats[member], last, rng.random(len(member)) * last)
    )
    day = np.minimum(np.floor(first + span), DAYS - 1)
    del first, last, span, k, starts
    hour = np.clip(rng.normal(plan.hour[member], 1.5), 8.0, 22.9)
    when = _at(day, hour)
    del day, hour
    anonymous_when = _at(
        np.floor(DAYS * np.sqrt(rng.random(anonymous))),
        np.clip(rng.normal(15, 3, anonymous), 8, 22.9),
    )
    member = np.concatenate([member, np.full(anonymous, -1, dtype=np.int32)])
    when = np.concatenate([when, anonymous_when])
    order = np.argsort(when, kind="stable")
    return member[order], when[order]


def _load_orders(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    plan: _Plan,
    catalog: _Catalog,
    orders: int,
    step: _Steps,
) -> tuple[int, int]:
    anonymous = max(orders - plan.member_orders, 0)
    member, when = _order_times(rng, plan, anonymous)
    total_orders = len(member)
    step.done(f"{total_orders:,} order times drawn and sorted ({anonymous:,} without a member)")
    conn.execute(
        "CREATE UNLOGGED TABLE stage_orders (id integer, member_id integer, store_id integer, "
        "channel smallint, occurred_at timestamptz, total integer, refunded integer, "
        "status smallint, refund_at timestamptz)"
    )
    conn.execute(
        "CREATE UNLOGGED TABLE stage_lines (id integer, order_id integer, line_no smallint, "
        "product_id integer, quantity integer, unit_price integer, discount integer, "
        "paid integer, refunded_quantity integer, refunded_amount integer)"
    )
    next_line = 1
    for begin in range(0, total_orders, CHUNK):
        end = min(begin + CHUNK, total_orders)
        next_line = _stage_chunk(
            conn, rng, plan, catalog, member[begin:end], when[begin:end], begin + 1, next_line
        )
    del member, when
    step.done(f"staged {total_orders:,} orders and {next_line - 1:,} lines (binary COPY)")
    conn.execute(
        "INSERT INTO orders (id, store_id, external_id, channel, member_id, occurred_at, total, "
        "refunded_amount, status, created_at, tier_id, tier_discount_amount) "
        "SELECT id, store_id, 'B' || lpad(id::text, 9, '0'), "
        f"({_array(ORDER_CHANNELS)})[channel + 1], NULLIF(member_id, 0), occurred_at, total, "
        f"refunded, ({_array(STATUSES)})[status + 1], occurred_at, NULL, 0 FROM stage_orders"
    )
    step.done("orders inserted")
    conn.execute(
        "INSERT INTO order_lines (id, order_id, line_no, product_id, sku, name, category_id, "
        "quantity, unit_price, discount, paid, refunded_quantity, refunded_amount, "
        "tier_discount, points, stored_value, member_id, occurred_at) "
        "SELECT s.id, s.order_id, s.line_no, s.product_id, p.sku, p.name, p.category_id, "
        "s.quantity, s.unit_price, s.discount, s.paid, s.refunded_quantity, s.refunded_amount, "
        "0, 0, 0, NULLIF(o.member_id, 0), o.occurred_at FROM stage_lines s "
        "JOIN products p ON p.id = s.product_id JOIN stage_orders o ON o.id = s.order_id"
    )
    step.done("order lines inserted")
    conn.execute(
        "INSERT INTO refunds (id, order_id, amount, reason, created_by, created_at) "
        "SELECT row_number() OVER (ORDER BY id), id, refunded, '退货', 'bench', refund_at "
        "FROM stage_orders WHERE refunded > 0"
    )
    conn.execute(
        "INSERT INTO refund_lines (refund_id, line_id, quantity, amount) "
        "SELECT r.id, l.id, l.refunded_quantity, l.refunded_amount "
        "FROM stage_lines l JOIN refunds r ON r.order_id = l.order_id "
        "WHERE l.refunded_quantity > 0"
    )
    conn.execute("DROP TABLE stage_orders")
    conn.execute("DROP TABLE stage_lines")
    return total_orders, next_line - 1


def _stage_chunk(
    conn: psycopg.Connection,
    rng: np.random.Generator,
    plan: _Plan,
    catalog: _Catalog,
    member: np.ndarray,
    when: np.ndarray,
    first_id: int,
    first_line: int,
) -> int:
    n = len(member)
    known = member >= 0
    mi = np.where(known, member, 0)
    # channel: the member's main one 4 times in 5; orders without a member at the till
    channel = np.where(
        rng.random(n) < 0.8, plan.channel[mi], rng.choice(4, n, p=[0.55, 0.15, 0.2, 0.1])
    )
    channel = np.where(known, channel, 0)
    online = (channel == 1) | (channel == 2)
    elsewhere = rng.choice(catalog.physical_stores, n, p=catalog.store_weights)
    store = np.where(known & (rng.random(n) < 0.85), plan.home[mi], elsewhere)
    store = np.where(online, catalog.online_store, store).astype(np.int32)
    # lines: 1 or 2 (1.5 on average), leaning to the member's preferred top category
    two = rng.random(n) < 0.5
    lines_per_order = 1 + two.astype(np.int64)
    line_order = np.repeat(np.arange(n), lines_per_order)
    lines = len(line_order)
    first_of = np.cumsum(lines_per_order) - lines_per_order  # index of each order's line 1
    line_no = np.arange(lines) - first_of[line_order] + 1
    products = len(catalog.prices) - 1
    preferred = known[line_order] & (rng.random(lines) < 0.6)
    top = plan.top[mi[line_order]]
    product = np.where(
        preferred,
        catalog.top_first_product[top] + rng.integers(0, PRODUCTS_PER_TOP, lines),
        rng.integers(1, products + 1, lines),
    )
    basket = np.where(known[line_order], plan.basket[mi[line_order]], 1.3)
    quantity = 1 + rng.poisson(np.maximum(basket - 1.0, 0.0))
    unit = catalog.prices[product]
    gross = unit * quantity
    discount = np.where(rng.random(lines) < 0.15, gross // 10, 0)
    paid = gross - discount
    total = np.bincount(line_order, weights=paid, minlength=n).astype(np.int64)
    # refunds: 3% of orders; 60% of them in full, else the first line (or one unit of it)
    refunded_order = rng.random(n) < REFUND_SHARE
    full = refunded_order & (rng.random(n) < 0.6)
    partial = refunded_order & ~full
    single_unit = ~two & (quantity[first_of] == 1)
    full = full | (partial & single_unit)
    partial = partial & ~single_unit
    refunded_quantity = np.zeros(lines, dtype=np.int64)
    refunded_amount = np.zeros(lines, dtype=np.int64)
    every = full[line_order]
    refunded_quantity[every] = quantity[every]
    refunded_amount[every] = paid[every]
    part_first = first_of[partial & two]
    refunded_quantity[part_first] = quantity[part_first]
    refunded_amount[part_first] = paid[part_first]
    part_unit = first_of[partial & ~two]
    refunded_quantity[part_unit] = 1
    refunded_amount[part_unit] = paid[part_unit] // quantity[part_unit]
    refunded = np.bincount(line_order, weights=refunded_amount, minlength=n).astype(np.int64)
    status = np.where(refunded == 0, 0, np.where(refunded >= total, 2, 1))
    cap = micros(NOW) - 1_000_000
    refund_at = np.minimum(when + (rng.exponential(3.0, n) * 86_400e6).astype(np.int64), cap)
    order_ids = np.arange(first_id, first_id + n, dtype=np.int32)
    copy_columns(
        conn,
        "stage_orders",
        [
            ("id", "int4", order_ids),
            ("member_id", "int4", np.where(known, member + 1, 0)),
            ("store_id", "int4", store),
            ("channel", "int2", channel),
            ("occurred_at", "timestamptz", when),
            ("total", "int4", total),
            ("refunded", "int4", refunded),
            ("status", "int2", status),
            ("refund_at", "timestamptz", refund_at),
        ],
    )
    copy_columns(
        conn,
        "stage_lines",
        [
            ("id", "int4", np.arange(first_line, first_line + lines, dtype=np.int32)),
            ("order_id", "int4", order_ids[line_order]),
            ("line_no", "int2", line_no),
            ("product_id", "int4", product),
            ("quantity", "int4", quantity),
            ("unit_price", "int4", unit),
            ("discount", "int4", discount),
            ("paid", "int4", paid),
            ("refunded_quantity", "int4", refunded_quantity),
            ("refunded_amount", "int4", refunded_amount),
        ],
    )
    return first_line + lines


# --- the rest of a member: tier, tags, coupons, balances, consents, an attribute ----------------


def _load_member_extras(conn: psycopg.Connection, catalog: _Catalog) -> None:
    conn.execute(
        "INSERT INTO member_tiers (member_id, tier_id, since, review_at, growth, updated_at) "
        "SELECT id, tier_id, registered_at, NULL, 0, registered_at FROM stage_members"
    )
    for name, share in TAGS:
        # 孕妈 (expecting mothers) mostly among members who prefer 母婴
        lean = "CASE WHEN s.top = 1 THEN 4 ELSE 0.5 END" if name == "孕妈" else "1"
        conn.execute(
            "INSERT INTO member_tags (member_id, tag_id, source, added_by, added_at) "
            "SELECT s.id, t.id, CASE t.kind WHEN 'manual' THEN 'manual' ELSE 'import' END, "
            "'bench', s.registered_at + interval '1 day' FROM stage_members s, tags t "
            f"WHERE t.name = %s AND random() < %s * {lean}",
            (name, share),
        )
    conn.execute(
        "UPDATE tags SET member_count = (SELECT count(*) FROM member_tags m WHERE m.tag_id = tags.id)"
    )
    now = NOW
    for name, _, _, _, share in COUPON_TEMPLATES:
        conn.execute(
            "INSERT INTO coupons (id, code, template_id, member_id, status, source, source_ref, "
            "store_id, issued_by, issued_at, issue_day, valid_from, valid_until, void_reason) "
            "SELECT n, 'BC' || lpad(n::text, 12, '0'), t, member_id, status, 'campaign', '', NULL, "
            "'bench', i, i::date, i, CASE status WHEN 'available' THEN %(now)s + interval "
            "'10 days' ELSE i + interval '30 days' END, '' FROM (SELECT "
            "(SELECT coalesce(max(id), 0) FROM coupons) + row_number() OVER () AS n, t.id AS t, "
            "s.id AS member_id, CASE WHEN r < 0.5 THEN 'available' WHEN r < 0.8 THEN 'redeemed' "
            "WHEN r < 0.97 THEN 'expired' ELSE 'void' END AS status, i "
            "FROM (SELECT id, random() AS r, %(now)s - (random() * 200) * interval '1 day' AS i "
            "FROM stage_members WHERE random() < %(share)s) s, coupon_templates t "
            "WHERE t.name = %(name)s) c",
            {"now": now, "share": share, "name": name},
        )
    conn.execute(
        "UPDATE coupon_templates SET issued_count = "
        "(SELECT count(*) FROM coupons c WHERE c.template_id = coupon_templates.id)"
    )
    conn.execute(
        "INSERT INTO points_accounts (member_id, available, pending, debt, updated_at) "
        "SELECT id, (random() * random() * 20000)::int, 0, 0, %s FROM stage_members WHERE buyer = 1",
        (now,),
    )
    conn.execute(
        "INSERT INTO stored_value_accounts (member_id, principal, bonus, failed_verifications, "
        "updated_at) SELECT id, (random() * 100000)::int, (random() * 10000)::int, 0, %s "
        "FROM stage_members WHERE random() < 0.05",
        (now,),
    )
    for channel, share in (("sms", 0.6), ("wechat", 0.4), ("email", 0.1)):
        conn.execute(
            "INSERT INTO member_consents (member_id, channel, granted, source, recorded_at) "
            "SELECT id, %s, random() < 0.9, 'registration', registered_at FROM stage_members "
            "WHERE random() < %s",
            (channel, share),
        )
    conn.execute(
        "INSERT INTO member_attribute_values (member_id, attribute_id, value, secret_value) "
        "SELECT s.id, d.id, to_char(%s - (random() * 1000) * interval '1 day', 'YYYY-MM-DD'), "
        "NULL FROM stage_members s, member_attribute_definitions d "
        "WHERE d.code = 'baby_birthday' AND random() < CASE WHEN s.top = 1 THEN 0.3 ELSE 0.01 END",
        (now,),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    ensure(args.members, args.orders, args.seed, args.fresh, args.database)


if __name__ == "__main__":
    main()

"""each member's spend and counted orders over all time and over a year, kept from `orders` by
triggers that append every change for the `orders.spend` fold (built by its first run); orders
by time, for the sums' corrections

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANGED = (
    "(o.member_id, o.occurred_at, o.total, o.refunded_amount, o.status) IS DISTINCT FROM "
    "(n.member_id, n.occurred_at, n.total, n.refunded_amount, n.status)"
)
# A member's row is made at their first order (or the first moved to them), so that a count
# reads one row per buyer; it waits only for a fold inserting the same new member's row.
NEW_MEMBERS = {
    "postgresql": """
        INSERT INTO member_spend (member_id, spent, orders, year_spent, year_orders)
        SELECT DISTINCT n.member_id, 0, 0, 0, 0 FROM new_orders AS n
        WHERE n.member_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM member_spend AS s WHERE s.member_id = n.member_id)
        ORDER BY n.member_id
        ON CONFLICT (member_id) DO NOTHING""",
    "sqlite": (
        "INSERT OR IGNORE INTO member_spend (member_id, spent, orders, year_spent, year_orders) "
        "SELECT NEW.member_id, 0, 0, 0, 0 WHERE NEW.member_id IS NOT NULL;"
    ),
}
# PostgreSQL: one INSERT of changes per statement on `orders`, from its transition tables.
POSTGRESQL = {
    "insert": f"""
        INSERT INTO member_spend_changes (member_id, occurred_at, spent, orders)
        SELECT n.member_id, n.occurred_at, n.total - n.refunded_amount,
               CASE WHEN n.status = 'refunded' THEN 0 ELSE 1 END
        FROM new_orders AS n WHERE n.member_id IS NOT NULL;
        {NEW_MEMBERS["postgresql"]}""",
    "update": f"""
        INSERT INTO member_spend_changes (member_id, occurred_at, spent, orders)
        SELECT o.member_id, o.occurred_at, -(o.total - o.refunded_amount),
               CASE WHEN o.status = 'refunded' THEN 0 ELSE -1 END
        FROM old_orders AS o JOIN new_orders AS n ON n.id = o.id
        WHERE o.member_id IS NOT NULL AND {CHANGED}
        UNION ALL
        SELECT n.member_id, n.occurred_at, n.total - n.refunded_amount,
               CASE WHEN n.status = 'refunded' THEN 0 ELSE 1 END
        FROM old_orders AS o JOIN new_orders AS n ON n.id = o.id
        WHERE n.member_id IS NOT NULL AND {CHANGED};
        {NEW_MEMBERS["postgresql"]}""",
    "delete": """
        INSERT INTO member_spend_changes (member_id, occurred_at, spent, orders)
        SELECT o.member_id, o.occurred_at, -(o.total - o.refunded_amount),
               CASE WHEN o.status = 'refunded' THEN 0 ELSE -1 END
        FROM old_orders AS o WHERE o.member_id IS NOT NULL""",
}
TRANSITION = {
    "insert": "NEW TABLE AS new_orders",
    "update": "OLD TABLE AS old_orders NEW TABLE AS new_orders",
    "delete": "OLD TABLE AS old_orders",
}
# SQLite: per row.
SQLITE_ROW = (
    "INSERT INTO member_spend_changes (member_id, occurred_at, spent, orders) "
    "SELECT {r}.member_id, {r}.occurred_at, {sign}({r}.total - {r}.refunded_amount), "
    "{sign}({r}.status <> 'refunded') WHERE {r}.member_id IS NOT NULL;"
)
SQLITE = {
    "insert": (
        "AFTER INSERT ON orders",
        SQLITE_ROW.format(r="NEW", sign="") + NEW_MEMBERS["sqlite"],
    ),
    "update": (
        "AFTER UPDATE OF member_id, occurred_at, total, refunded_amount, status ON orders WHEN "
        + " OR ".join(
            f"OLD.{c} IS NOT NEW.{c}"
            for c in ("member_id", "occurred_at", "total", "refunded_amount", "status")
        ),
        SQLITE_ROW.format(r="OLD", sign="-")
        + SQLITE_ROW.format(r="NEW", sign="")
        + NEW_MEMBERS["sqlite"],
    ),
    "delete": ("AFTER DELETE ON orders", SQLITE_ROW.format(r="OLD", sign="-")),
}


def upgrade() -> None:
    op.create_table(
        "member_spend",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("year_spent", sa.BigInteger(), nullable=False),
        sa.Column("year_orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_spend")),
    )
    op.create_table(
        "member_spend_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_spend_changes")),
    )
    op.create_table(
        "member_spend_year",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_spend_year")),
    )
    op.execute("INSERT INTO member_spend_year (id, until) VALUES (1, NULL)")
    op.create_index("ix_orders_occurred", "orders", ["occurred_at"])
    if op.get_bind().dialect.name == "postgresql":
        for event, body in POSTGRESQL.items():
            op.execute(
                f"CREATE FUNCTION member_spend_on_{event}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER member_spend_on_{event} AFTER {event.upper()} ON orders "
                f"REFERENCING {TRANSITION[event]} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION member_spend_on_{event}()"
            )
    else:
        for event, (when, body) in SQLITE.items():
            op.execute(f"CREATE TRIGGER member_spend_on_{event} {when} BEGIN {body} END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for event in POSTGRESQL:
        op.execute(f"DROP TRIGGER member_spend_on_{event}" + (" ON orders" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION member_spend_on_{event}()")
    op.drop_index("ix_orders_occurred", table_name="orders")
    op.drop_table("member_spend_year")
    op.drop_table("member_spend_changes")
    op.drop_table("member_spend")

"""member days, and member days at each store, linked to their neighbours; member facts by store

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKED = """
INSERT INTO {table} ({keys}, previous_day, next_day, first_in_month, last_in_month)
SELECT {keys}, previous_day, next_day,
       previous_day IS NULL OR {month_of_previous} < {month_of_day},
       next_day IS NULL OR {month_of_next} > {month_of_day}
FROM (
    SELECT {keys},
           lag(day) OVER (PARTITION BY {partition} ORDER BY day) AS previous_day,
           lead(day) OVER (PARTITION BY {partition} ORDER BY day) AS next_day
    FROM (SELECT DISTINCT {keys} FROM member_day_facts) AS days
) AS linked
"""
MONTH = {"postgresql": "date_trunc('month', {})", "sqlite": "strftime('%Y-%m', {})"}


def upgrade() -> None:
    op.create_table(
        "member_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("previous_day", sa.Date(), nullable=True),
        sa.Column("next_day", sa.Date(), nullable=True),
        sa.Column("first_in_month", sa.Boolean(), nullable=False),
        sa.Column("last_in_month", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", "member_id", name=op.f("pk_member_days")),
    )
    op.create_index("ix_member_days_member_day", "member_days", ["member_id", "day"])
    op.create_table(
        "member_store_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("previous_day", sa.Date(), nullable=True),
        sa.Column("next_day", sa.Date(), nullable=True),
        sa.Column("first_in_month", sa.Boolean(), nullable=False),
        sa.Column("last_in_month", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", "member_id", "store_id", name=op.f("pk_member_store_days")),
    )
    op.create_index("ix_member_store_days_store_day", "member_store_days", ["store_id", "day"])
    op.create_index("ix_member_store_days_member_day", "member_store_days", ["member_id", "day"])
    op.create_index(
        "ix_member_day_facts_store_day", "member_day_facts", ["store_id", "day", "member_id"]
    )
    month = MONTH[op.get_bind().dialect.name]
    for table, partition in (
        ("member_days", "member_id"),
        ("member_store_days", "member_id, store_id"),
    ):
        keys = f"day, {partition}"
        op.execute(
            LINKED.format(
                table=table,
                keys=keys,
                partition=partition,
                month_of_previous=month.format("previous_day"),
                month_of_day=month.format("day"),
                month_of_next=month.format("next_day"),
            )
        )


def downgrade() -> None:
    op.drop_index("ix_member_day_facts_store_day", table_name="member_day_facts")
    op.drop_index("ix_member_store_days_member_day", table_name="member_store_days")
    op.drop_index("ix_member_store_days_store_day", table_name="member_store_days")
    op.drop_table("member_store_days")
    op.drop_index("ix_member_days_member_day", table_name="member_days")
    op.drop_table("member_days")

"""Order lines carry their order's member and time, and an index by category and time
(PostgreSQL INCLUDE) that segment rules and the profiles refresh read without joining orders

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDED = ["member_id", "paid", "refunded_amount"]

BACKFILL = {
    "postgresql": (
        "UPDATE order_lines SET member_id = orders.member_id, occurred_at = orders.occurred_at"
        " FROM orders WHERE orders.id = order_lines.order_id"
    ),
    "sqlite": (
        "UPDATE order_lines SET"
        " member_id = (SELECT o.member_id FROM orders o WHERE o.id = order_lines.order_id),"
        " occurred_at = (SELECT o.occurred_at FROM orders o WHERE o.id = order_lines.order_id)"
    ),
}


def upgrade() -> None:
    # No foreign key on member_id: the order's covers it, and a key check per line would cost
    # the order path.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    # The new index's prefix (category_id) serves whatever used the index on category_id
    # alone (the foreign key's check when a category goes): one index write per line, as before.
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column(
            "occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_index(batch_op.f("ix_order_lines_category_id"))
        batch_op.create_index(
            "ix_order_lines_category_occurred",
            ["category_id", "occurred_at"],
            unique=False,
            postgresql_include=INCLUDED,
        )


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_category_occurred")
        batch_op.create_index(
            batch_op.f("ix_order_lines_category_id"), ["category_id"], unique=False
        )
        batch_op.drop_column("occurred_at")
        batch_op.drop_column("member_id")
